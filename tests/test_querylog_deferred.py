"""A web server's query log redacts after the response (kb.insights.deferred); the store's generations are read
at most a few times a second (kb.storage.sql.base); query encodes may run in several slots (kb.embed, kb.sidework)."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import kb.insights.deferred as deferred
import kb.storage.sql.base as sqlbase
from kb.config import load_config
from kb.embed import QueryFirstLock, query_batcher
from kb.insights.querylog import QueryLog
from kb.storage import open_store
from tests.test_query_batching import SlowEncoder, run_concurrently

NAME_QUERY = "customer Priyanka Venkataraman wants a refund to card 4111 1111 1111 1111"


@pytest.fixture()
def store_and_config(tmp_path):
    config = load_config(data_dir=str(tmp_path), db=str(tmp_path / "kb.db"))
    store = open_store(config.database)
    yield store, config
    store.close()


def _raw_rows(store) -> list[dict]:
    return store._rows("SELECT id, query, query_hash, redactions FROM query_log ORDER BY id")


def test_a_deferred_query_is_never_stored_unredacted_and_is_filled_later(store_and_config, monkeypatch):
    store, config = store_and_config
    monkeypatch.setattr(deferred, "QUIET_S", 60.0)  # the side thread waits: the test looks at the pending row
    qlog = QueryLog(store, config, defer=10)
    qid = qlog.log(NAME_QUERY, [{"id": "T-2", "type": "ticket", "score": 0.5, "dense_score": 0.7}], agent="Amara")
    assert qid is not None and qlog.pending() == 1
    row = _raw_rows(store)[0]
    assert (row["id"], row["query"], row["query_hash"], row["redactions"]) == (qid, "", "", deferred.PENDING)
    raw = b"".join(p.read_bytes() for p in store.path.parent.glob("kb.db*") if p.is_file())
    assert b"Venkataraman" not in raw and b"4111" not in raw  # nowhere in the file nor its WAL
    qlog.record_click(qid, "T-2")  # the id is usable at once
    assert store.count_queries(None, None) == 0  # readers of the database skip the pending row
    entries = qlog.entries()  # this process's readers store what it holds first
    assert qlog.pending() == 0 and len(entries) == 1
    e = entries[0]
    assert "Venkataraman" not in e.query and "[NAME]" in e.query and "[CARD]" in e.query
    assert e.clicks == ["T-2"] and e.top_score == pytest.approx(0.7) and e.who == "Amara"
    assert _raw_rows(store)[0]["redactions"] >= 2 and _raw_rows(store)[0]["query_hash"]


def test_the_side_thread_redacts_when_searches_pause(store_and_config, monkeypatch):
    store, config = store_and_config
    monkeypatch.setattr(deferred, "QUIET_S", 0.2)
    qlog = QueryLog(store, config, defer=100)
    ids = [qlog.log(f"customer Priyanka Venkataraman wants a refund for order {i}", [],
                    vector=np.ones(4, dtype=np.float32)) for i in range(5)]
    deadline = time.time() + 60
    while time.time() < deadline and any(r["redactions"] == deferred.PENDING for r in _raw_rows(store)):
        time.sleep(0.1)
    rows = {r["id"]: r for r in _raw_rows(store)}
    assert all(rows[i]["redactions"] >= 1 and "[NAME]" in rows[i]["query"] for i in ids)
    assert len({rows[i]["query_hash"] for i in ids}) == 5
    # a redacted query's vector is cached only when redaction changed nothing (none here)
    assert not store.query_vectors(qlog._model_name(), [rows[i]["query_hash"] for i in ids])


def test_a_full_buffer_and_a_known_query_are_redacted_before_they_are_logged(store_and_config, monkeypatch):
    store, config = store_and_config
    monkeypatch.setattr(deferred, "QUIET_S", 60.0)
    qlog = QueryLog(store, config, defer=2)
    a = qlog.log("customer Priyanka Venkataraman wants a refund", [])
    b = qlog.log("customer Priyanka Venkataraman wants a delivery", [])
    c = qlog.log("customer Priyanka Venkataraman wants an exchange", [])  # no room left: redacted now
    rows = {r["id"]: r for r in _raw_rows(store)}
    assert rows[a]["redactions"] == rows[b]["redactions"] == deferred.PENDING
    assert rows[c]["redactions"] >= 1 and "Venkataraman" not in rows[c]["query"]
    d = qlog.log("customer Priyanka Venkataraman wants an exchange", [])  # redacted once already: stored at once
    assert _raw_rows(store)[-1]["id"] == d and _raw_rows(store)[-1]["redactions"] >= 1
    assert qlog.flush() == 2 and all(r["redactions"] >= 1 for r in _raw_rows(store))


def test_a_query_that_cannot_be_redacted_is_dropped_not_stored(store_and_config, monkeypatch):
    store, config = store_and_config
    monkeypatch.setattr(deferred, "QUIET_S", 60.0)
    qlog = QueryLog(store, config, defer=10)
    qid = qlog.log(NAME_QUERY, [])

    def broken(*a, **kw):
        raise RuntimeError("the name model is gone")

    monkeypatch.setattr(qlog._later, "_redact_many", broken)
    with pytest.raises(RuntimeError):
        qlog.flush()
    row = _raw_rows(store)[0]
    assert row["id"] == qid and row["query"] == "" and row["redactions"] == deferred.PENDING
    assert qlog.pending() == 0 and qlog.entries() == []


def test_without_names_to_redact_nothing_is_deferred(store_and_config):
    store, config = store_and_config
    qlog = QueryLog(store, config.with_overrides(querylog_redact_names=False), defer=10)
    qlog.log("refund to card 4111 1111 1111 1111", [])
    assert qlog.pending() == 0 and "[CARD]" in _raw_rows(store)[0]["query"]


# -- the generations a search checks ----------------------------------------------------------------
def test_generations_are_seen_at_once_in_process_and_within_the_window_from_elsewhere(store_and_config, monkeypatch):
    store, _ = store_and_config
    other = open_store(store.path)  # another store of the same database: as another process, no shared cache
    monkeypatch.setattr(other, "_generations_key", lambda: "elsewhere")
    try:
        first = store.generations()
        with store.transaction():
            store._bump_meta("vectors_generation")
            assert store.generations()[0] == first[0] + 1  # inside the transaction: read, not cached
        assert store.generations()[0] == first[0] + 1 and store.vectors_generation() == first[0] + 1
        store.set_meta("fields_generation", "7")
        assert store.generations()[1] == "7"  # a write through this process is seen at once
        assert other.generations() == (first[0] + 1, "7")
        store.set_meta("vectors_generation", "40")  # `other` is "another process": it has a fresh reading cached
        monkeypatch.setattr(sqlbase, "GENERATIONS_FRESH_S", 60.0)
        assert other.generations()[0] == first[0] + 1
        monkeypatch.setattr(sqlbase, "GENERATIONS_FRESH_S", 0.0)
        assert other.generations()[0] == 40
    finally:
        other.close()


def test_a_reading_taken_before_a_write_of_this_process_is_not_kept(store_and_config, monkeypatch):
    store, _ = store_and_config
    monkeypatch.setattr(sqlbase, "GENERATIONS_FRESH_S", 60.0)
    real = store._read_generations

    def read_then_write():  # another thread's write lands between this reading and its caching
        gen = real()
        sqlbase.SqlStore._generations_changed(store)
        return gen

    monkeypatch.setattr(store, "_read_generations", read_then_write)
    store.generations()
    monkeypatch.setattr(store, "_read_generations", real)
    store.set_meta("fields_generation", "9")
    assert store.generations()[1] == "9"


# -- query encodes in several slots ------------------------------------------------------------------
def test_two_slots_run_two_batches_at_once_and_never_an_empty_one():
    enc = SlowEncoder(delay=0.1)
    running, most = [0], [0]
    lock = threading.Lock()

    def counted(texts):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        try:
            return enc(texts)
        finally:
            with lock:
                running[0] -= 1

    groups = [[f"q-{i}"] for i in range(16)]
    out = run_concurrently(query_batcher(QueryFirstLock(slots=2), counted), groups)
    for g, vecs in zip(groups, out, strict=True):
        assert [int(v[0]) for v in vecs] == [int(t.split("-")[1]) for t in g]
    assert most[0] == 2 and all(enc.calls)  # two at once; no call without texts
    assert sorted(t for c in enc.calls for t in c) == sorted(t for g in groups for t in g)


def test_a_document_batch_waits_for_every_query_slot():
    lock = QueryFirstLock(slots=2)
    order = []
    with lock.query(), lock.query():
        th = threading.Thread(target=lambda: lock.documents().__enter__() or order.append("documents"))
        th.start()
        time.sleep(0.1)
        order.append("queries done")
    th.join(5)
    assert order == ["queries done", "documents"]


def test_serve_queries_keeps_the_vectors():
    from kb.embed import SentenceTransformerEmbedder

    own = SentenceTransformerEmbedder()  # its own: the session's embedder keeps one slot
    assert own.prepare_queries() is True  # ONNX Runtime is a dependency: queries go through it on CPU
    texts = ["how do I return a damaged parcel", "change the delivery address"]
    before = own.encode_queries(texts)
    assert own.serve_queries(2) is True and own._lock.slots == 2
    assert np.allclose(own.encode_queries(texts), before, atol=1e-5)
