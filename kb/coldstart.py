"""A one-off search from a cold process: load what it needs side by side, not one after another.

A `deskbook search` from the shell loads the language detector (lingua's trigram models, 0.08 s, and
for a query they are unsure of the full models, ~1.5 s for English, German and Turkish), the query
encoder (~0.4 s), the vector index file (~0.35 s at 100k chunks) and the chunk ids the agents' filter
allows (~0.25 s at 100k), each when the search first needs it.
`preload` starts them all at once on side threads: lingua and ONNX Runtime do their work outside the
GIL, so on two cores they overlap. The search then waits for each where it needs it (the embedder and
the filter's ids behind the searcher's locks, the index behind its own, the detector behind
`kb.lang`'s). A preload that fails leaves the error to the search itself, which raises it as usual.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from kb.storage import SearchFilters

log = logging.getLogger(__name__)


def _quietly(name: str, job: Callable[[], object]) -> Callable[[], None]:
    def run() -> None:
        try:
            job()
        except Exception as exc:  # noqa: BLE001 - the search meets the same error and reports it
            log.debug("preloading %s failed: %s", name, exc)
    return run


def preload(searcher, query: str, mode: str = "hybrid", filters: SearchFilters | None = None
            ) -> list[threading.Thread]:
    """Start loading what `searcher.find(query, mode=mode)` with these filters will need; returns the
    threads (daemons: a search that fails early does not wait for them). The query's languages are read
    as the search will read them, so the detector it needs is the one loaded (`kb.lang.likely_languages`:
    the quick one, and the full one only for a query the quick one is unsure of)."""
    jobs: list[tuple[str, Callable[[], object]]] = []
    if mode != "dense":
        jobs.append(("language detector", lambda: searcher.parse(query)))
    if mode != "lexical" and searcher.store.vector_dim() is not None:
        jobs.append(("query encoder", lambda: searcher.encode_query(query)))
        jobs.append(("vector index", searcher.index.refresh))
    if filters:
        jobs.append(("filter", lambda: searcher.filter_ids(filters)))
    threads = [threading.Thread(target=_quietly(name, job), name=f"deskbook-preload-{i}", daemon=True)
               for i, (name, job) in enumerate(jobs)]
    for t in threads:
        t.start()
    return threads
