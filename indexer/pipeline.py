"""The indexing pipeline: read -> chunk -> embed (only what changed) -> store -> FAISS.

Re-running on an unchanged corpus embeds nothing; an edited SOP re-embeds only its changed
chunks (vectors are reused by content hash); files that disappeared are removed and reported;
changing the embedding model re-embeds everything. Safe to interrupt and re-run: documents are
embedded and committed in batches of `BATCH_DOCS`, so the next run finds what was committed unchanged
and embeds only the rest. Tickets are redacted before anything is stored (`indexer.privacy`). A
bad file, row or id (a duplicate, or an SOP's id reused by a ticket) is reported and skipped; the
rest is indexed.
"""

from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from indexer.batches import prepare, store_batch
from indexer.chunk import CHUNKER_VERSION, Chunker
from indexer.privacy import TicketRedactor, mark_redacted, rules_changed, stored_to_redact_again
from indexer.readers import READERS, discover, read_tickets
from kb.analysis import ANALYZER_VERSION
from kb.errors import DeskbookError, InputError
from kb.models import Document

BATCH_DOCS = 64  # documents redacted, chunked, embedded and committed together


@dataclass
class IndexReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    chunks_embedded: int = 0
    chunks_reused: int = 0
    files: int = 0
    seconds: float = 0.0
    removed_ids: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # files or rows skipped, with the reason
    notes: list[str] = field(default_factory=list)
    reembedded_all: bool = False

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        line = (f"documents: {self.added} added, {self.updated} updated, {self.unchanged} unchanged, "
                f"{self.removed} removed; chunks embedded: {self.chunks_embedded} "
                f"(reused {self.chunks_reused}); {self.seconds:.1f} s")
        if self.errors:
            line += f"; {len(self.errors)} skipped with errors"
        return line


class Progress:
    """A tqdm bar on stderr (counts and rate), quiet when disabled."""

    def __init__(self, enabled: bool):
        self.enabled = enabled

    def bar(self, total: int, desc: str, unit: str):
        if not self.enabled:
            return _NullBar()
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True, leave=True)


class _NullBar:
    def update(self, n=1):
        pass

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def make_chunker(config, embedder) -> Chunker:
    """A chunker whose sentence splitter (spaCy, a second to load) is loaded the first time a block is too
    long for one chunk, which few documents have."""
    from kb.text import nlp_for_language

    return Chunker(embedder.count_tokens, max_tokens=config.chunk_max_tokens, model_max_tokens=embedder.max_tokens,
                   overlap_sentences=config.chunk_overlap_sentences,
                   nlp_for=lambda lang: nlp_for_language(lang, config.spacy_model),
                   language_of=lambda doc: doc.language or "en")


def read_sources(paths: list[Path], field_map: dict[str, str], report: IndexReport,
                 progress: Progress, stored: dict[str, str] | None = None) -> tuple[list[Document], set[str]]:
    """Every document under `paths`; unreadable files, bad rows and repeated ids are reported and skipped.
    Of two files with one id, the one the stored document came from (`stored`: id -> source path) is
    kept, else the first read."""
    stored = stored or {}
    files, notes = discover(paths)
    report.notes.extend(notes)
    report.files = len(files)
    docs: list[Document] = []
    seen: dict[str, tuple[str, int]] = {}  # id -> (where, index in docs)
    read_paths: set[str] = set()
    with progress.bar(len(files), "reading", "file") as bar:
        for src in files:
            try:
                if src.kind in READERS:
                    items = [READERS[src.kind](src)]
                else:
                    items = list(read_tickets(src, field_map))
                read_paths.add(str(src.path.resolve()))
            except InputError as exc:
                report.errors.append(str(exc))
                bar.update(1)
                continue
            for item in items:
                if isinstance(item, InputError):
                    report.errors.append(str(item))
                    continue
                where = f"{src.path}" + (f" (ticket {item.id})" if item.type == "ticket" else "")
                if item.id in seen:
                    kept, at = seen[item.id]
                    skipped = where
                    if stored.get(item.id) == item.source_path:  # the file the stored document came from
                        docs[at] = item
                        seen[item.id] = (where, at)
                        kept, skipped = where, kept
                    report.errors.append(f"Duplicate document id {item.id!r}: in {kept} and in {skipped}; "
                                         f"{skipped} was skipped (ids must be unique across the knowledge base: "
                                         "change one `id`)")
                    continue
                seen[item.id] = (where, len(docs))
                docs.append(item)
            bar.update(1)
    return docs, read_paths


def _under(path: str, roots: list[Path]) -> bool:
    p = Path(path)
    for r in roots:
        r = r.resolve()
        if p == r or r in p.parents:
            return True
    return False


def _collisions(docs: list[Document], existing: dict[str, tuple], read_paths: set[str],
                report: IndexReport) -> list[Document]:
    """The documents whose id is free or theirs already; the others are reported and skipped, so a
    ticket never turns an SOP into a ticket and a file never replaces an SOP written in the web app."""
    out = []
    for d in docs:
        old = existing.get(d.id)
        if old is not None:
            _, otype, osrc, *_ = old
            problem = None
            if otype != d.type:
                problem = (f"is already the id of {'an SOP' if otype == 'sop' else 'a ticket'}"
                           + (f" ({osrc})" if osrc else " written in the web app"))
            elif not osrc and d.source_path:
                problem = "is already the id of an SOP written in the web app"
            elif osrc and osrc != d.source_path and Path(osrc).exists() and osrc not in read_paths:
                problem = f"is already used in {osrc}"
            if problem:
                report.errors.append(f"{d.source_path}: document id {d.id!r} {problem}; skipped (ids are unique "
                                     "across the knowledge base: change one `id`)")
                continue
        out.append(d)
    return out


def index_paths(store, embedder, config, paths: list[str | Path], *, field_map: dict[str, str] | None = None,
                progress: bool = True, reembed: bool = False, remove_missing: bool = True) -> IndexReport:
    """Index SOP folders/files and ticket files into `store`. See the module docstring."""
    t0 = time.perf_counter()
    report = IndexReport()
    prog = Progress(progress)
    roots = [Path(p) for p in paths]
    missing = [str(p) for p in roots if not p.exists()]
    if missing:
        raise InputError(f"No such file or folder: {', '.join(missing)}", hint="check the path; nothing was written")
    if not roots:
        raise InputError("Nothing to index", hint="give one or more folders of SOPs or ticket files")

    # A change of model (or an explicit --reembed) re-embeds every stored chunk first; a re-embedding
    # that was interrupted goes on where it stopped.
    stored_model = store.get_meta("model")
    pending = store.get_meta("reembed_pending")
    if pending or reembed or (stored_model and stored_model != embedder.name) or (
            store.vector_dim() not in (None, embedder.dim)):
        report.reembedded_all = bool(store.count_chunks())
        _reembed_all(store, embedder, prog, report, resume=pending == embedder.name and not reembed)
    store.set_meta("model", embedder.name)
    store.set_meta("chunker", CHUNKER_VERSION)

    existing = store.document_hashes()
    docs, read_paths = read_sources(roots, field_map or {}, report, prog,
                                    stored={i: v[2] for i, v in existing.items() if v[2]})
    seen_ids = {d.id for d in docs}
    docs = _collisions(docs, existing, read_paths, report)
    analyzer_changed = store.get_meta("lexical_analyzer") != ANALYZER_VERSION
    assign_languages(docs, existing, config, redetect=analyzer_changed)
    redactor = TicketRedactor(config) if config.redact_pii else None
    redacted_before = store.source_hashes("ticket") if redactor else {}

    changed: list[Document] = []
    for d in docs:
        old = existing.get(d.id)
        if redactor is not None and d.type == "ticket":
            if old is not None and redacted_before.get(d.id) == redactor.fingerprint(d):
                report.unchanged += 1
            else:
                changed.append(d)  # redacted in its batch below
        elif old is None:
            changed.append(d)
        elif old[0] == d.hash or _edited_since_import(store, d):
            report.unchanged += 1
        else:
            changed.append(d)

    # earlier versions to redact: tickets stored before redaction was on, or all of them under newer rules
    newer_rules = redactor is not None and rules_changed(store)

    def redact_history(doc_id: str) -> bool:
        return newer_rules or doc_id not in redacted_before

    if newer_rules:  # stored tickets this run does not read again (uploads whose file is gone)
        again = stored_to_redact_again(store, redactor, [i for i, v in existing.items()
                                                         if v[1] == "ticket" and i not in seen_ids],
                                       bar=lambda n: prog.bar(n, "stored tickets, newer redaction rules", "ticket"))
        changed.extend(again)
        if again:
            report.notes.append(f"{len(again)} stored tickets redacted again: the redaction rules are newer than "
                                "they are (addresses, postcodes ...)")
    # Batches of documents: redact, chunk, embed what is new (vectors are reused by content hash) and
    # commit, so an interrupted run keeps every batch it finished and the next run embeds only the rest.
    # Redaction (the name model) of the next batch runs on a side thread while this one is chunked,
    # embedded and stored, and each batch is embedded on a thread of its own while the next is chunked and
    # the one before stored (indexer.batches).
    # SOPs (nothing to redact) come first in batches of their own: they are embedded while the side
    # thread loads the name model and redacts the first tickets.
    batches = [kind[i:i + BATCH_DOCS] for kind in ([d for d in changed if d.type != "ticket"],
                                                   [d for d in changed if d.type == "ticket"])
               for i in range(0, len(kind), BATCH_DOCS)]
    indexed = 0
    with prog.bar(len(changed), "indexing", "doc") as bar, ThreadPoolExecutor(1, "deskbook-redact") as side, \
            ThreadPoolExecutor(1, "deskbook-embed") as embed_pool:
        ahead = side.submit(redactor.redact, batches[0], detected=True) if redactor is not None and batches else None
        chunker = make_chunker(config, embedder) if changed else None
        prev = None  # the batch being embedded while the next is chunked
        for j, batch in enumerate(batches):
            n = len(batch)
            if ahead is not None:
                batch = ahead.result()
                ahead = side.submit(redactor.redact, batches[j + 1], detected=True) if j + 1 < len(batches) else None
                same = [d for d in batch if d.id in existing and existing[d.id][0] == d.hash]
                report.unchanged += len(same)
                batch = [d for d in batch if not (d.id in existing and existing[d.id][0] == d.hash)]
            try:
                cur = prepare(store, embedder, chunker, batch, embed_pool, n, before=prev)
            finally:  # the batch before is stored even when this one fails (or is interrupted) here
                if prev is not None:
                    indexed += store_batch(store, embedder, prev, existing, redactor, report, redact_history)
                    bar.update(prev.docs)
            prev = cur
        if prev is not None:
            indexed += store_batch(store, embedder, prev, existing, redactor, report, redact_history)
            bar.update(prev.docs)

    if newer_rules:
        mark_redacted(store)
    if remove_missing:
        for doc_id, (_, _, source, _) in existing.items():
            if doc_id in seen_ids or not source:
                continue
            # Only documents that came from the files/folders indexed now, and whose file is gone
            # or no longer holds them, are removed. A file that failed to read keeps its documents.
            if _under(source, roots) and (not Path(source).exists() or source in read_paths):
                store.delete_document(doc_id, by="indexer", note="source file removed")
                report.removed += 1
                report.removed_ids.append(doc_id)

    if analyzer_changed or store.get_meta("lexical_analyzer") != ANALYZER_VERSION:
        with prog.bar(store.count_chunks(), "lexical index", "chunk") as bar:
            store.reanalyse_lexical(progress=bar.update)

    from kb.ann import VectorIndex

    index = VectorIndex(store, config, model_name=embedder.name)
    if indexed or report.removed or report.reembedded_all or not index.path.exists():
        index.rebuild(progress=progress)
    else:
        index.refresh()
    report.seconds = round(time.perf_counter() - t0, 3)
    return report


def assign_languages(docs: list[Document], existing: dict[str, tuple], config, *, redetect: bool = False) -> None:
    """Set each document's `language`: its `language` field (front matter, ticket column) wins; an unchanged
    document keeps the language it was stored with; the rest are detected among the `languages` setting
    (`redetect`: every document without a field, after the analyzer changed)."""
    from kb.lang import detect_language, normalize_code

    languages = list(config.languages or ["en"])
    default = normalize_code(config.default_language) or "en"
    for d in docs:
        given = normalize_code(str(d.metadata.get("language") or ""))
        if given:
            d.language = given
            continue
        old = existing.get(d.id)
        if old is not None and not redetect:
            d.language = old[3] or "en"
            if d.hash == old[0]:
                continue
        d.language = detect_language(f"{d.title}\n{d.body[:3000]}", languages, default=default)


def document_language_of(doc: Document, config) -> str:
    """One document's language (web edits): its `language` field, else detected."""
    from kb.lang import document_language, normalize_code

    return document_language(doc, list(config.languages or ["en"]),
                             default=normalize_code(config.default_language) or "en")


def _edited_since_import(store, d: Document) -> bool:
    """True when the stored SOP was edited elsewhere (the web app) and its file has not changed
    since it was imported: the newer edit is kept rather than overwritten by the old file."""
    if d.type != "sop" or "source_hash" not in d.metadata:
        return False
    stored = store.get_document(d.id)
    return (stored.updated_by not in ("", "indexer")
            and stored.metadata.get("source_hash") == d.metadata["source_hash"])


def reembed_store(store, embedder, config, *, progress: bool = True) -> IndexReport:
    """Re-embed every stored chunk with `embedder` (after the model changed) and rebuild the FAISS file."""
    from kb.ann import VectorIndex

    report = IndexReport(reembedded_all=True)
    _reembed_all(store, embedder, Progress(progress), report)
    store.set_meta("model", embedder.name)
    VectorIndex(store, config, model_name=embedder.name).rebuild(progress=progress)
    return report


def _reembed_all(store, embedder, prog: Progress, report: IndexReport, *, resume: bool = False) -> None:
    """Re-embed every stored chunk with the configured model (the text is already in the store), in
    committed batches; `resume` goes on after an interrupted run (chunks that have a vector keep it)."""
    if not resume:
        with store.transaction():
            store.drop_vectors()
            store.set_meta("reembed_pending", embedder.name)
    store.ensure_vector_table(embedder.dim)
    docs = {d.id: d for d in store.list_documents()}
    items = [(c, d.title) for d in docs.values() for c in store.get_chunks(d.id)]
    with prog.bar(len(items), "re-embedding", "chunk") as bar:
        for i in range(0, len(items), 512):
            part = items[i:i + 512]
            if resume:
                have = set(store.get_vectors([c.id for c, _ in part])[0].tolist())
                part = [(c, t) for c, t in part if c.id not in have]
            if part:
                vecs = embedder.encode_documents([c.embed_text(t) for c, t in part])
                store.put_vectors([c.id for c, _ in part], vecs)
                report.chunks_embedded += len(part)
            bar.update(len(items[i:i + 512]))
    store.set_meta("reembed_pending", "")


def reindex_document(store, embedder, config, doc: Document, *, by: str = "", note: str = "",
                     expected_version: int | None = None) -> Document:
    """Save one document (e.g. an SOP edited in the web app) and make it searchable at once."""
    if store.get_meta("model") not in (None, embedder.name):
        raise DeskbookError("The knowledge base was embedded with another model",
                            hint="run `deskbook index` to re-embed before editing")
    doc.language = document_language_of(doc, config)
    chunks = make_chunker(config, embedder).chunk(doc)
    hashes = [c.hash_for(doc.title) for c in chunks]
    reuse = store.vectors_by_hash(hashes)
    todo = [c.embed_text(doc.title) for c, h in zip(chunks, hashes, strict=True) if h not in reuse]
    fresh = iter(embedder.encode_documents(todo)) if todo else iter(())
    mat = np.vstack([reuse[h] if h in reuse else next(fresh) for h in hashes]) if chunks else None
    store.set_meta("model", embedder.name)
    return store.save_document(doc, chunks, mat, by=by, note=note, expected_version=expected_version)
