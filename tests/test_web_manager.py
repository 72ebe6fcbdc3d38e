"""Manager pages and API: SOP list, create/edit with versions, history, diff, restore, review dates,
conflicts on concurrent edits, live preview, and uploads indexed in the background."""

from __future__ import annotations

import io
import re
from datetime import date

from tests.web_fixtures import *  # noqa: F403
from tests.web_fixtures import Signed

BODY = "# A procedure\n\n## Procedure\n1. Check the order.\n2. Add a note to the order.\n"
GIFT = "# Gift wrapping\n\n## Procedure\n1. Check the order has the gift wrap line.\n2. Add a note: quokka-tangerine.\n"


def _form(doc, **changes):
    f = {"title": doc["title"], "body": doc["body"], "owner": doc["owner"], "tags": ", ".join(doc["tags"]),
         "status": doc["status"] or "published", "review_by": doc["review_by"], "note": "",
         "base_version": doc["version"]}
    f.update(changes)
    return f


def _doc(client, doc_id):
    return client.get(f"/api/v1/documents/{doc_id}").get_json()


def _top(client, q, mode="hybrid"):
    res = client.get(f"/api/v1/search?q={q}&mode={mode}&log=false").get_json()["results"]
    return res[0]["id"] if res else None


def test_sop_list_shows_fields_and_marks_overdue(clients):
    m = clients["manager"]
    m.api("POST", "/api/v1/sops", json={"id": "sop-old-one", "title": "An old procedure", "body": BODY,
                                        "owner": "Ops", "tags": ["legacy"], "review_by": "2020-01-31"})
    html = m.get("/manager/sops").get_data(as_text=True)
    row = re.search(r'<tr class="row-overdue">.*?</tr>', html, re.S).group(0)
    assert "An old procedure" in row and "2020-01-31" in row and "overdue" in row and "Ops" in row
    assert "Refund processing" in html and "Payments Operations" in html
    only = m.get("/manager/sops?overdue=1").get_data(as_text=True)
    assert "An old procedure" in only and "Refund processing" not in only
    overdue = m.api("GET", "/api/v1/documents?overdue=true").get_json()
    assert "sop-old-one" in [d["id"] for d in overdue] and all(d["overdue"] for d in overdue)


def test_create_edit_and_find_at_once(clients):
    m, agent = clients["manager"], clients["agent"]
    r = m.post("/manager/sops/new", data={"id": "sop-gift-wrap", "title": "Gift wrapping", "body": GIFT,
                                          "owner": "Orders", "tags": "gifts, orders", "status": "published",
                                          "review_by": "2030-01-01", "note": "first draft"})
    assert r.status_code == 302
    # a new SOP is a draft (whatever the form says): managers find it, agents do not until it is published
    assert _doc(m, "sop-gift-wrap")["status"] == "draft"
    assert _top(agent, "quokka-tangerine", "lexical") is None
    assert _top(m, "quokka-tangerine&status=all", "lexical") == "sop-gift-wrap"
    listing = m.get("/manager/sops").get_data(as_text=True)
    row = listing[listing.index("/manager/sops/sop-gift-wrap/edit"):][:2500]
    assert "status-draft" in row and "/manager/sops/sop-gift-wrap/publish" in row
    r = m.post("/manager/sops/sop-gift-wrap/publish", data={"back": "list"})
    assert r.status_code == 302
    assert _top(agent, "quokka-tangerine", "lexical") == "sop-gift-wrap"
    doc = _doc(m, "sop-gift-wrap")
    assert doc["status"] == "published"
    assert m.api("POST", "/api/v1/sops/sop-gift-wrap/publish").status_code == 409  # published already
    new_body = GIFT.replace("quokka-tangerine", "wombat-clementine") + "3. Offer a gift receipt.\n"
    r = m.post("/manager/sops/sop-gift-wrap/edit", data=_form(doc, body=new_body, note="new code word"))
    assert r.status_code == 302
    after = _doc(m, "sop-gift-wrap")
    assert after["version"] == doc["version"] + 1 and after["updated_by"] == "manager"
    # searchable at once, in every mode, and the old text is gone
    for mode in ("lexical", "hybrid", "dense"):
        assert _top(agent, "wombat-clementine+gift+receipt", mode) == "sop-gift-wrap", mode
    assert _top(agent, "quokka-tangerine", "lexical") is None


def test_history_diff_and_restore(clients):
    m = clients["manager"]
    m.api("POST", "/api/v1/sops", json={"id": "sop-history", "title": "History test", "body": BODY})
    v1 = _doc(m, "sop-history")
    m.post("/manager/sops/sop-history/edit", data=_form(v1, body=BODY + "3. A third step about narwhals.\n",
                                                         note="added step three"))
    hist = m.get("/manager/sops/sop-history/history").get_data(as_text=True)
    assert "added step three" in hist and "manager" in hist and f"v{v1['version'] + 1}" in hist
    diff = m.get(f"/manager/sops/sop-history/diff?a={v1['version']}&b={v1['version'] + 1}").get_data(as_text=True)
    assert re.search(r'<tr class="d-insert">.*narwhals', diff, re.S)
    api_diff = m.get(f"/api/v1/sops/sop-history/diff?a={v1['version']}&b={v1['version'] + 1}").get_json()
    assert api_diff["added"] == 1 and api_diff["removed"] == 0 and "+3. A third step" in api_diff["unified"]
    cur = _doc(m, "sop-history")
    r = m.post("/manager/sops/sop-history/restore", data={"version": v1["version"], "base_version": cur["version"]})
    assert r.status_code == 302
    restored = _doc(m, "sop-history")
    assert restored["version"] == cur["version"] + 1 and restored["body"] == v1["body"]
    versions = m.get("/api/v1/sops/sop-history/versions").get_json()
    assert versions[0]["note"] == f"restored version {v1['version']}" and len(versions) == 3
    assert _top(clients["agent"], "narwhals", "lexical") is None
    old = m.get(f"/manager/sops/sop-history/versions/{v1['version'] + 1}").get_data(as_text=True)
    assert "narwhals" in old


def test_mark_reviewed_sets_a_new_review_date(clients, app):
    from webapp.sops import add_months

    m = clients["manager"]
    m.api("POST", "/api/v1/sops", json={"id": "sop-review", "title": "Review test", "body": BODY,
                                        "review_by": "2021-06-30"})
    m.post("/manager/sops/sop-review/review", data={})
    months = app.extensions["deskbook"].config.review_months
    assert _doc(m, "sop-review")["review_by"] == add_months(date.today(), months).isoformat()
    m.post("/manager/sops/sop-review/review", data={"review_by": "2031-02-28"})
    doc = _doc(m, "sop-review")
    assert doc["review_by"] == "2031-02-28" and not doc["overdue"]
    r = m.api("POST", "/api/v1/sops/sop-review/review", json={"review_by": "2001-01-01"})
    assert r.status_code == 400 and r.get_json()["error"]["field"] == "review_by"
    assert "reviewed; next review by 2031-02-28" in m.get("/manager/sops/sop-review/history").get_data(as_text=True)


def test_conflicting_edit_is_refused_and_nothing_is_lost(app, clients):
    first, second = clients["manager"], Signed(app, "admin")
    first.api("POST", "/api/v1/sops", json={"id": "sop-conflict", "title": "Conflict test", "body": BODY})
    base = _doc(first, "sop-conflict")
    theirs = BODY + "3. Their step about pelicans.\n"
    mine = BODY + "3. My step about flamingos.\n"
    assert first.post("/manager/sops/sop-conflict/edit", data=_form(base, body=theirs)).status_code == 302
    r = second.post("/manager/sops/sop-conflict/edit", data=_form(base, body=mine, note="my note"))
    assert r.status_code == 409
    html = r.get_data(as_text=True)
    assert "someone else changed this SOP" in html
    assert "pelicans" in html and "flamingos" in html  # both texts
    form_body = re.search(r'<textarea name="body" id="body"[^>]*>(.*?)</textarea>', html, re.S).group(1)
    assert "flamingos" in form_body  # the user's text stays in the form
    current = _doc(first, "sop-conflict")
    assert f'name="base_version" value="{current["version"]}"' in html
    assert "flamingos" not in current["body"]  # nothing was overwritten
    # saving again on top of the current version works
    assert second.post("/manager/sops/sop-conflict/edit",
                       data=_form(current, body=mine, note="merged")).status_code == 302
    assert "flamingos" in _doc(first, "sop-conflict")["body"]


def test_conflict_through_the_api_is_409(clients):
    m = clients["manager"]
    m.api("POST", "/api/v1/sops", json={"id": "sop-conflict-api", "title": "Conflict API", "body": BODY})
    doc = _doc(m, "sop-conflict-api")
    ok = m.api("PUT", "/api/v1/sops/sop-conflict-api", json={"title": "Conflict API", "body": BODY + "more\n",
                                                              "base_version": doc["version"]})
    assert ok.status_code == 200 and ok.get_json()["version"] == doc["version"] + 1
    stale = m.api("PUT", "/api/v1/sops/sop-conflict-api", json={"title": "Conflict API", "body": "x\n",
                                                                 "base_version": doc["version"]})
    assert stale.status_code == 409
    assert stale.get_json()["error"]["code"] == "conflict"
    missing = m.api("PUT", "/api/v1/sops/sop-conflict-api", json={"title": "t", "body": "b"})
    assert missing.status_code == 400 and missing.get_json()["error"]["field"] == "base_version"


def test_new_sop_validation_keeps_the_form(clients):
    m = clients["manager"]
    r = m.post("/manager/sops/new", data={"id": "sop-refunds", "title": "Dup", "body": "text about yaks"})
    assert r.status_code == 400 and "exists already" in r.get_data(as_text=True)
    assert "text about yaks" in r.get_data(as_text=True)
    r = m.post("/manager/sops/new", data={"id": "bad id!", "title": "x", "body": "y"})
    assert r.status_code == 400 and "Invalid SOP id" in r.get_data(as_text=True)
    r = m.post("/manager/sops/new", data={"id": "sop-empty", "title": "", "body": "y"})
    assert r.status_code == 400 and "title is empty" in r.get_data(as_text=True)


def test_editor_has_live_preview(clients):
    html = clients["manager"].get("/manager/sops/sop-refunds/edit").get_data(as_text=True)
    assert 'id="preview"' in html and "editor.js" in html and 'data-preview-url="/api/v1/preview"' in html
    out = clients["manager"].api("POST", "/api/v1/preview", json={"body": "## Steps\n1. **One**\n2. Two\n"}).get_json()
    assert "<ol>" in out["html"] and "<strong>One</strong>" in out["html"]


def test_tickets_are_not_edited_here(clients):
    tid = clients["agent"].get("/api/v1/search?q=refund&type=ticket").get_json()["results"][0]["id"]
    assert clients["manager"].get(f"/manager/sops/{tid}/edit").status_code == 404


def test_uploads_are_indexed_in_the_background(app, clients):
    m = clients["manager"]
    sop = b"---\nid: sop-uploaded\ntitle: Uploaded SOP\nstatus: published\n---\n# Uploaded\n\n## Procedure\n1. Feed the capybara.\n"
    tickets = b'{"id": "UP-1", "subject": "Capybara question", "question": "Where is my capybara?", "answer": "Sent it."}\n'
    r = m.post("/manager/uploads", data={"files": [(io.BytesIO(sop), "capy.md"), (io.BytesIO(tickets), "t.jsonl")]},
               content_type="multipart/form-data")
    assert r.status_code == 302
    job_id = r.headers["Location"].split("job=")[1]
    job = app.extensions["deskbook"].jobs.wait(job_id, timeout=120)
    assert job.status == "done", job.to_dict()
    status = m.get(f"/api/v1/jobs/{job_id}").get_json()
    assert status["percent"] == 100 and status["result"]["added"] == 2
    assert _top(clients["agent"], "capybara", "lexical") in ("sop-uploaded", "UP-1")
    page = m.get(f"/manager/uploads?job={job_id}").get_data(as_text=True)
    assert "capy.md" in page and "done" in page
    # another manager cannot see this job
    other = Signed(app, "admin")
    assert other.get(f"/api/v1/jobs/{job_id}").status_code == 200  # admin can
    app.extensions["deskbook"].accounts.add_user("manager2", "manager", "manager2-pass")
    assert Signed(app, "manager2", "manager2-pass").get(f"/api/v1/jobs/{job_id}").status_code == 404


def test_upload_of_a_wrong_file_type_is_refused(clients):
    r = clients["manager"].post("/manager/uploads", data={"files": [(io.BytesIO(b"x"), "evil.exe")]},
                                content_type="multipart/form-data")
    assert r.status_code == 400 and "not an SOP or ticket file" in r.get_data(as_text=True)
    r = clients["manager"].api("POST", "/api/v1/uploads", data={"files": [(io.BytesIO(b"x"), "evil.exe")]},
                               content_type="multipart/form-data")
    assert r.status_code == 400 and r.get_json()["error"]["field"] == "files"


def test_reindexing_the_unchanged_file_keeps_the_web_edit(app, clients, web_source, embedder):
    from indexer.pipeline import index_paths

    m = clients["manager"]
    doc = _doc(m, "sop-address-change")
    body = doc["body"] + "\n## Web-only note\nEdited in the browser: heron-pistachio.\n"
    assert m.post("/manager/sops/sop-address-change/edit", data=_form(doc, body=body)).status_code == 302
    svc = app.extensions["deskbook"]
    index_paths(svc.store, embedder, svc.config, [web_source / "sops"], progress=False)
    assert "heron-pistachio" in _doc(m, "sop-address-change")["body"]
