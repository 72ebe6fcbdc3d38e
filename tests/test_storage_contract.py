"""The storage contract, run against SQLite and PostgreSQL alike (`backend_store`): documents and versions,
chunks and vectors, lexical search (analysed terms and phrases, filters), transactions, migrations,
accounts and sessions, the query log, the job queue and live-assist conversations."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from kb.analysis import LexicalQuery, get_analyzer
from kb.errors import ConflictError, InputError, NotFoundError, SchemaError
from kb.models import Chunk, Document
from kb.search import parse_query
from kb.storage import NO_FILTERS, SearchFilters

A = get_analyzer("en")
EXPECTED_MIGRATIONS = ["accounts.0001_users", "accounts.0002_sessions", "accounts.0003_login_failures", "accounts.0004_user_locale",
                       "assist.0001_conversations", "jobs.0001_queue", "kb.0001_core",
                       "kb.0002_language_analysed_text", "kb.0003_lexical_languages", "kb.0004_fts_secure_delete",
                       "kb.0005_documents_language", "privacy.0001_erasures", "qa.0001_tables",
                       "qa.0002_idempotency", "qa.0003_models", "querylog.0001_tables"]


def vec(*xs: float) -> np.ndarray:
    v = np.array(xs, dtype=np.float32)
    return v / np.linalg.norm(v)


def doc(doc_id: str, title: str, text: str, *, type: str = "sop", tags=(), status: str = "published") -> Document:
    return Document(id=doc_id, type=type, title=title, body=f"# {title}\n\n{text}\n", tags=list(tags), status=status)


def save(store, d: Document, texts: list[str], vectors: list[np.ndarray]):
    chunks = [Chunk(d.id, i, d.title, t) for i, t in enumerate(texts)]
    return store.save_document(d, chunks, np.vstack(vectors) if vectors else None)


@pytest.fixture()
def kb(backend_store):
    s = backend_store
    save(s, doc("refunds", "Refunds", "x", tags=["Refunds", "money"]),
         ["Refunds go back to the original payment method within 5 days.",
          "Escalate refunds over 100 pounds to a team leader."], [vec(1, 0, 0, 0), vec(0.9, 0.1, 0, 0)])
    save(s, doc("hold", "Phone etiquette", "y", tags=["phone"], status="draft"),
         ["Ask before you put the caller on hold, and thank them for holding."], [vec(0, 1, 0, 0)])
    save(s, doc("T-1", "Refund not received", "z", type="ticket", tags=["refunds"], status="closed"),
         ["The customer says the refund has not arrived on their card."], [vec(0.7, 0, 0.7, 0)])
    return s


def lex(store, text: str, filters: SearchFilters = NO_FILTERS, limit: int = 10) -> list[str]:
    hits = store.lexical_search(parse_query(text, A).lexical, limit, filters)
    info = store.chunk_docs([c for c, _ in hits])
    return [info[c]["doc_id"] for c, _ in hits]


# -- schema -------------------------------------------------------------------------------------
def test_same_named_migrations_on_both_backends(backend_store):
    assert backend_store.schema_migrations() == EXPECTED_MIGRATIONS
    assert backend_store.migrate() == []  # nothing left to do
    assert len(backend_store.uid) == 16


def test_a_database_from_a_newer_deskbook_is_refused(backend_store):
    from kb.storage import open_store

    backend_store._exec("INSERT INTO schema_migrations(name, applied_at) VALUES ('kb.9999_future', 'x')")
    target = backend_store.local_path() or backend_store._conninfo
    with pytest.raises(SchemaError, match="newer version of Deskbook"):
        open_store(target)


def test_transaction_yields_the_store_and_rolls_back_on_error(backend_store):
    s = backend_store
    with s.transaction() as t:
        assert t is s
        s.set_meta("a", 1)
    with pytest.raises(RuntimeError):
        with s.transaction():
            s.set_meta("b", 2)
            with s.transaction():  # nested: joins the outer one
                s.set_meta("c", 3)
            raise RuntimeError("boom")
    assert s.get_meta("a") == "1" and s.get_meta("b") is None and s.get_meta("c") is None
    assert not hasattr(s, "execute")  # no public SQL


# -- documents, versions, chunks, vectors ------------------------------------------------------------
def test_documents_versions_conflicts_and_tombstones(kb):
    d = kb.get_document("refunds")
    assert d.version == 1 and d.tags == ["Refunds", "money"] and d.language == "en"
    assert kb.count_documents() == {"sop": 2, "ticket": 1}
    d.body += "More.\n"
    save(kb, d, ["Refunds go back to the original payment method."], [vec(1, 0, 0, 0)])
    with pytest.raises(ConflictError):
        kb.save_document(d, [], None, expected_version=1)
    assert [v["version"] for v in kb.document_versions("refunds")] == [2, 1]
    kb.update_document_fields("refunds", status="archived", by="lee")
    assert kb.get_document("refunds").status == "archived" and kb.get_document("refunds").version == 3
    kb.delete_document("hold", by="lee")
    assert not kb.has_document("hold") and kb.document_versions("hold")[0]["deleted"] == 1
    assert "thank them" in kb.get_version("hold", 1).body or kb.get_version("hold", 1).title == "Phone etiquette"
    with pytest.raises(NotFoundError):
        kb.get_document("hold")
    assert ("refunds", 2) in kb.all_tags()


def test_vectors_generation_and_lookup(kb):
    g0 = kb.vectors_generation()
    assert kb.vector_dim() == 4 and kb.vector_count() == kb.count_chunks() == 4
    ids = [c.id for c in kb.get_chunks("refunds")]
    got_ids, mat = kb.get_vectors(ids)
    assert sorted(got_ids.tolist()) == sorted(ids) and mat.shape == (2, 4)
    batches = list(kb.iter_vectors(batch=3))
    assert [len(b[0]) for b in batches] == [3, 1] and list(kb.iter_vectors(min_id=max(ids)))[0][0].min() > max(ids)
    h = kb.get_chunks("hold")[0].hash_for("Phone etiquette")
    assert np.allclose(kb.vectors_by_hash([h])[h], vec(0, 1, 0, 0))
    kb.put_vectors(ids[:1], vec(0, 0, 0, 1)[None, :])
    assert np.allclose(kb.get_vectors(ids[:1])[1][0], vec(0, 0, 0, 1)) and kb.vectors_generation() > g0
    kb.delete_document("refunds")
    assert kb.vector_count() == 2 and kb.vectors_deleted() >= 2
    kb.drop_vectors()
    assert kb.vector_dim() is None and kb.vector_count() == 0


def test_nearest_vectors_is_none_or_exact_within_allowed(kb):
    ids = {c.id: d for d in ("refunds", "hold", "T-1") for c in kb.get_chunks(d)}
    found = kb.nearest_vectors(vec(1, 0, 0, 0), 2)
    if kb.backend == "sqlite":
        assert found is None  # SQLite searches the derived FAISS index (kb.ann)
        return
    assert ids[found[0][0]] == "refunds" and found[0][1] == pytest.approx(1.0, abs=1e-5)
    hold = [c for c, d in ids.items() if d == "hold"]
    assert [c for c, _ in kb.nearest_vectors(vec(1, 0, 0, 0), 5, np.array(hold))] == hold


# -- lexical search -------------------------------------------------------------------------------
def test_lexical_terms_are_stemmed_and_phrases_exact(kb):
    assert lex(kb, "refunded payments")[0] == "refunds"
    assert set(lex(kb, "holding")) == {"hold"}
    assert lex(kb, '"original payment method"') == ["refunds"]
    assert lex(kb, '"payment original method"') == []
    assert lex(kb, '"on hold"') == ["hold"]  # stopwords are indexed, so phrases with them match
    assert kb.lexical_search(LexicalQuery(), 10) == []


def test_lexical_filters_types_tags_and_statuses(kb):
    assert set(lex(kb, "refund", SearchFilters.of(types=["ticket"]))) == {"T-1"}
    assert set(lex(kb, "refund", SearchFilters.of(tags=["REFUNDS"]))) == {"refunds", "T-1"}
    assert set(lex(kb, "refund", SearchFilters.of(tags=["refunds", "money"]))) == {"refunds"}
    assert lex(kb, "hold", SearchFilters.of(statuses=["published"])) == []
    assert set(lex(kb, "hold refund", SearchFilters.of(statuses=["draft", "closed"]))) == {"hold", "T-1"}
    ids = kb.chunk_ids_where(SearchFilters.of(types=["sop"]), phrases=[["origin", "payment"]])
    assert [kb.chunk_docs(ids.tolist())[int(i)]["doc_id"] for i in ids] == ["refunds"]


def test_documents_left_out_by_a_filter(kb):
    agents = SearchFilters.of(sop_statuses=["published"])
    assert kb.documents_left_out(NO_FILTERS) == 0
    assert kb.documents_left_out(agents) == 1  # the draft SOP; the ticket's own status does not count
    assert kb.documents_left_out(SearchFilters.of(types=["sop"])) == 1
    assert kb.documents_left_out(SearchFilters.of(tags=["refunds"])) == 1  # tags match in any case
    ids = kb.chunk_ids_where(agents).tolist()
    assert sorted(kb.chunk_docs(ids)[c]["doc_id"] for c in ids) == ["T-1", "refunds", "refunds"]


@pytest.mark.parametrize("query", ['"', 'refund AND OR NOT', "NEAR(a b)", "col:value", "*", "' OR 1=1; --",
                                   "😡 my parcel 📦", "ü ß ç", "a - b + c", "\\x00", "x" * 5000])
def test_hostile_queries_are_only_tokens(kb, query):
    assert isinstance(lex(kb, query), list)
    assert kb.count_documents()["sop"] == 2


def test_terms_must_be_analysed_tokens(kb):
    if kb.backend == "postgresql":
        with pytest.raises(ValueError):
            kb.lexical_search(LexicalQuery(("a' | 'b",)), 5)


def test_document_frequencies(kb):
    df = kb.term_document_frequencies(["refund", "hold", "nothere"])
    assert df == {"refund": 3, "hold": 1, "nothere": 0}


# -- accounts and sessions ------------------------------------------------------------------------
def test_users_tokens_sessions_and_secrets(backend_store):
    s = backend_store
    uid = s.add_user("Maria", "agent", "hash", "Maria")
    assert s.find_user("maria")["id"] == uid and s.count_users() == 1
    with pytest.raises(ConflictError):
        s.add_user("MARIA", "agent", "hash", "")
    s.update_user(uid, active=False, role="manager")
    assert s.get_user(uid)["active"] is False and s.get_user(uid)["role"] == "manager"
    tid = s.add_token(uid, "stt", "h" * 64, "dbk_abc")
    assert s.token_user("h" * 64)["token_id"] == tid
    s.revoke_token(tid)
    assert s.token_user("h" * 64) is None and s.list_tokens(uid)[0]["revoked"] is True
    now = time.time()
    s.create_session("sess", uid, now + 60)
    s.create_session("old", uid, now - 1)
    assert s.get_session("sess")["user_id"] == uid
    assert s.purge_sessions(now) == 1 and s.get_session("old") is None
    assert s.delete_user_sessions(uid) == 1 and s.get_session("sess") is None
    made = []
    first = s.app_secret("k", lambda: made.append(1) or "secret-1")
    assert first == "secret-1" and s.app_secret("k", lambda: "other") == "secret-1" and made == [1]


# -- query log --------------------------------------------------------------------------------------
def test_query_log_rows_events_views_vectors_and_purge(backend_store):
    s = backend_store
    row = {"ts": "2026-01-01T10:00:00Z", "kind": "search", "query": "refund", "query_hash": "h1", "mode": "hybrid",
           "user_id": "1", "agent": "maria", "results": "[]", "top_score": None, "abstained": 0, "confidence": None,
           "redactions": 0}
    q1 = s.log_query(row, vector=("h1", "m", vec(1, 0, 0, 0)))
    q2 = s.log_query({**row, "ts": "2026-03-01T10:00:00Z", "query_hash": "h2", "top_score": 0.9, "results": "[1]"})
    s.add_query_event(q2, "not_helpful", "", "1", "2026-03-01T10:01:00Z")
    with pytest.raises(NotFoundError):
        s.add_query_event(999, "click", "d", "1", "2026-03-01T10:01:00Z")
    s.add_doc_view("refunds", "1", "search", "2026-03-02T00:00:00Z")
    rows, events = s.query_rows("2026-01-01T00:00:00Z", None, failed_below=0.5)
    assert [r["id"] for r in rows] == [q1, q2] and events[q2] == [("not_helpful", "")]
    assert s.count_queries(None, None) == 2 and s.count_queries(None, None, unscored=True) == 1
    assert s.last_views() == {"refunds": "2026-03-02T00:00:00Z"} and s.view_count() == 1
    assert np.allclose(s.query_vectors("m", ["h1", "h2"])["h1"], vec(1, 0, 0, 0))
    before = s.activity_state()
    out = s.purge_querylog("2026-02-01T00:00:00Z")
    assert out == {"queries": 1, "events": 0, "views": 0, "vectors": 1} and s.activity_state() != before


# -- jobs ----------------------------------------------------------------------------------------------
def test_job_lifecycle_progress_and_files(backend_store):
    s = backend_store
    job = s.enqueue_job("index_upload", {"folder": "x"}, owner="lee", title="Upload", files=[("a.md", b"# A")])
    assert job.status == "queued" and s.enqueue_job("k", {}, owner="a", title="t", idempotency_key="k1").id == \
        s.enqueue_job("k", {}, owner="a", title="t", idempotency_key="k1").id
    got = s.claim_job("w1", 30, kinds=["index_upload"])
    assert got.id == job.id and got.status == "running" and got.attempts == 1 and got.claimed_by == "w1"
    assert s.claim_job("w2", 30, kinds=["index_upload"]) is None
    assert s.job_files(job.id) == [("a.md", b"# A")]
    assert s.job_progress(job.id, "w1", 1, 2, "half", 30) and not s.job_progress(job.id, "w2", 2, 2, "x", 30)
    assert s.get_job(job.id).percent == 50
    assert s.finish_job(job.id, "w1", {"summary": "1 added"})
    done = s.get_job(job.id)
    assert done.status == "done" and done.message == "1 added" and s.job_files(job.id) == []
    assert [j.id for j in s.list_jobs(owner="lee")] == [job.id]


def test_failed_jobs_are_retried_then_failed_for_good(backend_store):
    s = backend_store
    job = s.enqueue_job("qa_score", {}, owner="a", title="t", max_attempts=2)
    s.claim_job("w1", 30)
    s.fail_job(job.id, "w1", {"code": "internal_error", "message": "boom"}, retry=True)
    assert s.get_job(job.id).status == "queued"
    s.claim_job("w1", 30)
    s.fail_job(job.id, "w1", {"code": "internal_error", "message": "boom again"}, retry=True)
    failed = s.get_job(job.id)
    assert failed.status == "failed" and failed.error["message"] == "boom again" and failed.attempts == 2


def test_an_expired_lease_lets_another_worker_take_the_job(backend_store):
    s = backend_store
    job = s.enqueue_job("qa_score", {}, owner="a", title="t", max_attempts=2)
    assert s.claim_job("dead", 0.2).id == job.id
    assert s.claim_job("w2", 30) is None  # the lease still holds
    time.sleep(0.3)
    again = s.claim_job("w2", 0.2)
    assert again.id == job.id and again.attempts == 2 and again.claimed_by == "w2" and "retrying" in again.message
    assert not s.finish_job(job.id, "dead", {})  # the first worker no longer holds it
    time.sleep(0.3)
    assert s.claim_job("w3", 30) is None  # attempts used up: failed, not claimed again
    assert s.get_job(job.id).status == "failed" and s.get_job(job.id).error["code"] == "worker_lost"


def test_concurrent_claims_never_share_a_job(backend_store):
    s = backend_store
    for i in range(12):
        s.enqueue_job("k", {"i": i}, owner="a", title=str(i))
    claimed: list[str] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        while (job := s.claim_job(name, 30)) is not None:
            with lock:
                claimed.append(job.id)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(claimed) == 12 and len(set(claimed)) == 12


# -- live-assist conversations -------------------------------------------------------------------------
def test_conversations_append_atomically_and_keep_the_newest_suggestion(backend_store):
    s = backend_store
    c = s.create_conversation("call-1", owner=7, created_by="maria")
    assert c.owner == 7 and c.revision == 0 and s.create_conversation("call-1", owner=8, created_by="x").owner == 7

    def push(i: int) -> None:
        for j in range(5):
            s.append_turns("call-1", [{"speaker": "customer", "text": f"{i}-{j}"}], max_turns=400)

    threads = [threading.Thread(target=push, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    c = s.get_conversation("call-1")
    assert len(c.turns) == 20 and c.revision == 20
    assert s.save_suggestion("call-1", 20, {"topic": "x"}, {"need": "new"})
    assert not s.save_suggestion("call-1", 19, None, {"need": "stale"})
    assert s.get_conversation("call-1").suggestion == {"need": "new"}
    with pytest.raises(InputError):
        s.append_turns("call-1", [{"speaker": "agent", "text": "x"}], max_turns=20)
    assert [r.id for r in s.recent_conversations(5, owner=7)] == ["call-1"]
    assert s.expire_conversations("9999-01-01T00:00:00Z") == 1
    with pytest.raises(NotFoundError):
        s.get_conversation("call-1")
