"""The agent search screen in a 480 px wide sidebar (the width of an agent-desktop side panel), in a real
Chromium: the answer comes before the results, "Copy answer" copies the customer wording only, the agent's
actions show as a numbered checklist, clearing the query clears the answer, and a 12,000-character
question gets one clear message."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import sign_in
from tests.browser.test_browser_flows import shot

pytestmark = pytest.mark.browser


@pytest.fixture()
def sidebar(browser, live_server):
    ctx = browser.new_context(base_url=live_server, viewport={"width": 480, "height": 900},
                              permissions=["clipboard-read", "clipboard-write"])
    page = ctx.new_page()
    page.set_default_timeout(60_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    sign_in(page, "agent")
    yield page
    assert not errors, errors
    ctx.close()


def test_answer_first_copy_customer_wording_clear_and_long_question(sidebar):
    page = sidebar
    page.goto("/")
    page.click("#q")
    page.keyboard.type("the customer forgot their password and the reset email never arrives", delay=10)
    page.wait_for_selector("#answer-say")
    page.wait_for_selector("#results .result")
    page.wait_for_function("() => document.querySelector('#answer').dataset.queryId !== ''")

    # the answer comes before the results, and nothing is wider than the sidebar
    panel = page.locator("#answer-panel").bounding_box()
    first = page.locator("#results .result").first.bounding_box()
    box = page.locator("#q").bounding_box()
    assert box["y"] < panel["y"] < first["y"], (box, panel, first)
    assert panel["width"] <= 480 and page.evaluate("document.documentElement.scrollWidth") <= 480
    assert re.search(r"Confidence \d+%", page.inner_text("#confidence-label"))
    shot(page, "agent-sidebar-480")

    # the checklist keeps the SOP's own step numbers; the wording to read out is apart from it
    values = page.eval_on_selector_all("#answer-checklist li.step", "els => els.map(e => e.value)")
    assert values and values == sorted(values)
    checklist = page.inner_text("#answer-checklist")
    assert "Say:" not in checklist
    say = page.inner_text("#answer-say").strip()
    assert say and say not in checklist

    # "Copy answer" copies the customer wording only
    page.click("#copy-answer")
    page.wait_for_selector("#copy-answer[data-copied='1']")
    copied = page.evaluate("navigator.clipboard.readText()")
    words = page.eval_on_selector_all("#answer-say p", "els => els.map(e => e.textContent)")
    assert copied == "\n\n".join(words) and copied.strip()
    assert not any(line.strip() and line.strip() in copied for line in checklist.split("\n") if len(line) > 20)

    # clearing the query clears the results and the answer
    page.click("#q")
    page.keyboard.press("Control+a")
    page.keyboard.press("Backspace")
    page.wait_for_function("() => !document.querySelector('#answer-say')")
    assert page.locator("#results .result").count() == 0
    assert page.locator("#answer .placeholder").count() == 1

    # a 12,000-character question: one message, in one place, and no request
    page.fill("#q", "my parcel never arrived " * 500)
    page.wait_for_function("() => /characters long/.test(document.querySelector('#status').textContent)")
    assert page.inner_text("body").count("characters long") == 1
    assert page.locator("#results .result").count() == 0 and page.locator("#answer .placeholder").count() == 1
