"""Each role's job, done in a real browser against the running server.

- an agent searches as they type, moves with the keyboard, opens a result at the matched passage,
  copies the suggested answer, and rates a result;
- live assist picks up turns pushed through the API by a speech-to-text system;
- a manager edits an SOP (with live preview) and the new text is found by search at once;
- a conflicting SOP edit is refused with both texts shown;
- an analyst imports transcripts, overrides a criterion, and the export shows both scores;
- a <script> in an SOP, a live-assist turn or a QA transcript never runs.

Screenshots for the README go to docs/img/ with DESKBOOK_SCREENSHOTS=docs/img.
"""

from __future__ import annotations

import csv
import io
import os
import re
import tempfile
from pathlib import Path

import pytest

from tests.conftest import CORPUS, ROOT

pytestmark = pytest.mark.browser
# Screenshots go to $DESKBOOK_SCREENSHOTS (docs/img refreshes the README's pictures), else to a
# temporary folder, so that a test run does not rewrite tracked files.
SHOTS = Path(os.environ.get("DESKBOOK_SCREENSHOTS") or Path(tempfile.gettempdir()) / "deskbook-screenshots")
if not SHOTS.is_absolute():
    SHOTS = ROOT / SHOTS


def shot(page, name: str) -> None:
    """A screenshot for the README and docs (NAME.png in SHOTS)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def _active_id(page) -> str:
    return page.evaluate("document.activeElement && document.activeElement.id")


def test_agent_searches_opens_a_result_and_copies_the_answer(new_page):
    page = new_page("agent")
    page.goto("/")
    assert _active_id(page) == "q"  # focus on load
    page.keyboard.type("the customer wants to cancel the order they placed", delay=15)
    page.wait_for_selector("#results .result mark")
    page.wait_for_selector("#answer-checklist")
    assert page.locator("#results .result").count() >= 3
    assert "Order cancellation" in page.inner_text("#answer-panel")
    assert re.search(r"Confidence \d+%", page.inner_text("#answer-panel"))
    page.wait_for_function("() => document.querySelector('#answer').dataset.queryId !== ''")
    shot(page, "agent-search")

    # copy the suggested answer: the customer wording only (tests/browser/test_agent_sidebar.py has more)
    if page.locator("#copy-answer").count():
        page.click("#copy-answer")
        page.wait_for_selector("#copy-answer[data-copied='1']")
        copied = page.evaluate("navigator.clipboard.readText()")
        words = page.eval_on_selector_all("#answer-say p", "els => els.map(e => e.textContent)")
        assert copied == "\n\n".join(words) != ""

    # rate the first result
    page.click("#results .result:first-child .fb[data-helpful='1']")
    page.wait_for_selector("#results .result:first-child .fb.chosen")

    # keyboard: / focuses, arrows move, Esc clears the selection, Enter opens
    page.click("h2")
    page.keyboard.press("/")
    assert _active_id(page) == "q"
    page.keyboard.press("ArrowDown")
    assert page.locator("#results .result").nth(1).get_attribute("class").endswith("selected")
    page.keyboard.press("ArrowUp")
    title = page.inner_text("#results .result.selected .result-title")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/doc/"))
    assert page.inner_text("h1") == title
    match = page.locator("#match")
    assert match.count() == 1 and "match" in match.get_attribute("class")
    page.wait_for_function("""() => { const r = document.getElementById('match').getBoundingClientRect();
                                       return r.top >= 0 && r.top < window.innerHeight; }""")
    assert page.errors == []


def test_escape_clears_and_filters_apply(new_page):
    page = new_page("agent")
    page.goto("/")
    page.keyboard.type("refund", delay=10)
    page.wait_for_selector("#results .result")
    page.check("input[name=type][value=ticket]")
    page.wait_for_function("""() => [...document.querySelectorAll('#results .result .badge')]
                                      .every(b => b.textContent === 'Ticket')""")
    page.keyboard.press("Escape")  # clears the selection
    assert page.locator("#results .result.selected").count() == 0
    page.focus("#q")
    page.keyboard.press("Escape")  # then the query
    assert page.input_value("#q") == ""


def test_an_answer_from_tickets_alone_in_the_panel(new_page):
    """A manager asks of the archived SOPs (there are none here): the JS panel answers from past tickets
    with the same SOP statuses as the results, and says so instead of offering words to read out."""
    page = new_page("manager")
    page.goto("/")
    page.select_option("#status-filter", "archived")
    page.fill("#q", "I was charged twice for my order")
    page.press("#q", "Enter")
    page.wait_for_selector("#answer-from-tickets, #answer .abstain")
    text = page.inner_text("#answer")
    assert "Closest procedures" not in text and "Say to the customer" not in text
    assert page.locator("#answer-from-tickets").count() or "Closest past tickets" in text
    assert page.locator("#copy-answer").count() == 0 and not page.errors


def test_live_assist_shows_turns_pushed_by_an_stt_system(new_page, live_app):
    page = new_page("agent")
    page.goto("/assist/stt-call-1")
    page.fill("#turn-text", "Hi, I ordered a sofa yesterday by mistake and want to cancel it")
    page.keyboard.press("Enter")
    page.wait_for_selector("#assist-sops a")
    assert "cancel" in page.inner_text("#assist-sops").lower()
    # the phone system pushes the next turns with its own token
    token, _ = live_app.extensions["deskbook"].accounts.create_token("agent", "stt")
    resp = page.request.post("/api/v1/assist/conversations/stt-call-1/turns",
                             headers={"Authorization": f"Bearer {token}"},
                             data={"turns": [{"speaker": "agent", "text": "Let me look at that for you."},
                                             {"speaker": "customer", "text": "Thanks. Oh and the password reset "
                                                                             "email for my account never arrives"}]})
    assert resp.status == 200
    page.wait_for_function("() => document.querySelectorAll('#turns .turn').length === 3", timeout=15_000)
    page.wait_for_function("() => document.querySelector('#assist-sops').innerText.toLowerCase().includes('password')",
                           timeout=15_000)
    shot(page, "live-assist")


def test_manager_edits_an_sop_and_search_finds_it_at_once(new_page):
    page = new_page("manager")
    page.goto("/manager/sops")
    assert page.locator("#sop-table tbody tr").count() >= 12
    page.click("text=Returns and exchanges")
    page.wait_for_selector("#body")
    body = page.input_value("#body")
    page.fill("#body", body + "\n## Ocelot returns\nReturns of an ocelot-marmalade hamper go to the Leeds depot.\n")
    page.wait_for_function("() => document.querySelector('#preview').innerText.includes('ocelot-marmalade')")
    page.fill("input[name=note]", "Hamper returns")
    page.locator("#body").evaluate("el => { el.scrollTop = el.scrollHeight; el.dispatchEvent(new Event('scroll')); }")
    page.evaluate("() => window.scrollTo(0, 0)")
    shot(page, "sop-editor")
    page.click("#save")
    page.wait_for_selector(".flash")
    assert "searchable now" in page.inner_text(".flash")
    page.goto("/")
    page.keyboard.type("ocelot-marmalade hamper", delay=10)
    page.wait_for_selector("#results .result")
    first = page.locator("#results .result").first
    assert first.get_attribute("data-id") == "sop-returns"
    assert "ocelot" in first.inner_text().lower()
    page.goto("/manager/sops/sop-returns/history")
    assert "Hamper returns" in page.inner_text("#versions")


def test_a_conflicting_sop_edit_is_refused(new_page):
    first, second = new_page("manager"), new_page("admin")
    for p in (first, second):
        p.goto("/manager/sops/sop-promo-codes/edit")
    first.fill("#body", first.input_value("#body") + "\nFirst editor's line about toucans.\n")
    first.click("#save")
    first.wait_for_selector(".flash")
    second.fill("#body", second.input_value("#body") + "\nSecond editor's line about meerkats.\n")
    second.click("#save")
    second.wait_for_selector("#conflict")
    assert "someone else changed this SOP" in second.inner_text("h1")
    assert "toucans" in second.input_value("#their-text")
    assert "meerkats" in second.input_value("#body")  # nothing lost
    assert "toucans" not in second.input_value("#body")
    shot(second, "sop-conflict")
    second.goto("/manager/sops/sop-promo-codes/edit")
    assert "meerkats" not in second.input_value("#body")  # the refused save wrote nothing


def test_analyst_overrides_a_criterion_and_the_export_shows_both(new_page):
    page = new_page("analyst")
    page.goto("/qa/import")
    page.set_input_files("input[name=files]", [str(CORPUS / "transcripts" / "dev" / n)
                                               for n in ("call-0002.json", "call-0011.txt")])
    page.select_option("select[name=rubric]", "phone-support")
    page.click("#import-form button[type=submit]")
    page.wait_for_selector("#jobs .job.highlight[data-status=done]", timeout=240_000)
    page.click("#jobs .job.highlight >> text=Open the review queue")
    page.wait_for_selector("#queue tbody tr a")
    page.locator("#queue tbody tr a").first.click()
    page.wait_for_selector("#criteria")
    crit = page.locator("#criteria .criterion").filter(has=page.locator(".evidence")).first
    crit_id = crit.get_attribute("id").removeprefix("crit-")
    crit.locator("strong").first.click()
    page.wait_for_selector("mark.ev.active")
    auto = crit.locator(".auto-result").inner_text()
    shot(page, "qa-review")
    override = "fail" if auto == "pass" else "pass"
    crit.locator("input[name=comment]").fill("Heard the greeting differently")
    crit.locator("select[name=result]").select_option(override)
    crit.locator("button.override").click()
    page.wait_for_selector(f"#crit-{crit_id} .human-result")
    assert page.inner_text(f"#crit-{crit_id} .human-result") == override
    assert page.inner_text(f"#crit-{crit_id} .auto-result") == auto
    sid = re.search(r"/qa/reviews/(\d+)", page.url).group(1)
    csv_text = page.request.get("/qa/export.csv").text()
    rows = [r for r in csv.DictReader(io.StringIO(csv_text)) if r["scorecard_id"] == sid and r["criterion_id"] == crit_id]
    assert rows and rows[0]["auto_result"] == auto and rows[0]["human_result"] == override
    assert page.errors == []


def test_scripts_in_content_never_run(new_page, live_app):
    from webapp.qa import start_scoring_json
    from webapp.sops import SopForm, create_sop

    svc = live_app.extensions["deskbook"]
    evil = "<script>window.__pwned = (window.__pwned || 0) + 1</script>"
    create_sop(svc, "sop-xss", SopForm(title="XSS test " + evil, body=f"# XSS\n\n{evil}\n\n<img src=x onerror=\""
                                       "window.__pwned=9\">\n\n## Procedure\n1. Say hello to the axolotl.\n"),
               by="tests")
    job = start_scoring_json(svc, [{"id": "xss-call", "agent": "Test", "turns": [
        {"speaker": "agent", "text": f"Thanks for calling Brightcart, my name is Sam. {evil}"},
        {"speaker": "customer", "text": "my parcel is late"}]}], "phone-support", by="analyst")
    page = new_page("admin")

    def clean():
        assert page.evaluate("window.__pwned") is None, page.url

    page.goto("/doc/sop-xss")
    assert "<script>" in page.inner_text("#doc-body") and "<script>" in page.inner_text("h1")
    clean()
    page.goto("/?q=axolotl")
    page.wait_for_selector("#results .result")
    clean()
    page.goto("/assist/xss-conv")
    page.fill("#turn-text", f"{evil} my refund is late")
    page.keyboard.press("Enter")
    page.wait_for_selector("#turns .turn")
    assert "<script>" in page.inner_text("#turns")
    clean()
    page.goto("/manager/sops/sop-xss/edit")
    page.fill("#body", page.input_value("#body") + f"\n{evil}\n")
    page.wait_for_function("() => document.querySelector('#preview').innerText.split('<script>').length > 2")
    clean()
    done = svc.jobs.wait(job.id, timeout=240)  # a snapshot from the database's job queue
    assert done.status == "done"
    page.goto(f"/qa/reviews/{done.result['scorecard_ids'][0]}")
    assert "<script>" in page.inner_text("#transcript")
    clean()
    assert page.errors == []


def test_an_admin_confirms_an_erasure_request_in_the_browser(new_page, live_app):
    """The remove button asks once more (a script, not an inline handler: the CSP forbids those)."""
    from webapp.qa import start_scoring_json

    svc = live_app.extensions["deskbook"]
    job = start_scoring_json(svc, [{"id": "erase-me-browser", "agent": "Test", "turns": [
        {"speaker": "agent", "text": "Thanks for calling Brightcart, my name is Sam."},
        {"speaker": "customer", "text": "my parcel is late"}]}], "phone-support", by="analyst")
    done = svc.jobs.wait(job.id, timeout=240)
    assert done.status == "done"
    page = new_page("admin")
    page.goto(f"/qa/reviews/{done.result['scorecard_ids'][0]}")
    asked = []
    page.once("dialog", lambda d: (asked.append(d.message), d.dismiss()))
    page.click("#erase-transcript")
    assert asked and "cannot be undone" in asked[0]
    assert "/qa/reviews/" in page.url  # dismissed: nothing sent
    page.once("dialog", lambda d: d.accept())
    page.click("#erase-transcript")
    page.wait_for_url("**/qa/")
    assert "Removed transcript erase-me-browser" in page.inner_text("body")
    assert svc.store.list_scorecards(transcript="erase-me-browser") == []
    assert page.errors == []
