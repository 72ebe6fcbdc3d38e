"""The QA store contract, on SQLite and PostgreSQL: scorecards are never overwritten, reviews sit beside
automatic results, a scorecard stored under an idempotency key is stored once."""

from __future__ import annotations

import pytest

from kb.errors import InputError, NotFoundError
from kb.storage.records import EXPORT_COLUMNS
from qa_rubrics.scorecards import get_scorecard


@pytest.fixture()
def store(backend_store):
    return backend_store


def card(tid="t1", version=1, score=50.0, verdict="fail", agent="Amara", started="2026-10-01T09:00:00Z",
         results=("pass", "fail")):
    crits = [
        {"id": "greeting", "section": "opening", "method": "semantic.v1", "result": results[0], "confidence": 0.9,
         "score": 0.8, "points": 5, "earned": 5 if results[0] == "pass" else 0, "critical": False,
         "evidence": [{"turn": 0, "speaker": "agent", "start": 0, "end": 5, "text": "Hello", "matched": "Hi"}],
         "reason": "", "detail": {}},
        {"id": "no_rude", "section": "compliance", "method": "absent.v1", "result": results[1], "confidence": 1.0,
         "score": 0.0, "points": 5, "earned": 5 if results[1] == "pass" else 0, "critical": True,
         "evidence": [], "reason": "", "detail": {}},
    ]
    return {"transcript_id": tid, "rubric_id": "phone", "rubric_version": version, "rubric_hash": f"h{version}",
            "pass_mark": 80, "score": score, "verdict": verdict, "reason": "", "earned": 5, "available": 10,
            "sections": [], "criteria": crits, "agent": agent, "channel": "phone", "started_at": started}


def transcript(tid="t1", text="Hello [NAME]"):
    return {"id": tid, "agent": "Amara", "turns": [{"speaker": "agent", "text": text}], "redacted": True}


def test_migrations_create_the_tables(store):
    assert {"qa.0001_tables", "qa.0002_idempotency"} <= set(store.schema_migrations())
    for table in ("qa_transcripts", "qa_scorecards", "qa_criterion_results", "qa_reviews"):
        assert store.table_count(table) == 0


def test_save_get_and_rescoring_keeps_old_results(store):
    a = store.save_scorecard(card(version=1), transcript=transcript())
    b = store.save_scorecard(card(version=2, score=100.0, verdict="pass", results=("pass", "pass")),
                                transcript=transcript())
    assert a != b
    got = get_scorecard(store, a)
    assert got["rubric_version"] == 1 and got["verdict"] == "fail" and got["turns"][0]["text"] == "Hello [NAME]"
    assert [c["id"] for c in got["criteria"]] == ["greeting", "no_rude"]
    assert got["criteria"][0]["evidence"][0]["text"] == "Hello"
    rows = store.list_scorecards(transcript="t1", order="scored_at")
    assert [r["rubric_version"] for r in rows] == [1, 2]
    latest = store.list_scorecards(latest_only=True)
    assert [r["id"] for r in latest] == [b]


def test_changed_transcript_text_is_stored_beside_the_old_one(store):
    a = store.save_scorecard(card(), transcript=transcript(text="v1"))
    b = store.save_scorecard(card(), transcript=transcript(text="v2"))
    assert get_scorecard(store, a)["turns"][0]["text"] == "v1"
    assert get_scorecard(store, b)["turns"][0]["text"] == "v2"


def test_automatic_results_cannot_be_overwritten(store):
    sid = store.save_scorecard(card(), transcript=transcript())
    # The schema itself refuses (a trigger on both backends), whatever code would try.
    with pytest.raises(Exception, match="never changed"):
        store._exec("UPDATE qa_criterion_results SET result = 'pass' WHERE scorecard_id = ?", (sid,))
    with pytest.raises(Exception, match="never changed"):
        store._exec("UPDATE qa_scorecards SET verdict = 'pass' WHERE id = ?", (sid,))


def test_an_idempotency_key_stores_a_scorecard_once(store):
    a = store.save_scorecard(card(), transcript=transcript(), idempotency_key="job-1/call.json/t1")
    b = store.save_scorecard(card(score=99.0, verdict="pass"), transcript=transcript(),
                             idempotency_key="job-1/call.json/t1")
    assert a == b and store.scorecard_for_key("job-1/call.json/t1") == a
    assert len(store.list_scorecards()) == 1 and store.get_scorecard(a)["verdict"] == "fail"
    c = store.save_scorecard(card(), transcript=transcript())  # no key: a new scoring
    assert c != a and store.scorecard_for_key("nope") is None


def test_reviews_sit_beside_the_auto_result(store):
    sid = store.save_scorecard(card(), transcript=transcript())
    store.add_review(sid, "no_rude", reviewer="lee", result="fail", comment="agree")
    rev = store.add_review(sid, "no_rude", reviewer="kim", result="pass", comment="it was a quote")
    assert rev["reviewer"] == "kim" and rev["reviewed_at"]
    got = get_scorecard(store, sid)
    crit = {c["id"]: c for c in got["criteria"]}["no_rude"]
    assert crit["result"] == "fail"  # the automatic verdict is untouched
    assert [r["reviewer"] for r in crit["reviews"]] == ["lee", "kim"] and crit["human_result"] == "pass"
    assert got["verdict"] == "fail" and got["reviewed_verdict"] == "pass" and got["reviewed_score"] == 100.0
    rows = store.export_rows()
    by_crit = {r["criterion_id"]: r for r in rows}
    assert by_crit["no_rude"]["auto_result"] == "fail" and by_crit["no_rude"]["human_result"] == "pass"
    assert by_crit["no_rude"]["reviewer"] == "kim" and by_crit["no_rude"]["final_result"] == "pass"
    assert by_crit["greeting"]["human_result"] is None and by_crit["greeting"]["final_result"] == "pass"
    assert list(rows[0]) == list(EXPORT_COLUMNS)


def test_review_errors(store):
    sid = store.save_scorecard(card(), transcript=transcript())
    with pytest.raises(NotFoundError):
        store.add_review(sid, "nope", reviewer="lee", result="pass")
    with pytest.raises(NotFoundError):
        store.add_review(999, "greeting", reviewer="lee", result="pass")
    with pytest.raises(InputError):
        store.add_review(sid, "greeting", reviewer="lee", result="maybe")
    with pytest.raises(InputError):
        store.add_review(sid, "greeting", reviewer=" ", result="pass")


def test_list_filters_and_order(store):
    store.save_scorecard(card("a", score=40.0, agent="Amara", started="2026-10-01T09:00:00Z"),
                            transcript=transcript("a"))
    store.save_scorecard(card("b", score=90.0, verdict="pass", agent="Tom", started="2026-10-05T09:00:00Z"),
                            transcript=transcript("b"))
    store.save_scorecard(card("c", score=None, verdict="na", agent="Tom", started=""),
                            transcript=transcript("c"))
    assert [r["transcript_id"] for r in store.list_scorecards(order="-score")] == ["b", "a", "c"]
    assert [r["transcript_id"] for r in store.list_scorecards(order="score")] == ["a", "b", "c"]
    assert [r["transcript_id"] for r in store.list_scorecards(agent="Tom", order="score")] == ["b", "c"]
    assert [r["transcript_id"] for r in store.list_scorecards(verdict="pass")] == ["b"]
    assert [r["transcript_id"] for r in store.list_scorecards(since="2026-10-02", until="2026-10-31")
            if r["started_at"]] == ["b"]
    assert [r["transcript_id"] for r in store.list_scorecards(rubric="other")] == []
    with pytest.raises(InputError):
        store.list_scorecards(order="bogus")
    with pytest.raises(InputError):
        store.list_scorecards(verdict="maybe")


# -- erasure and retention -------------------------------------------------------------------------------
def test_an_erasure_request_removes_every_content_of_a_transcript_and_what_was_scored_on_it(store):
    a = store.save_scorecard(card(), transcript=transcript(text="v1"))
    store.save_scorecard(card(version=2), transcript=transcript(text="v2"))  # re-imported, changed text
    store.add_review(a, "greeting", reviewer="lee", result="fail")
    kept = store.save_scorecard(card(tid="t2"), transcript=transcript(tid="t2"))
    assert store.delete_transcripts(["t1"]) == {"transcripts": 2, "scorecards": 2, "reviews": 1}
    assert [r["transcript_id"] for r in store.list_scorecards()] == ["t2"]
    with pytest.raises(NotFoundError):
        get_scorecard(store, a)
    assert get_scorecard(store, kept)["turns"][0]["text"] == "Hello [NAME]"
    for table, n in (("qa_transcripts", 1), ("qa_scorecards", 1), ("qa_criterion_results", 2), ("qa_reviews", 0)):
        assert store.table_count(table) == n, table
    assert store.delete_transcripts(["nobody"]) == {"transcripts": 0, "scorecards": 0, "reviews": 0}


def test_every_erasure_and_purge_is_recorded_without_the_erased_text(store):
    store.save_scorecard(card(tid="t1"), transcript=transcript(text="Glimmerwick"))
    store.save_scorecard(card(tid="t2"), transcript=transcript(tid="t2"))
    store.save_scorecard(card(tid="old", started="2025-01-10T09:00:00Z"), transcript=transcript(tid="old"))
    assert store.delete_transcripts(["t1", "t2", "t1", "nobody"], actor="dpo") == {
        "transcripts": 2, "scorecards": 2, "reviews": 0}
    assert store.purge_qa("2026-01-01", actor="cli:ops") == {"transcripts": 1, "scorecards": 1, "reviews": 0}
    assert store.purge_qa("2026-01-01") == {"transcripts": 0, "scorecards": 0, "reviews": 0}  # nothing went: no row
    rows = store.erasures()
    assert [(r["kind"], r["subject"], r["actor"]) for r in rows] == [
        ("qa_retention", "2026-01-01", "cli:ops"), ("transcript", "t2", "dpo"), ("transcript", "t1", "dpo")]
    assert rows[2]["counts"] == {"transcripts": 1, "scorecards": 1, "reviews": 0} and rows[2]["ts"].endswith("Z")
    assert store.erasures(subject="nobody") == [] and [r["subject"] for r in store.erasures(subject="t2")] == ["t2"]
    assert store.erasures(since="2999-01-01") == [] and len(store.erasures(limit=1)) == 1
    assert "Glimmerwick" not in repr(rows)


def test_retention_removes_calls_before_the_cutoff_by_their_date(store):
    old = store.save_scorecard(card(tid="old", started="2025-01-10T09:00:00Z"), transcript=transcript(tid="old"))
    store.add_review(old, "no_rude", reviewer="lee", result="pass")
    store.save_scorecard(card(tid="new", started="2026-10-01T09:00:00Z"), transcript=transcript(tid="new"))
    # a transcript scored twice, once on an old call date and once on a new one, keeps the content still scored
    store.save_scorecard(card(tid="both", started="2025-01-10T09:00:00Z"), transcript=transcript(tid="both"))
    store.save_scorecard(card(tid="both", started="2026-10-01T09:00:00Z"), transcript=transcript(tid="both"))
    assert store.purge_qa("2026-01-01") == {"transcripts": 1, "scorecards": 2, "reviews": 1}
    assert sorted(r["transcript_id"] for r in store.list_scorecards()) == ["both", "new"]
    assert store.table_count("qa_transcripts") == 2


def test_retention_leaves_a_transcript_no_purged_scorecard_used(store):
    store.save_transcript(transcript(tid="waiting"))  # stored, not scored yet
    store.save_scorecard(card(tid="old", started="2025-01-10T09:00:00Z"), transcript=transcript(tid="old"))
    assert store.purge_qa("2026-01-01") == {"transcripts": 1, "scorecards": 1, "reviews": 0}
    assert store.table_count("qa_transcripts") == 1
