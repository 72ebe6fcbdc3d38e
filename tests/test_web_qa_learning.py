"""QA in the web app, issue 9: imports that know their agent, files without a transcript refused on the
page, needs-review verdicts first in the queue, retraining from reviews (candidate, cross-validated
before/after, adopt or discard, old scorecards keep their version), kappa only with enough reviews."""

from __future__ import annotations

import io
import json
import re

import pytest

from qa_rubrics.learning import ADOPT_MARGIN
from tests.conftest import CORPUS
from tests.web_fixtures import *  # noqa: F403

SOCIAL = CORPUS / "transcripts" / "social"
DEV = CORPUS / "transcripts" / "dev"


@pytest.fixture(scope="module")
def social_rubric_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("rubrics")
    (d / "social-care.yaml").write_bytes((SOCIAL / "rubric.yaml").read_bytes())
    (d / "phone-support.yaml").write_bytes((CORPUS / "rubrics" / "phone-support.yaml").read_bytes())
    return d


@pytest.fixture(scope="module")
def web_config(tmp_path_factory, web_kb_template, social_rubric_dir):  # noqa: F811  (this module's rubrics)
    from kb.config import load_config
    from tests.web_fixtures import copy_kb

    d = copy_kb(web_kb_template, tmp_path_factory.mktemp("web_kb_learning"))
    return load_config(data_dir=str(d), db=str(d / "kb.db"), secret_key="test-secret",
                       rubrics_dir=str(social_rubric_dir), kappa_min_reviews=5)


def _wait(app, job_id, timeout=300):
    return app.extensions["deskbook"].jobs.wait(job_id, timeout=timeout)


def _import(client, app, files, rubric, **form):
    r = client.post("/qa/import", data={"files": files, "rubric": rubric, **form}, content_type="multipart/form-data")
    assert r.status_code == 302, r.get_data(as_text=True)[:800]
    return _wait(app, r.headers["Location"].split("job=")[1])


@pytest.fixture(scope="module")
def social_job(app, clients):
    """24 social-media threads imported with the form's agent, channel and date."""
    lines = (SOCIAL / "transcripts.jsonl").read_text(encoding="utf-8").splitlines()[:24]
    rows = []
    for line in lines:  # the form fills what the file leaves out
        d = json.loads(line)
        d.pop("agent", None)
        d.pop("started_at", None)
        rows.append(json.dumps(d))
    data = ("\n".join(rows) + "\n").encode()
    job = _import(clients["analyst"], app, [(io.BytesIO(data), "threads.jsonl")], "social-care",
                  agent="Mia Tran", channel="social", date="2026-10-05")
    assert job.status == "done", job.to_dict()
    return job


def test_the_import_form_gives_agent_channel_and_date(social_job, clients):
    rows = clients["analyst"].get("/api/v1/qa/scorecards?rubric=social-care&limit=100").get_json()
    assert len(rows) == 24
    assert {r["agent"] for r in rows} == {"Mia Tran"} and {r["channel"] for r in rows} == {"social"}
    assert {r["started_at"][:10] for r in rows} == {"2026-10-05"}


def test_a_bad_date_and_a_file_without_a_transcript_are_errors_on_the_page(clients):
    a = clients["analyst"]
    r = a.post("/qa/import", data={"files": [(io.BytesIO(b"Agent: hi\nCustomer: hello\n"), "x.txt")],
                                   "rubric": "social-care", "date": "05/10/2026"}, content_type="multipart/form-data")
    assert r.status_code == 400 and "is not a date" in r.get_data(as_text=True)
    r = a.post("/qa/import", data={"files": [(io.BytesIO(b"just some notes, no speakers\n"), "notes.txt")],
                                   "rubric": "social-care"}, content_type="multipart/form-data")
    html = r.get_data(as_text=True)
    assert r.status_code == 400 and "No transcript found" in html and "notes.txt" in html
    api = a.api("POST", "/api/v1/qa/transcripts",
                data={"files": [(io.BytesIO(b'{"id": "x"}'), "empty.json")], "rubric": "social-care"})
    assert api.status_code == 400 and api.get_json()["error"]["field"] == "files"


def test_a_transcript_without_an_agent_is_flagged(app, clients):
    text = b"Customer: hi my parcel is late\nAgent: Sorry about that, can I have the order number?\n"
    job = _import(clients["analyst"], app, [(io.BytesIO(text), "noagent.txt")], "social-care")
    assert job.status == "done" and job.result["no_agent"] == 1 and "without an agent" in job.result["summary"]
    html = clients["analyst"].get("/qa/?rubric=social-care").get_data(as_text=True)
    assert "no agent" in html


def test_unnamed_speakers_told_apart_are_reported(app, clients):
    text = (b"Speaker 2: hi\nSpeaker 1: thanks for calling brightcart how can i help\n"
            b"Speaker 2: my parcel is late\nSpeaker 1: sorry about that can i have the order number\n")
    job = _import(clients["analyst"], app, [(io.BytesIO(text), "diarised.txt")], "social-care", agent="Mia Tran")
    assert job.status == "done", job.to_dict()
    assert job.result["speakers_inferred"] == {"diarised": {"Speaker 1": "agent, by 'thanks for calling'",
                                                            "Speaker 2": "customer, the other speaker"}}
    assert "told apart by what they say (e.g. Speaker 1 = agent" in job.result["summary"]


def test_the_queue_lists_unsure_verdicts_first(social_job, clients):
    a = clients["analyst"]
    rows = a.get("/api/v1/qa/scorecards?rubric=social-care&order=review&limit=100").get_json()
    counts = [r["needs_review"] for r in rows]
    assert counts == sorted(counts, reverse=True) and counts[0] > 0
    card = a.get(f"/api/v1/qa/scorecards/{rows[0]['id']}").get_json()
    unsure = [c for c in card["criteria"] if c["confidence"] < 0.7]
    assert len(unsure) == rows[0]["needs_review"]
    html = a.get(f"/qa/reviews/{rows[0]['id']}").get_data(as_text=True)
    assert "needs review" in html and 'id="turn-1"' in html  # turns numbered from 1


def _review_all(app, social_job, clients):
    """Review every criterion of the 24 threads as the hand labels say (confirm or override)."""
    labels = {json.loads(line)["transcript_id"]: json.loads(line)["criteria"]
              for line in (SOCIAL / "labels.jsonl").read_text(encoding="utf-8").splitlines()}
    store = app.extensions["deskbook"].store
    for sid in social_job.result["scorecard_ids"]:
        card = store.get_scorecard(sid)
        for cid, want in labels[card["transcript_id"]].items():
            store.add_review(sid, cid, reviewer="analyst", result=want)


def test_retrain_adopt_and_old_scorecards_keep_their_version(app, social_job, clients):
    a, m = clients["analyst"], clients["manager"]
    page = m.get("/qa/learning/").get_data(as_text=True)
    assert "social-care v1" in page and "0 reviewed conversations" in page
    _review_all(app, social_job, clients)
    r = m.post("/qa/learning/social-care/retrain")
    assert r.status_code == 302
    job = _wait(app, r.headers["Location"].split("job=")[1])
    assert job.status == "done", job.to_dict()
    model_id = job.result["model_id"]
    assert model_id and job.result["version"] == 2 and "adopt or discard" in job.result["summary"]
    report = job.result["report"]
    assert report["reviewed_conversations"] == 24
    learned = [c for c in report["criteria"] if c["adopted"]]
    assert learned and all(c["kappa_after"] >= c["kappa_before"] - ADOPT_MARGIN - 1e-9 for c in learned)
    page = m.get("/qa/learning/").get_data(as_text=True)
    assert "Version 2" in page and "candidate" in page and "Adopt version 2" in page
    assert re.search(r"Kappa retrained \(cross-validated\)", page)
    # nothing changes before adoption
    before = [r["id"] for r in a.get("/api/v1/qa/scorecards?rubric=social-care&limit=100").get_json()]
    r = m.post(f"/qa/learning/models/{model_id}/adopt")
    assert r.status_code == 302
    assert m.get("/api/v1/qa/models?rubric=social-care").get_json()[0]["status"] == "adopted"
    assert "social-care v2 (learned from reviews)" in m.get("/qa/learning/").get_data(as_text=True)
    # new scorings use version 2, old scorecards keep version 1
    text = (SOCIAL / "transcripts.jsonl").read_text(encoding="utf-8").splitlines()[30]
    job = _import(a, app, [(io.BytesIO(text.encode()), "new.jsonl")], "social-care")
    new = a.get(f"/api/v1/qa/scorecards/{job.result['scorecard_ids'][0]}").get_json()
    assert new["rubric_version"] == 2
    assert any((c.get("detail") or {}).get("model") == "learned" for c in new["criteria"])
    for sid in before[:3]:
        assert a.get(f"/api/v1/qa/scorecards/{sid}").get_json()["rubric_version"] == 1
    # a decided model is not decided again; agents may not retrain
    assert m.api("POST", f"/api/v1/qa/models/{model_id}/discard").status_code == 400
    assert clients["agent"].post("/qa/learning/social-care/retrain").status_code == 403


def test_the_dashboard_shows_kappa_only_with_enough_reviews(app, clients):
    from kb.insights.qa import qa_dashboard

    svc = app.extensions["deskbook"]
    dash = qa_dashboard(svc.store, svc.config, days=0, rubric="phone-support")
    assert not dash.criteria  # nothing scored with it in this module
    a = clients["analyst"]
    files = [(io.BytesIO((DEV / n).read_bytes()), n) for n in ("call-0001.json", "call-0003.json")]
    job = _import(a, app, files, "phone-support")
    sid = job.result["scorecard_ids"][0]
    svc.store.add_review(sid, "greeting", reviewer="analyst", result="pass")
    dash = qa_dashboard(svc.store, svc.config, days=0, rubric="phone-support")
    greet = next(c for c in dash.criteria if c.criterion == "greeting")
    assert greet.kappa is None and greet.kappa_note == "1 review, needs 5"
    chart = next(c for c in dash.charts() if c.title.startswith("SOPs agents fail to follow"))
    failed = {s.sop for s in dash.sops if s.failed}
    assert {row["label"] for row in chart.rows} == failed  # only procedures with failures are listed
