"""The `qa_score` job scores in batches and stores each scorecard as it comes; a transcript whose scoring
fails is named in the job's errors and the others are still scored and stored."""

from __future__ import annotations

import pytest

from kb.config import load_config
from kb.errors import DeskbookError
from kb.jobs import Worker
from kb.storage import open_store
from qa_rubrics.jobs import score_transcripts
from qa_rubrics.score import Scorer
from tests.conftest import CORPUS

RUBRIC = CORPUS / "rubrics" / "phone-support.yaml"
CALLS = sorted((CORPUS / "transcripts" / "dev").glob("call-000*.json"))[:6]


def run_job(tmp_path, embedder):
    config = load_config(data_dir=str(tmp_path), db=str(tmp_path / "kb.db"))
    store = open_store(config.database)
    job = store.enqueue_job("qa_score", {"rubric_id": "phone-support", "rubric_version": 1, "rubric_name": RUBRIC.name,
                                         "rubric_text": RUBRIC.read_text(), "aliases": []},
                            owner="analyst", title="batch test", files=[(p.name, p.read_bytes()) for p in CALLS])
    worker = Worker(store, config, handlers={"qa_score": score_transcripts}, embedder=embedder, name="w")
    assert worker.run_one().id == job.id
    return store, store.get_job(job.id)


@pytest.fixture(scope="module")
def plain(tmp_path_factory, embedder):
    return run_job(tmp_path_factory.mktemp("plain"), embedder)


def test_every_transcript_is_scored_and_stored_once(plain):
    store, job = plain
    assert job.status == "done" and job.result["errors"] == []
    cards = store.list_scorecards(limit=100)
    assert sorted(c["transcript_id"] for c in cards) == sorted(p.stem for p in CALLS)
    assert sorted(job.result["scorecard_ids"]) == sorted(c["id"] for c in cards)
    assert job.done == job.total == len(CALLS)


def test_a_transcript_that_fails_is_named_and_the_others_are_stored(tmp_path, embedder, monkeypatch, plain):
    bad = CALLS[2].stem
    outcomes = Scorer.outcomes

    def failing(self, conv):
        if conv.transcript.id == bad:
            raise DeskbookError("the SOP search failed")
        return outcomes(self, conv)

    monkeypatch.setattr(Scorer, "outcomes", failing)
    store, job = run_job(tmp_path, embedder)
    assert job.status == "done"
    assert job.result["errors"] == [f"{bad}: the SOP search failed"]
    stored = {c["transcript_id"]: c for c in store.list_scorecards(limit=100)}
    assert sorted(stored) == sorted(p.stem for p in CALLS if p.stem != bad)
    before = {c["transcript_id"]: c for c in plain[0].list_scorecards(limit=100)}
    assert {t: (c["score"], c["verdict"]) for t, c in stored.items()} == \
        {t: (before[t]["score"], before[t]["verdict"]) for t in stored}
