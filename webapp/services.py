"""The shared services of one web app: built once in `create_app`, kept in `app.extensions["deskbook"]`.

The embedding model, the FAISS index and the answer engine load once per process, not per request.
The store hands out one connection per thread (SQLite) or from a pool (PostgreSQL), so waitress's
threads share these objects safely. With SQLite (or `web_job_threads` > 0) this process also runs
background jobs, from the same database queue `deskbook worker` processes use.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from typing import Any

from flask import current_app

from webapp.accounts import Accounts
from webapp.conversations import Conversations
from webapp.jobs import Jobs

log = logging.getLogger("deskbook.web")


class Services:
    def __init__(self, config, *, store=None, embedder=None):
        from kb.jobs import Worker, web_job_threads
        from kb.search import Searcher
        from kb.storage import open_store

        self.config = config
        self.store = store if store is not None else open_store(config.database, pool_size=config.pg_pool_size)
        self._embedder = embedder
        self.searcher = Searcher(self.store, config, embedder, resident=True)
        self.accounts = Accounts(self.store, session_hours=config.session_hours)
        self.jobs = Jobs(self.store, config)
        self.conversations = Conversations(self.store, config, self.accounts)
        self._answerer = None
        self._assistant = None
        self._lock = threading.RLock()
        self.warmed = threading.Event()  # set once `deskbook serve` has warmed up (/healthz says "warm")
        self._search_cache: OrderedDict[tuple, dict[str, Any]] = OrderedDict()
        self._querylog = None
        self._cpu_slots = threading.BoundedSemaphore(search_concurrency(config))
        self.worker = None
        threads = web_job_threads(config, self.store.backend)
        if threads or self.store.backend == "sqlite":
            from indexer.jobs import clean_stale_uploads

            clean_stale_uploads(self.store, config)  # uploads a killed job left on this machine's disk
        if threads:
            nice = int(config.import_process_nice)
            self.worker = Worker(self.store, config, embedder=embedder, searcher=self.searcher,
                                 isolate_nice=nice if nice >= 0 else None)
            self.worker.start(threads)

    # -- models ------------------------------------------------------------------------------
    @property
    def embedder(self):
        if self._embedder is None:
            with self._lock:
                if self._embedder is None:
                    self._embedder = self.searcher.embedder
        return self._embedder

    @property
    def answerer(self):
        """The configured answer engine (kb.answers), built once."""
        if self._answerer is None:
            with self._lock:
                if self._answerer is None:
                    from kb.answers import get_answerer

                    self._answerer = get_answerer(self.searcher, self.config)
        return self._answerer

    @property
    def assistant(self):
        if self._assistant is None:
            with self._lock:
                if self._assistant is None:
                    from kb.answers import Answerer
                    from kb.assist import Assistant

                    base = self.answerer
                    base = base if isinstance(base, Answerer) else getattr(base, "answerer", base)
                    self._assistant = Assistant(base, self.config)
        return self._assistant

    def warm(self) -> None:
        """Load the model, the FAISS index and the answer cache now (`deskbook serve` runs this at start); the
        model is exported for fast queries the first time on this machine (kb.embed_onnx)."""
        _ = getattr(self.embedder, "model", None)  # documents (SOP edits, imports, QA) are encoded by it
        if hasattr(self.embedder, "prepare_queries"):
            self.embedder.prepare_queries()
        if self.config.vector_search == "pgvector":
            self.store.ensure_vector_index()
        else:
            self.searcher.index.refresh()
        if self.searcher.memory is not None:  # the in-memory lexical index, built on a side thread
            self.searcher.lexical_copy()
        try:
            # loads the language detector's models (a text too short to detect would load none: the first
            # search paid 0.9 s for them)
            self.searcher.parse("where is my parcel, it has not arrived yet")
            if self.config.querylog_enabled:
                self.querylog.redact("warm up")  # loads the name model once, before searches need it
            self.answerer.warm()
        except Exception:  # noqa: BLE001 - warming is an optimisation; the first request will do it
            log.exception("could not warm the answer engine")

    def cpu_slot(self) -> threading.BoundedSemaphore:
        """Held around the CPU-bound work of a search request (encode, rank, snippets, query-log redaction).

        The WSGI server runs more threads than there are cores (they also wait on the network and the
        database); letting all of them compute at once makes them fight over the interpreter lock, and the
        thread that holds the model waits behind the others: measured with 16 clients, 8 threads and 2
        cores, unlimited searches ran at a fraction of the rate of a bare encode (docs/benchmarks.md)."""
        return self._cpu_slots

    # -- search with a small cache (typing sends the same query again and again) ------------------
    def search(self, query: str, *, k: int, mode: str, types: tuple[str, ...], tags: tuple[str, ...],
               sop_statuses: tuple[str, ...] = ()) -> list[dict]:
        """Hits as dicts; `sop_statuses` as kb.search takes it (agents: published only)."""
        return self.find(query, k=k, mode=mode, types=types, tags=tags, sop_statuses=sop_statuses)["results"]

    def find(self, query: str, *, k: int, mode: str, types: tuple[str, ...], tags: tuple[str, ...],
             sop_statuses: tuple[str, ...] = ()) -> dict[str, Any]:
        """`Searcher.find` as a dict (results, weak_match, best_score, languages), from a small cache."""
        key = (query, k, mode, types, tags, sop_statuses, self.store.vectors_generation(), self._status_stamp())
        with self._lock:
            hit = self._search_cache.get(key)
            if hit is not None:
                self._search_cache.move_to_end(key)
                return hit
        found = self.searcher.find(query, k=k, mode=mode, types=types, tags=tags,
                                   sop_statuses=sop_statuses).to_dict()
        with self._lock:
            self._search_cache[key] = found
            while len(self._search_cache) > 512:
                self._search_cache.popitem(last=False)
        return found

    def _status_stamp(self) -> str:
        """Changes when an SOP is published or archived (which changes no vector), so cached
        searches are not served from before it."""
        return self.store.generations()[1]

    # -- query log (kb.insights.querylog): what was asked, clicked, found helpful ------------------------
    @property
    def querylog(self):
        if self._querylog is None:
            from kb.insights.querylog import QueryLog

            self._querylog = QueryLog(self.store, self.config, defer=int(self.config.querylog_defer))
        return self._querylog

    def log_call(self, method: str, *args, strict: bool = False, **kwargs) -> Any:
        """Call a QueryLog method. A logging failure never breaks a search or a page: it is logged
        and skipped, unless `strict` (feedback on a query that does not exist is the caller's error)."""
        ql = self.querylog
        if ql is None:
            return None
        try:
            return getattr(ql, method)(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001
            from kb.errors import DeskbookError

            if strict and isinstance(exc, DeskbookError):
                raise
            log.warning("query log: %s failed: %s", method, exc)
            return None

    def close(self) -> None:
        if self.worker is not None:
            self.worker.stop()
        if self._querylog is not None:
            self.log_call("flush")  # queries held for redaction are stored before the server goes


AUTO_PER_CORE = 4  # bench_load, 2 cores, 16 clients: 2 / 4 / 8 at once gave 0.61 / 0.74 / 0.77 of the ceiling


def search_concurrency(config) -> int:
    """The `search_concurrency` setting: a number, or auto = 4 per core (searches that wait for the model
    together are encoded in one call: kb.embed.query_batcher)."""
    import os

    value = str(getattr(config, "search_concurrency", "auto")).strip().lower()
    if value in ("", "auto", "0"):
        return max(1, AUTO_PER_CORE * (os.cpu_count() or 1))
    return max(1, int(value))


def encode_slots(config) -> int:
    """The `query_encode_slots` setting (at least 1)."""
    return max(1, int(getattr(config, "query_encode_slots", 1) or 1))


def services() -> Services:
    return current_app.extensions["deskbook"]
