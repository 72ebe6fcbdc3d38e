"""Analyst pages and API: import + prescore in the background, the review queue, the review screen with
evidence in place, confirm/override stored beside the auto result, and the CSV export."""

from __future__ import annotations

import csv
import io
import re

import pytest

from tests.conftest import CORPUS
from tests.web_fixtures import *  # noqa: F403

DEV = CORPUS / "transcripts" / "dev"


@pytest.fixture(scope="module")
def scored(app, clients):
    """Three phone transcripts imported through the page and prescored with phone-support."""
    a = clients["analyst"]
    files = [(io.BytesIO((DEV / n).read_bytes()), n) for n in ("call-0001.json", "call-0003.json", "call-0010.txt")]
    r = a.post("/qa/import", data={"files": files, "rubric": "phone-support"}, content_type="multipart/form-data")
    assert r.status_code == 302, r.get_data(as_text=True)[:500]
    job_id = r.headers["Location"].split("job=")[1]
    job = app.extensions["deskbook"].jobs.wait(job_id, timeout=300)
    assert job.status == "done", job.to_dict()
    return job


def test_import_page_lists_rubrics(clients):
    html = clients["analyst"].get("/qa/import").get_data(as_text=True)
    assert "phone-support" in html and "chat-support" in html and 'type="file"' in html


def test_prescoring_job_reports_progress(scored, clients):
    status = clients["analyst"].get(f"/api/v1/jobs/{scored.id}").get_json()
    assert status["status"] == "done" and status["percent"] == 100 and status["total"] == 3
    assert len(status["result"]["scorecard_ids"]) == 3


def test_queue_lowest_scores_first_and_filters(scored, clients):
    a = clients["analyst"]
    rows = a.get("/api/v1/qa/scorecards").get_json()
    scores = [r["score"] for r in rows if r["score"] is not None]
    assert len(rows) == 3 and scores == sorted(scores)
    html = a.get("/qa/").get_data(as_text=True)
    ids = re.findall(r'<a href="/qa/reviews/\d+">([^<]+)</a>', html)
    assert ids == [r["transcript_id"] for r in rows]
    agent = rows[0]["agent"]
    only = a.get(f"/api/v1/qa/scorecards?agent={agent}").get_json()
    assert only and all(r["agent"] == agent for r in only)
    fails = a.get("/qa/?verdict=fail").get_data(as_text=True)
    assert all(v == "fail" for v in re.findall(r'<span class="status status-(\w+)">', fails))
    assert a.get("/api/v1/qa/scorecards?verdict=maybe").status_code == 400


def test_review_screen_highlights_evidence_in_place(scored, clients):
    a = clients["analyst"]
    sid = scored.result["scorecard_ids"][0]
    card = a.get(f"/api/v1/qa/scorecards/{sid}").get_json()
    html = a.get(f"/qa/reviews/{sid}").get_data(as_text=True)
    with_ev = [(i, c) for i, c in enumerate(card["criteria"]) if c["evidence"]]
    assert with_ev
    i, crit = with_ev[0]
    ev = crit["evidence"][0]
    turn_text = card["turns"][ev["turn"]]["text"]
    span = turn_text[ev["start"]:ev["end"]]
    assert span == ev["text"]  # offsets point at the evidence
    m = re.search(rf'<mark class="ev c-{i} [^"]*">([^<]*)</mark>', html)
    assert m and m.group(1) in span.replace("&", "&amp;").replace("'", "&#39;").replace('"', "&#34;")
    assert f'id="crit-{crit["id"]}"' in html and "Confirm" in html and "Override" in html


def test_override_is_stored_beside_the_auto_result_and_exported(scored, clients, app):
    a = clients["analyst"]
    sid = scored.result["scorecard_ids"][0]
    before = a.get(f"/api/v1/qa/scorecards/{sid}").get_json()
    crit = before["criteria"][0]
    auto = crit["result"]
    other = "fail" if auto == "pass" else "pass"
    r = a.post(f"/qa/reviews/{sid}/criteria/{crit['id']}", data={"action": "override", "result": other,
                                                                 "comment": "=HYPERLINK(\"x\") heard it differently"})
    assert r.status_code == 302 and r.headers["Location"].endswith(f"#crit-{crit['id']}")
    second = before["criteria"][1]
    a.post(f"/qa/reviews/{sid}/criteria/{second['id']}", data={"action": "confirm", "result": "na"})
    after = a.get(f"/api/v1/qa/scorecards/{sid}").get_json()
    c0 = after["criteria"][0]
    assert c0["result"] == auto and c0["human_result"] == other  # the auto result is untouched
    assert c0["reviews"][-1]["reviewer"] == "analyst"
    assert after["criteria"][1]["human_result"] == second["result"]  # confirm = the auto result
    assert after["score"] == before["score"] and after["reviewed_score"] is not None
    text = a.get("/qa/export.csv").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(text)))
    row = next(x for x in rows if x["scorecard_id"] == str(sid) and x["criterion_id"] == crit["id"])
    assert row["auto_result"] == auto and row["human_result"] == other and row["final_result"] == other
    assert row["review_comment"].startswith("'=HYPERLINK")  # no formula injection
    api_rows = list(csv.DictReader(io.StringIO(a.get("/api/v1/qa/export.csv").get_data(as_text=True))))
    assert len(api_rows) == len(rows)
    page = a.get(f"/qa/reviews/{sid}").get_data(as_text=True)
    assert "heard it differently" in page and 'id="reviewed-score"' in page


def test_review_api_and_validation(scored, clients):
    a = clients["analyst"]
    sid = scored.result["scorecard_ids"][1]
    crit = a.get(f"/api/v1/qa/scorecards/{sid}").get_json()["criteria"][2]["id"]
    r = a.api("POST", f"/api/v1/qa/scorecards/{sid}/reviews", json={"criterion_id": crit, "result": "na",
                                                                     "comment": "not applicable here"})
    assert r.status_code == 201 and r.get_json()["reviewer"] == "analyst"
    bad = a.api("POST", f"/api/v1/qa/scorecards/{sid}/reviews", json={"criterion_id": crit, "result": "maybe"})
    assert bad.status_code == 400 and bad.get_json()["error"]["field"] == "result"
    missing = a.api("POST", f"/api/v1/qa/scorecards/{sid}/reviews", json={"criterion_id": "nope", "result": "na"})
    assert missing.status_code == 404


def test_json_scoring_api_and_transcript_text_is_escaped(app, clients):
    a = clients["analyst"]
    t = {"id": "api-evil", "agent": "Test Agent", "channel": "phone", "turns": [
        {"speaker": "agent", "text": "Thank you for calling Brightcart, my name is Sam. <script>window.__pwned=1</script>"},
        {"speaker": "customer", "text": "Hi, my parcel never arrived."},
        {"speaker": "agent", "text": "I'm sorry about that, let me check the tracking for you."}]}
    r = a.api("POST", "/api/v1/qa/score", json={"rubric": "phone-support", "transcripts": [t]})
    assert r.status_code == 202
    job = app.extensions["deskbook"].jobs.wait(r.get_json()["id"], timeout=300)
    assert job.status == "done", job.to_dict()
    sid = job.result["scorecard_ids"][0]
    html = a.get(f"/qa/reviews/{sid}").get_data(as_text=True)
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html and "<script>window" not in html
    bad = a.api("POST", "/api/v1/qa/score", json={"rubric": "no-such-rubric", "transcripts": [t]})
    assert bad.status_code == 404 and bad.get_json()["error"]["field"] == "rubric"


def test_import_refuses_other_file_types(clients):
    r = clients["analyst"].post("/qa/import", data={"files": [(io.BytesIO(b"x"), "a.exe")], "rubric": "phone-support"},
                                content_type="multipart/form-data")
    assert r.status_code == 400 and "not a transcript file" in r.get_data(as_text=True)


def test_an_admin_removes_a_transcript_on_an_erasure_request(app, clients):
    """The review screen offers admins (only) to remove the transcript with everything scored on it."""
    a, admin = clients["analyst"], clients["admin"]
    t = {"id": "erase-web", "agent": "Test Agent", "channel": "phone", "turns": [
        {"speaker": "agent", "text": "Thank you for calling Brightcart, my name is Sam."},
        {"speaker": "customer", "text": "My parcel never arrived."}]}
    r = a.api("POST", "/api/v1/qa/score", json={"rubric": "phone-support", "transcripts": [t]})
    job = app.extensions["deskbook"].jobs.wait(r.get_json()["id"], timeout=300)
    sid = job.result["scorecard_ids"][0]
    assert "erase-transcript" not in a.get(f"/qa/reviews/{sid}").get_data(as_text=True)
    assert 'id="erase-transcript"' in admin.get(f"/qa/reviews/{sid}").get_data(as_text=True)
    assert a.post("/qa/transcripts/erase-web/delete").status_code == 403
    r = admin.post("/qa/transcripts/erase-web/delete")
    assert r.status_code == 302 and r.headers["Location"].endswith("/qa/")
    assert "Removed transcript erase-web with 1 scorecard(s)" in admin.get("/qa/").get_data(as_text=True)
    assert admin.get(f"/qa/reviews/{sid}").status_code == 404
    assert admin.post("/qa/transcripts/erase-web/delete").status_code == 404  # nothing left: a clear 404
    [rec] = app.extensions["deskbook"].store.erasures(subject="erase-web")
    assert (rec["kind"], rec["actor"], rec["counts"]["scorecards"]) == ("transcript", "admin", 1)


def test_the_api_takes_an_erasure_request_from_admins_only(app, clients):
    a, admin = clients["analyst"], clients["admin"]
    t = {"id": "erase-api", "agent": "Test Agent", "turns": [{"speaker": "agent", "text": "Hello, Sam speaking."},
                                                             {"speaker": "customer", "text": "Hi."}]}
    job = app.extensions["deskbook"].jobs.wait(
        a.api("POST", "/api/v1/qa/score", json={"rubric": "phone-support", "transcripts": [t]}).get_json()["id"],
        timeout=300)
    assert job.status == "done"
    r = a.api("DELETE", "/api/v1/qa/transcripts/erase-api")
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "forbidden"
    r = admin.api("DELETE", "/api/v1/qa/transcripts/erase-api")
    assert r.status_code == 200 and r.get_json() == {"transcripts": 1, "scorecards": 1, "reviews": 0}
    assert [e["actor"] for e in app.extensions["deskbook"].store.erasures(subject="erase-api")] == ["admin"]
    r = admin.api("DELETE", "/api/v1/qa/transcripts/erase-api")
    assert r.status_code == 404 and r.get_json()["error"]["field"] == "transcript_id"
