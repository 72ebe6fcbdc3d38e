"""Work a search shares with other threads.

- `side_pool`: a small thread pool for work a search hands off while it encodes the query (its
  lexical search): one per process, started on first use, and started again in a forked child (a
  pre-forking WSGI server forks after the parent may have searched; the parent's threads do not exist
  in the child, and an inherited pool would wait for them forever).
- `Batcher`: calls that wait for one resource (the embedding model, the name model) are served
  together, in one call over all their items: what a loaded server does many times at once costs less
  done once for many."""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from typing import Any

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


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_side_pool)


class _Request:
    __slots__ = ("items", "result", "error", "done")

    def __init__(self, items: list):
        self.items, self.result, self.error, self.done = items, None, None, False


class Batcher:
    """Serve callers that wait for one resource together: `run(items)` returns `fn(items)`, but the caller
    that gets the resource (`lock()`) runs `fn` once over every caller's items waiting then (up to
    `max_items`, its own among them) and hands each caller its slice of the result. A lone caller runs
    at once: nobody waits for a batch to fill. An error reaches every caller of its batch.

    No thread of its own (the callers do the work); in a forked child it starts with no waiting callers."""

    def __init__(self, lock: Callable[[], AbstractContextManager], fn: Callable[[list], Sequence[Any]],
                 max_items: int = 32):
        self._lock = lock
        self._fn = fn
        self.max_items = max(1, int(max_items))
        self._pending: list[_Request] = []
        self._mutex = threading.Lock()
        _BATCHERS.add(self)

    def _after_fork(self) -> None:
        self._pending, self._mutex = [], threading.Lock()

    def run(self, items: list) -> Any:
        req = _Request(list(items))
        with self._mutex:
            self._pending.append(req)
        while not req.done:
            with self._lock():
                if req.done:  # served by the caller that had the resource before us
                    break
                with self._mutex:
                    batch, n = [], 0
                    while self._pending and (not batch or n + len(self._pending[0].items) <= self.max_items):
                        r = self._pending.pop(0)
                        batch.append(r)
                        n += len(r.items)
                try:
                    out = self._fn([x for r in batch for x in r.items])
                except BaseException as exc:  # noqa: BLE001 - handed to every caller of the batch
                    for r in batch:
                        r.error, r.done = exc, True
                else:
                    pos = 0
                    for r in batch:
                        r.result, r.done = out[pos:pos + len(r.items)], True
                        pos += len(r.items)
        if req.error is not None:
            raise req.error
        return req.result
