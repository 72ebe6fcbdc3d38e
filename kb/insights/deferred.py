"""Query-log redaction after the response: a web server's searches do not wait for the name model.

Redacting a logged query's person names runs spaCy's named-entity model, which under load took a
third of the web threads' time holding Python's lock (docs/benchmarks.md). A search does not need
it: what it returns does not depend on the log. So a web server (`querylog_defer` > 0) logs each
request as a *pending* row: no query text, no hash, `redactions = PENDING`, every other field as
usual (its id is returned at once, for clicks and feedback). The query text is held in this
process's memory only, and a side thread redacts the held queries together, in one pass of the name
model (per query of about 16 words: 2.4 ms in batches of 16, 1.6 ms in 64, 1.3 ms in 256, 1.4 ms in
1,024: docs/benchmarks.md), and fills the rows in one transaction:

- when searches pause (no new query for `QUIET_S`): a burst of searches is served first and its
  queries are redacted in the quiet after it;
- at once for queries held longer than `MAX_AGE_S` (a server that is never quiet redacts them in
  batches all the time), or when the server stops (`flush`).

Nothing unredacted is ever written: a query not yet redacted is only in memory, and a process that
is killed loses it (its row stays with an empty query; readers skip pending rows). At most
`querylog_defer` queries are held; beyond that a search redacts its own query before it is logged,
as without deferral. Not for short-lived processes (the CLI): they redact before they log.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

PENDING = -1  # `redactions` of a logged request whose query is not redacted (nor stored) yet
QUIET_S = 0.5  # no new query for this long: the server is quiet, redact what is held
MAX_AGE_S = 30.0  # a query held this long is redacted whether the server is quiet or not
BATCH = 256  # queries redacted in one pass of the name model


class DeferredRedaction:
    """Queries logged as pending rows, redacted and stored by a side thread (see the module's text).

    `redact_many(texts, languages)` -> [(redacted text, redactions)]; `store(items, results)` writes
    the redacted queries of `items` (`(row id, text, language, vector)`) in one transaction."""

    def __init__(self, limit: int, redact_many: Callable[[list[str], list[str | None]], list[tuple[str, int]]],
                 store: Callable[[list[tuple], list[tuple[str, int]]], None]):
        self.limit = max(0, int(limit))
        self._redact_many = redact_many
        self._store = store
        self._held: deque[tuple[float, tuple]] = deque()  # (time added, (row id, text, language, vector))
        self._cond = threading.Condition()
        self._last_add = 0.0
        self._pid = 0  # the process whose side thread is running (none in a forked child)
        self._busy = threading.Lock()  # one batch at a time: the side thread's, or a flush's

    def room(self) -> bool:
        """Whether one more query may be held (else the caller redacts it itself)."""
        return len(self._held) < self.limit

    def add(self, row_id: int, text: str, language: str | None, vector: Any = None) -> None:
        now = time.monotonic()
        with self._cond:
            self._held.append((now, (row_id, text, language, vector)))
            self._last_add = now
            if self._pid != os.getpid():
                self._pid = os.getpid()
                threading.Thread(target=self._run, name="deskbook-querylog-redaction", daemon=True).start()
            self._cond.notify()

    def pending(self) -> int:
        return len(self._held)

    def flush(self) -> int:
        """Redact and store every held query now (before reading the log, or when the server stops)."""
        done = 0
        while True:
            n = self._batch(wait=False)
            if not n:
                return done
            done += n

    # -- the side thread ----------------------------------------------------------------------
    def _due(self, now: float) -> bool:
        return bool(self._held) and (now - self._last_add >= QUIET_S or now - self._held[0][0] >= MAX_AGE_S)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._due(time.monotonic()):
                    if not self._held:
                        self._cond.wait()
                    else:  # until the server is quiet or the oldest query is due
                        now = time.monotonic()
                        self._cond.wait(max(0.01, min(self._last_add + QUIET_S, self._held[0][0] + MAX_AGE_S) - now))
            try:
                self._batch(wait=True)
            except Exception:  # noqa: BLE001 - the thread must keep serving; the batch is dropped, not stored unredacted
                log.exception("query log: redacting logged queries failed; their rows stay without a query")

    def _batch(self, *, wait: bool) -> int:
        """Redact and store up to BATCH held queries, oldest first; how many. The side thread (`wait`)
        only once they are due: then a full batch, so a server that is never quiet redacts in batches."""
        with self._busy:
            with self._cond:
                if wait and not self._due(time.monotonic()):
                    return 0
                items = [self._held.popleft()[1] for _ in range(min(BATCH, len(self._held)))]
            if not items:
                return 0
            try:
                results = self._redact_many([i[1] for i in items], [i[2] for i in items])
                self._store(items, results)
            except BaseException:
                log.warning("query log: %d logged queries could not be redacted; their rows stay without a query",
                            len(items))
                raise
            return len(items)
