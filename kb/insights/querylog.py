"""The query log: every search and answer request, what was clicked, what helped, which SOPs were opened.

Manager insights (`kb.insights.gaps`) read it to find content gaps and unused SOPs. What is stored:

- `query_log`: one row per search or answer request: the query **after PII redaction**
  (`kb.redact`, the same redaction as QA transcripts: cards, e-mails, phones, IBANs and, with
  `querylog_redact_names`, person names), the mode, the top results with their scores, the best
  cosine similarity among them (`top_score`), whether an answer abstained and its confidence,
  who asked (user id and agent name) and when.
- `query_events`: clicks on results and helpful / not-helpful feedback, on a result or on the
  answer as a whole.
- `doc_views`: an SOP (or ticket) opened by someone (`record_view`).
- `query_vectors`: embeddings of logged queries by content hash and model, filled lazily by the
  insights reports, so a query is embedded once however often it was asked.

A web server logs a request's row at once and redacts its query after the response, with others
(`kb.insights.deferred`, `querylog_defer`): until then the row is pending, with no query text, and
readers skip it. Rows older than `querylog_retention_days` are removed by `purge` (`deskbook report purge`).
The rows are kept by the store (`kb.storage` `QueryLogStore`); this module redacts and shapes them.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np

from kb.errors import InputError
from kb.models import content_hash
from kb.redact import NER_LANGUAGES, redact, text_language

REDACTED_CACHE = 4096  # queries whose redaction a query log keeps in memory (repeated searches)

EVENT_KINDS = ("click", "helpful", "not_helpful")
REQUEST_KINDS = ("search", "answer", "assist")


def iso(ts: str | datetime | date | None = None) -> str:
    """A timestamp as the log stores it: ISO 8601 UTC to the second, `Z` suffix (sorts as text)."""
    if ts is None:
        ts = datetime.now(UTC)
    if isinstance(ts, str):
        try:
            ts = datetime.fromisoformat(ts.replace("Z", "+00:00"))
        except ValueError:
            raise InputError(f"Not an ISO timestamp: {ts!r}", hint="use e.g. 2026-11-22T09:30:00Z") from None
    if isinstance(ts, date) and not isinstance(ts, datetime):
        ts = datetime(ts.year, ts.month, ts.day, tzinfo=UTC)
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def parse_ts(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


@dataclass
class LoggedResult:
    id: str
    type: str = ""
    score: float | None = None
    dense_score: float | None = None


@dataclass
class LogEntry:
    """One logged request, with its feedback summarised."""

    id: int
    ts: str
    kind: str
    query: str
    query_hash: str
    mode: str
    user_id: str
    agent: str
    results: list[LoggedResult]
    top_score: float | None
    abstained: bool
    confidence: float | None
    clicks: list[str] = field(default_factory=list)
    helpful: list[str] = field(default_factory=list)  # doc ids ('' = the answer as a whole)
    not_helpful: list[str] = field(default_factory=list)

    @property
    def who(self) -> str:
        """The asker for counting distinct agents: the agent name, else the user id."""
        return self.agent or self.user_id

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _result(obj: Any) -> LoggedResult:
    """A search Hit, an answer Source, a dict or a LoggedResult, as a LoggedResult."""
    if isinstance(obj, LoggedResult):
        return obj
    get = obj.get if isinstance(obj, dict) else (lambda k, d=None: getattr(obj, k, d))
    score, dense = get("score"), get("dense_score")
    return LoggedResult(id=str(get("id", "")), type=str(get("type", "") or ""),
                        score=None if score is None else round(float(score), 6),
                        dense_score=None if dense is None else round(float(dense), 4))


class QueryLog:
    """The query log of one knowledge base. Cheap to build; build one per request or keep one."""

    def __init__(self, store, config, *, defer: int = 0):
        """`defer` > 0 (a web server): up to that many queries are logged as pending rows and redacted
        after the response, together (`kb.insights.deferred`)."""
        self.store = store
        self.config = config
        self._nlp = None
        self._redacted: OrderedDict[tuple, tuple[str, int]] = OrderedDict()  # see `redact`
        self._redacted_lock = threading.Lock()
        self._ner = None  # kb.sidework.Batcher over the name model, built with it
        self._later = None
        if defer > 0 and config.querylog_redact_names:
            from kb.insights.deferred import DeferredRedaction

            self._later = DeferredRedaction(defer, self.redact_many, self._store_redacted)

    # -- writing -----------------------------------------------------------------------------
    def redact(self, text: str, language: str | None = None) -> tuple[str, int]:
        """(redacted query, number of redactions). Names: the NER model on English queries, and in
        every language the name lists of `kb.names` in query mode ("priya sharma", "Emma asked"):
        a short query gives the model too little context, so a missed name is likelier than in prose.
        `language` when the caller knows it (None: detected)."""
        return self.redact_many([text], [language])[0]

    def redact_many(self, texts: list[str], languages: list[str | None]) -> list[tuple[str, int]]:
        """`redact` of several queries, with one pass of the name model over those it has not seen."""
        keep = self.config.values.get("redact_keep") or []
        names = bool(self.config.querylog_redact_names)
        keys = [(t, lang, names, tuple(keep)) for t, lang in zip(texts, languages, strict=True)]
        out: list[tuple[str, int] | None] = [None] * len(keys)
        with self._redacted_lock:  # agents search the same things again and again: the name model runs once
            for i, key in enumerate(keys):
                if key in self._redacted:
                    self._redacted.move_to_end(key)
                    out[i] = self._redacted[key]
        todo = [i for i, o in enumerate(out) if o is None]
        if todo:
            fresh = self._redact([texts[i] for i in todo], [languages[i] for i in todo], keep)
            with self._redacted_lock:
                for i, o in zip(todo, fresh, strict=True):
                    out[i] = self._redacted[keys[i]] = o
                while len(self._redacted) > REDACTED_CACHE:
                    self._redacted.popitem(last=False)
        return out  # type: ignore[return-value]

    def _known(self, text: str, language: str | None) -> bool:
        keep = self.config.values.get("redact_keep") or []
        with self._redacted_lock:
            return (text, language, bool(self.config.querylog_redact_names), tuple(keep)) in self._redacted

    def _redact(self, texts: list[str], languages: list[str | None], keep: list[str]) -> list[tuple[str, int]]:
        nlp = None
        if self.config.querylog_redact_names:
            if self._nlp is None:
                from kb.sidework import Batcher
                from kb.text import load_ner

                model = load_ner(self.config.spacy_model) or False
                if model:  # searches that log at the same moment share one pass of the name model
                    lock = threading.Lock()
                    self._ner = Batcher(lambda: lock, lambda texts: list(model.pipe(texts, batch_size=len(texts))))
                self._nlp = model  # last: another thread that sees it finds the batcher ready
            nlp = self._nlp or None
        languages = [text_language(t, lang) if nlp is not None else lang for t, lang in zip(texts, languages, strict=True)]
        named = [i for i, lang in enumerate(languages) if nlp is not None and lang in NER_LANGUAGES]
        docs = dict(zip(named, self._ner.run([texts[i] for i in named]), strict=True)) if named else {}
        out = []
        for i, text in enumerate(texts):
            red, found = redact(text, nlp, doc=docs.get(i), keep=keep,
                                name_lists="query" if self.config.querylog_redact_names else None,
                                language=languages[i])
            out.append((red, len(found)))
        return out

    def log(self, query: str, results: Sequence[Any] = (), *, kind: str = "search", mode: str = "",
            user_id: str = "", agent: str = "", abstained: bool = False, confidence: float | None = None,
            top_score: float | None = None, ts: str | datetime | None = None,
            vector: np.ndarray | None = None, language: str | None = None) -> int | None:
        """Log one request; returns its id (None when logging is off).

        `results`: search `Hit`s, answer `Source`s or dicts with id, type, score, dense_score.
        `top_score`: the best cosine similarity between the query and the knowledge base; by
        default the best `dense_score` among the results (unknown for lexical-only searches).
        `vector`: the query's embedding, when the caller has it (stored only if redaction changed
        nothing, so that no vector of unredacted text is kept).
        """
        if not self.config.querylog_enabled:
            return None
        if kind not in REQUEST_KINDS:
            raise InputError(f"Unknown request kind {kind!r}", hint=f"use one of {', '.join(REQUEST_KINDS)}")
        text = " ".join(str(query or "").split())[:2000]
        if not text:
            return None
        items = [_result(r) for r in results][: max(0, int(self.config.querylog_results))]
        if top_score is None:
            dense = [r.dense_score for r in (_result(x) for x in results) if r.dense_score is not None]
            top_score = max(dense) if dense else None
        row = {"ts": iso(ts), "kind": kind, "mode": mode, "user_id": str(user_id or ""),
               "agent": str(agent or ""), "results": json.dumps([asdict(r) for r in items]),
               "top_score": None if top_score is None else float(top_score), "abstained": int(bool(abstained)),
               "confidence": None if confidence is None else float(confidence)}
        if self._later is not None and self._later.room() and not self._known(text, language):
            from kb.insights.deferred import PENDING

            qid = self.store.log_query({**row, "query": "", "query_hash": "", "redactions": PENDING})
            self._later.add(qid, text, language, vector)
            return qid
        red, n_red = self.redact(text, language)
        h = content_hash(red.lower())
        keep = (h, self._model_name(), np.asarray(vector, dtype=np.float32)) if vector is not None and n_red == 0 \
            else None
        return self.store.log_query({**row, "query": red, "query_hash": h, "redactions": n_red}, vector=keep)

    def _store_redacted(self, items: list[tuple], results: list[tuple[str, int]]) -> None:
        """Fill pending rows (`kb.insights.deferred`): items are (row id, text, language, vector)."""
        rows, vectors = [], {}
        for (qid, _text, _lang, vector), (red, n_red) in zip(items, results, strict=True):
            h = content_hash(red.lower())
            rows.append((qid, red, h, n_red))
            if vector is not None and n_red == 0:
                vectors[h] = np.asarray(vector, dtype=np.float32)
        self.store.fill_logged_queries(rows, vectors=vectors, model=self._model_name())

    def flush(self) -> int:
        """Redact and store the queries this log holds (a web server's, `defer`); how many."""
        return self._later.flush() if self._later is not None else 0

    def pending(self) -> int:
        """Queries held in memory, not yet redacted nor stored."""
        return self._later.pending() if self._later is not None else 0

    def log_search(self, query: str, hits: Sequence[Any], *, mode: str = "hybrid", **kw) -> int | None:
        """Log a `Searcher.search` call and its hits."""
        return self.log(query, hits, kind="search", mode=mode, **kw)

    def log_answer(self, question: str, answer: Any, **kw) -> int | None:
        """Log a suggested answer (`kb.answers.Answer`: abstained, confidence, sources).

        Pass `top_score=` (the best chunk cosine of the search behind the answer) when known; an
        answer is judged failed by its abstention and its feedback otherwise.
        """
        kw.setdefault("mode", getattr(answer, "engine", "") or "")
        return self.log(question, getattr(answer, "sources", []) or [], kind=kw.pop("kind", "answer"),
                        abstained=bool(getattr(answer, "abstained", False)),
                        confidence=getattr(answer, "confidence", None), **kw)

    def _event(self, query_id: int, kind: str, doc_id: str = "", user_id: str = "",
               ts: str | datetime | None = None) -> None:
        if not self.config.querylog_enabled:
            return
        self.store.add_query_event(int(query_id), kind, str(doc_id or ""), str(user_id or ""), iso(ts))

    def record_click(self, query_id: int, doc_id: str, *, user_id: str = "", ts: str | datetime | None = None) -> None:
        """Someone opened result `doc_id` of logged request `query_id`."""
        self._event(query_id, "click", doc_id, user_id, ts)

    def record_feedback(self, query_id: int, helpful: bool, *, doc_id: str = "", user_id: str = "",
                        ts: str | datetime | None = None) -> None:
        """Helpful / not helpful, on one result (`doc_id`) or on the answer as a whole (no doc_id)."""
        self._event(query_id, "helpful" if helpful else "not_helpful", doc_id, user_id, ts)

    def record_view(self, doc_id: str, *, user_id: str = "", source: str = "",
                    ts: str | datetime | None = None) -> None:
        """A document was opened (from search, an answer, a browse page, the editor ...)."""
        if not self.config.querylog_enabled:
            return
        self.store.add_doc_view(str(doc_id), str(user_id or ""), str(source or ""), iso(ts))

    # -- reading -----------------------------------------------------------------------------
    def entries(self, since: str | datetime | None = None, until: str | datetime | None = None, *,
                failed_below: float | None = None) -> list[LogEntry]:
        """Logged requests in [since, until), oldest first, with their clicks and feedback.

        `failed_below`: only requests that may have failed (abstained, top_score below this, no
        results, or marked not helpful), selected by the store so a large log is not read whole.
        """
        self.flush()  # this server's held queries first: what was asked a moment ago is in the report
        rows, events = self.store.query_rows(None if since is None else iso(since),
                                             None if until is None else iso(until), failed_below=failed_below)
        out = []
        for r in rows:
            ev = events.get(int(r["id"]), [])
            out.append(LogEntry(
                id=int(r["id"]), ts=r["ts"], kind=r["kind"], query=r["query"], query_hash=r["query_hash"],
                mode=r["mode"], user_id=r["user_id"], agent=r["agent"],
                results=[LoggedResult(**x) for x in json.loads(r["results"])], top_score=r["top_score"],
                abstained=bool(r["abstained"]), confidence=r["confidence"],
                clicks=[d for k, d in ev if k == "click"], helpful=[d for k, d in ev if k == "helpful"],
                not_helpful=[d for k, d in ev if k == "not_helpful"]))
        return out

    def count(self, since: str | datetime | None = None, until: str | datetime | None = None) -> int:
        self.flush()
        return self.store.count_queries(None if since is None else iso(since), None if until is None else iso(until))

    def count_unscored(self, since: str | datetime | None = None, until: str | datetime | None = None) -> int:
        """Requests without a similarity score (lexical-only searches, answers logged without one)."""
        self.flush()
        return self.store.count_queries(None if since is None else iso(since), None if until is None else iso(until),
                                        unscored=True)

    def last_views(self, doc_ids: Iterable[str] | None = None) -> dict[str, str]:
        """doc id -> time of its last recorded view."""
        wanted = set(doc_ids) if doc_ids is not None else None
        return {d: t for d, t in self.store.last_views().items() if wanted is None or d in wanted}

    def view_count(self) -> int:
        return self.store.view_count()

    # -- query vectors (derived, rebuildable) -------------------------------------------------
    def _model_name(self) -> str:
        """The name the query vectors are stored under: the knowledge base's model, as the embedder names it."""
        stored = self.store.get_meta("model")
        if stored:
            return stored
        return "all-MiniLM-L6-v2" if self.config.model in ("", "default") else str(self.config.model)

    def vectors(self, texts_by_hash: dict[str, str], embedder, *, batch: int = 512) -> dict[str, np.ndarray]:
        """Vectors of the given (redacted) queries: from the cache, the rest embedded once and cached."""
        model = getattr(embedder, "name", None) or self._model_name()
        hashes = list(texts_by_hash)
        out = self.store.query_vectors(model, hashes)
        todo = [h for h in hashes if h not in out]
        for i in range(0, len(todo), batch):
            part = todo[i:i + batch]
            vecs = embedder.encode_queries([texts_by_hash[h] for h in part])
            fresh = dict(zip(part, vecs, strict=True))
            self.store.put_query_vectors(model, fresh)
            out.update(fresh)
        return out

    def put_vectors(self, vectors: dict[str, np.ndarray], model: str | None = None) -> None:
        """Store query vectors by query hash (used by benchmarks and imports)."""
        self.store.put_query_vectors(model or self._model_name(), vectors)

    # -- retention ---------------------------------------------------------------------------
    def purge(self, retention_days: int | None = None, *, now: str | datetime | None = None,
              actor: str = "") -> dict[str, int]:
        """Delete requests, events and views older than the retention period, and unused query vectors
        (recorded in the erasure record with `actor` when anything went)."""
        days = int(self.config.querylog_retention_days if retention_days is None else retention_days)
        if days <= 0:
            return {"queries": 0, "events": 0, "views": 0, "vectors": 0}
        cutoff = iso(parse_ts(iso(now)) - timedelta(days=days))
        return {**self.store.purge_querylog(cutoff, actor=actor), "cutoff": cutoff}  # type: ignore[dict-item]
