"""`deskbook store copy`: a whole Deskbook from SQLite to PostgreSQL and back, nothing lost.

The sample corpus (with QA scorecards and reviews, users and tokens, logged queries) goes SQLite ->
PostgreSQL -> SQLite; every table's count matches, and the final SQLite database answers every dev
query with the same results as the original, in every search mode. The PostgreSQL copy finds the
same documents for quoted phrases (the two lexical indexes match the same analysed tokens).
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from kb.config import load_config
from kb.evaluate import load_queries
from kb.search import Searcher
from kb.storage import open_store
from kb.storage.copy import copy_store
from tests.conftest import CORPUS


@pytest.fixture(scope="module")
def source(corpus_kb, tmp_path_factory):
    """A copy of the corpus KB with QA results, accounts and a query log added."""
    from webapp.accounts import Accounts

    config, corpus_store = corpus_kb
    d = tmp_path_factory.mktemp("copy_src")
    store = open_store(d / "kb.db")
    copy_store(corpus_store, store)  # SQLite -> SQLite works too
    card = {"transcript_id": "t1", "rubric_id": "phone", "rubric_version": 1, "pass_mark": 80, "score": 50.0,
            "verdict": "fail", "criteria": [{"id": "greeting", "result": "pass", "points": 5, "critical": False},
                                            {"id": "no_rude", "result": "fail", "points": 5, "critical": True}]}
    sid = store.save_scorecard(card, transcript={"id": "t1", "turns": [{"speaker": "agent", "text": "Hi [NAME]"}]})
    store.add_review(sid, "no_rude", reviewer="lee", result="pass", comment="a quote")
    acc = Accounts(store)
    acc.add_user("maria", "agent", "maria-pass-1")
    acc.create_token("maria", "stt")
    from kb.insights.querylog import QueryLog

    ql = QueryLog(store, load_config(querylog_redact_names=False))
    qid = ql.log("where is my refund", [{"id": "sop-refunds", "type": "sop", "score": 0.5, "dense_score": 0.7}])
    ql.record_feedback(qid, True, user_id="1")
    ql.record_view("sop-refunds", user_id="1", source="search")
    return config, store


def test_round_trip_sqlite_postgresql_sqlite(source, pg_url, tmp_path, embedder):
    config, src = source
    pg = open_store(pg_url)
    first = copy_store(src, pg)
    assert first.ok and first.tables["chunk_vectors"]["destination"] == src.vector_count() > 0
    back = open_store(tmp_path / "back.db")
    second = copy_store(pg, back)
    assert second.ok
    for table, t in first.tables.items():
        assert second.tables[table]["source"] == t["source"], table
    with pytest.raises(Exception, match="not empty"):
        copy_store(src, back)

    assert back.get_scorecard(1)["criteria"][1]["reviews"][0]["comment"] == "a quote"
    from webapp.accounts import Accounts

    assert Accounts(back).authenticate("maria", "maria-pass-1") is not None
    assert [r["id"] for r in pg.list_scorecards()] == [r["id"] for r in src.list_scorecards()]

    cfg_src = config.with_overrides(data_dir=str(tmp_path / "d1"))
    cfg_back = config.with_overrides(data_dir=str(tmp_path / "d2"))
    s1, s2 = Searcher(src, cfg_src, embedder), Searcher(back, cfg_back, embedder)
    queries = load_queries(CORPUS / "eval" / "queries.jsonl")
    for q in queries:
        qvec = s1.encode_query(q["query"])
        for mode in ("lexical", "dense", "hybrid"):
            a = [(h.id, h.chunk_id) for h in s1.search(q["query"], k=10, mode=mode, qvec=qvec)]
            b = [(h.id, h.chunk_id) for h in s2.search(q["query"], k=10, mode=mode, qvec=qvec)]
            assert a == b, (q["query"], mode)

    s3 = Searcher(pg, config.with_overrides(data_dir=str(tmp_path / "d3")), embedder)
    for phrase in ('"original payment method"', '"chargeback"', '"gift card"'):
        assert {h.id for h in s1.search(phrase, k=50, mode="lexical")} == \
            {h.id for h in s3.search(phrase, k=50, mode="lexical")}, phrase
    pg.close()


def test_the_command_copies_with_progress_and_checks_counts(source, pg_url, tmp_path):
    from kb.cli import cli

    _, src = source
    src.checkpoint()
    res = CliRunner().invoke(cli, ["store", "copy", "--from", str(src.local_path()), "--to", pg_url, "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["ok"] and out["tables"]["documents"]["destination"] == src.count_documents()["sop"] + \
        src.count_documents()["ticket"]
    assert out["rows_per_second"] > 0
    res = CliRunner().invoke(cli, ["store", "copy", "--from", pg_url, "--to", str(tmp_path / "b.db")])
    assert res.exit_code == 0 and "counts match" in res.output
    info = CliRunner().invoke(cli, ["store", "info", "--db", pg_url, "--json"])
    assert json.loads(info.output)["backend"] == "postgresql"
