"""A small thread pool for work a search hands off while it encodes the query (its lexical search):
one per process, started on first use, and started again in a forked child (a pre-forking WSGI
server forks after the parent may have searched; the parent's threads do not exist in the child, and
an inherited pool would wait for them forever)."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

_SIDE_POOL: ThreadPoolExecutor | None = None
_SIDE_LOCK = threading.Lock()
SIDE_THREADS = 4  # lexical searches running beside query encodes, per process


def side_pool() -> ThreadPoolExecutor:
    global _SIDE_POOL
    with _SIDE_LOCK:
        if _SIDE_POOL is None:
            _SIDE_POOL = ThreadPoolExecutor(max_workers=SIDE_THREADS, thread_name_prefix="deskbook-lexical")
        return _SIDE_POOL


def _forget_side_pool() -> None:
    """In a forked child (a pre-forking WSGI server) the pool's threads do not exist: start a new one."""
    global _SIDE_POOL, _SIDE_LOCK
    _SIDE_POOL, _SIDE_LOCK = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_side_pool)
