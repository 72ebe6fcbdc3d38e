"""One batch of documents through the indexer: chunked and embedded (`prepare`), then stored in one
transaction (`store_batch`). The embedding of a batch runs on its own thread while the indexer chunks
the next batch and stores the one before: the model spends its time outside the GIL, and chunking
and SQLite writes took a sixth of an indexing run when they waited for it."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field

import numpy as np

from kb.models import Chunk, Document


@dataclass
class Prepared:
    plans: list[tuple[Document, list[Chunk]]]
    n_hashes: int
    vectors: dict[str, np.ndarray]  # reused by content hash (then every vector of the batch, once stored)
    todo: list[str]  # hashes embedded by `pending`, in its order
    pending: Future | None
    docs: int  # documents of the batch as it came (for the progress bar)
    before: Prepared | None = None  # the batch still being embedded, whose vectors this one shares
    shared: list[str] = field(default_factory=list)  # hashes that batch embeds for both


def prepare(store, embedder, chunker, batch: list[Document], embed_pool: Executor, docs: int,
            before: Prepared | None = None) -> Prepared:
    """Chunk the batch, reuse stored vectors by content hash (and those `before`, still being embedded,
    will have: a chunk repeated in the next batch is embedded once) and start embedding the rest."""
    plans = [(d, chunker.chunk(d)) for d in batch]
    hashes = [ch.hash_for(d.title) for d, chs in plans for ch in chs]
    vectors: dict[str, np.ndarray] = (store.vectors_by_hash(hashes)
                                      if hashes and store.vector_dim() == embedder.dim else {})
    coming = set(before.todo) if before is not None else set()
    todo: dict[str, str] = {}
    shared: dict[str, None] = {}
    for d, chs in plans:
        for ch in chs:
            h = ch.hash_for(d.title)
            if h in vectors or h in todo:
                continue
            if h in coming:
                shared[h] = None
            else:
                todo[h] = ch.embed_text(d.title)
    pending = embed_pool.submit(embedder.encode_documents, list(todo.values())) if todo else None
    return Prepared(plans, len(hashes), vectors, list(todo), pending, docs,
                    before=before if shared else None, shared=list(shared))


def store_batch(store, embedder, batch: Prepared, existing: dict, redactor, report,
                redact_history: Callable[[str], bool] = lambda doc_id: False) -> int:
    """Wait for the batch's vectors and store it in one transaction; returns how many documents were written.
    The batch it shares vectors with was stored first. `redact_history(id)`: whether an updated ticket's
    earlier versions need redacting (stored before redaction was on, or under older rules)."""
    vectors = batch.vectors
    if batch.pending is not None:
        vectors.update(zip(batch.todo, batch.pending.result(), strict=True))
    if batch.before is not None:
        vectors.update((h, batch.before.vectors[h]) for h in batch.shared)
        batch.before = None  # no chain of batches kept alive
    if not batch.plans:
        return 0
    with store.transaction():
        for d, chs in batch.plans:
            mat = (np.vstack([vectors[c.hash_for(d.title)] for c in chs]) if chs
                   else np.zeros((0, embedder.dim), dtype=np.float32))
            saved = store.save_document(d, chs, mat, by="indexer", note="indexed from " + d.source_path)
            if d.id in existing:
                report.updated += 1
                if redactor is not None and d.type == "ticket" and redact_history(d.id):
                    _redact_history(store, redactor, d.id, saved.version)
            else:
                report.added += 1
    report.chunks_embedded += len(batch.todo)
    report.chunks_reused += batch.n_hashes - len(batch.todo)
    return len(batch.plans)


def _redact_history(store, redactor, doc_id: str, current: int) -> None:
    """Earlier versions of a ticket stored before redaction was on, or before its current rules (new kinds of
    personal data): redacted in place; a version with nothing left to redact is not rewritten."""
    for v in store.document_versions(doc_id):
        if int(v["version"]) >= current:
            continue
        red = redactor.redact_version(store.get_version(doc_id, int(v["version"])))
        if red is not None:
            store.rewrite_version(doc_id, int(v["version"]), red)
