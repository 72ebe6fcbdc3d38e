"""Documents, versions and chunks: the SQL both backends share. Vectors and lexical search are the
backend's (`_insert_chunk`, `_delete_chunk_rows`, `_put_vector_rows`, `_tags_filter`, ...)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from kb.analysis import ANALYZER_VERSION, LexicalQuery, get_analyzer
from kb.errors import ConflictError, NotFoundError, SchemaError
from kb.models import Chunk, Document
from kb.storage.records import NO_FILTERS, SearchFilters, now_iso

_VERSION_COLUMNS = ("doc_id, version, title, body, tags, owner, status, review_by, metadata, content_hash, "
                    "created_at, created_by, note, deleted, language")


def row_to_document(r: dict[str, Any]) -> Document:
    return Document(
        id=r["id"], type=r["type"], title=r["title"], body=r["body"], source_path=r["source_path"],
        tags=json.loads(r["tags"]), owner=r["owner"], status=r["status"], review_by=r["review_by"],
        metadata=json.loads(r["metadata"]), version=r["version"], updated_at=r["updated_at"],
        updated_by=r["updated_by"], language=r.get("language") or "en")


def row_to_chunk(r: dict[str, Any]) -> Chunk:
    return Chunk(doc_id=r["doc_id"], ord=r["ord"], heading=r["heading"], text=r["text"], start=r["start_char"],
                 end=r["end_char"], kind=r["kind"], id=r["id"])


def lexical_columns(doc: Document, ch: Chunk) -> tuple[str, str, str]:
    """The analysed title, heading and text of a chunk: what lexical search indexes."""
    a = get_analyzer(doc.language or "en")
    return a.index_text(doc.title), a.index_text(ch.heading), a.index_text(ch.text)


class DocumentsSql:
    """Shared document and chunk SQL; see the module docstring for what the backend adds."""

    def _document_filters(self, filters: SearchFilters, alias: str = "d") -> tuple[list[str], list[Any]]:
        where: list[str] = []
        params: list[Any] = []
        if filters.types:
            where.append(f"{alias}.type IN ({self._in(filters.types)})")
            params.extend(filters.types)
        if filters.statuses:
            where.append(f"lower({alias}.status) IN ({self._in(filters.statuses)})")
            params.extend(s.lower() for s in filters.statuses)
        if filters.sop_statuses:
            wanted = sorted({s.lower() for s in filters.sop_statuses} | ({""} if "published" in filters.sop_statuses
                                                                           else set()))
            where.append(f"({alias}.type <> 'sop' OR lower({alias}.status) IN ({self._in(wanted)}))")
            params.extend(wanted)
        for t in filters.tags:
            where.append(self._tag_filter(alias))
            params.append(t)
        return where, params

    # -- documents ---------------------------------------------------------------------------
    def get_document(self, doc_id: str) -> Document:
        row = self._row("SELECT * FROM documents WHERE id = ?", (doc_id,))
        if row is None:
            raise NotFoundError(f"No document with id {doc_id!r}")
        return row_to_document(row)

    def has_document(self, doc_id: str) -> bool:
        return self._row("SELECT 1 AS x FROM documents WHERE id = ?", (doc_id,)) is not None

    def list_documents(self, type: str | None = None) -> list[Document]:
        if type:
            return [row_to_document(r) for r in self._rows("SELECT * FROM documents WHERE type = ? ORDER BY id", (type,))]
        return [row_to_document(r) for r in self._rows("SELECT * FROM documents ORDER BY id")]

    def document_hashes(self) -> dict[str, tuple[str, str, str, str]]:
        """id -> (content_hash, type, source_path, language) for every document."""
        return {r["id"]: (r["content_hash"], r["type"], r["source_path"], r["language"])
                for r in self._rows("SELECT id, content_hash, type, source_path, language FROM documents")}

    def count_documents(self) -> dict[str, int]:
        return {r["type"]: int(r["n"]) for r in self._rows("SELECT type, count(*) AS n FROM documents GROUP BY type")}

    def _add_version(self, doc: Document, version: int, ts: str, by: str, note: str, deleted: int = 0) -> None:
        self._exec(f"INSERT INTO document_versions({_VERSION_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                   (doc.id, version, doc.title, doc.body, json.dumps(doc.tags), doc.owner, doc.status, doc.review_by,
                    json.dumps(doc.metadata, sort_keys=True), doc.hash, ts, by, note, deleted, doc.language or "en"))

    def save_document(self, doc: Document, chunks: list[Chunk], vectors: np.ndarray | None, *,
                      by: str = "", note: str = "", expected_version: int | None = None) -> Document:
        """Insert or replace a document with its chunks and their vectors, as one transaction.

        A new version is recorded in `document_versions`; the previous ones stay. With
        `expected_version`, the write is refused (ConflictError) when someone saved in between.
        """
        ts = now_iso()
        with self.transaction():
            row = self._row(f"SELECT version, created_at FROM documents WHERE id = ?{self._for_update}", (doc.id,))
            current = row["version"] if row else 0
            if expected_version is not None and expected_version != current:
                raise ConflictError(
                    f"{doc.id} was changed by someone else (you edited version {expected_version}, "
                    f"the current version is {current})",
                    hint="compare both texts and save again on top of the current version")
            last = self._value("SELECT max(version) AS v FROM document_versions WHERE doc_id = ?", (doc.id,))
            version = max(current, last or 0) + 1
            created = row["created_at"] if row else ts
            self._exec(
                """INSERT INTO documents(id, type, title, body, source_path, tags, owner, status, review_by, metadata,
                       content_hash, version, created_at, updated_at, updated_by, language)
                   VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
                   ON CONFLICT(id) DO UPDATE SET type=excluded.type, title=excluded.title, body=excluded.body,
                       source_path=excluded.source_path, tags=excluded.tags, owner=excluded.owner,
                       status=excluded.status, review_by=excluded.review_by, metadata=excluded.metadata,
                       content_hash=excluded.content_hash, version=excluded.version,
                       updated_at=excluded.updated_at, updated_by=excluded.updated_by, language=excluded.language""",
                (doc.id, doc.type, doc.title, doc.body, doc.source_path, json.dumps(doc.tags), doc.owner,
                 doc.status, doc.review_by, json.dumps(doc.metadata, sort_keys=True), doc.hash, version, created,
                 ts, by, doc.language or "en"))
            self._add_version(doc, version, ts, by, note)
            self._replace_chunks(doc, chunks, vectors)
        return self.get_document(doc.id)

    def update_document_fields(self, doc_id: str, *, by: str = "", note: str = "", **fields: Any) -> Document:
        """Change metadata (status, review_by, owner, tags) without touching the text or chunks."""
        bad = set(fields) - {"status", "review_by", "owner", "tags"}
        if bad:
            raise ValueError(f"cannot update {sorted(bad)}")
        ts = now_iso()
        with self.transaction():
            # the row is locked (PostgreSQL; SQLite's write lock is the transaction's) so that two
            # concurrent changes get versions n+1 and n+2, never the same number twice
            if self._row(f"SELECT version FROM documents WHERE id = ?{self._for_update}", (doc_id,)) is None:
                raise NotFoundError(f"No document with id {doc_id!r}")
            doc = self.get_document(doc_id)
            for k, v in fields.items():
                setattr(doc, k, v)
            last = self._value("SELECT max(version) AS v FROM document_versions WHERE doc_id = ?", (doc_id,))
            version = max(doc.version, last or 0) + 1
            self._exec("UPDATE documents SET status=?, review_by=?, owner=?, tags=?, content_hash=?, version=?, "
                       "updated_at=?, updated_by=? WHERE id=?",
                       (doc.status, doc.review_by, doc.owner, json.dumps(doc.tags), doc.hash, version, ts, by, doc_id))
            self._add_version(doc, version, ts, by, note)
            self._bump_meta("fields_generation")  # status or tags changed: cached searches are stale
        return self.get_document(doc_id)

    def delete_document(self, doc_id: str, *, by: str = "", note: str = "removed") -> None:
        """Remove a document from search; its versions stay (a tombstone version records the removal)."""
        with self.transaction():
            row = self._row("SELECT * FROM documents WHERE id = ?", (doc_id,))
            if row is None:
                return
            doc = row_to_document(row)
            ids = [r["id"] for r in self._rows("SELECT id FROM chunks WHERE doc_id = ?", (doc_id,))]
            self._delete_chunks(ids)
            self._exec("DELETE FROM documents WHERE id = ?", (doc_id,))
            self._add_version(doc, row["version"] + 1, now_iso(), by, note, deleted=1)
            self._bump_meta("fields_generation")  # searchers drop what they cached of its chunks

    def erase_document(self, doc_id: str, *, actor: str = "") -> int:
        """Remove a document and every stored version of it, its chunks, vectors and lexical entries (a
        customer's erasure request): unlike `delete_document`, no version keeps its text. Returns how many
        versions went (0: nothing stored under that id). The erasure record keeps the id, the counts and
        `actor` (`kb.storage.sql.erasures`)."""
        with self.transaction():
            ids = [r["id"] for r in self._rows("SELECT id FROM chunks WHERE doc_id = ?", (doc_id,))]
            self._delete_chunks(ids)
            n = self._exec("DELETE FROM document_versions WHERE doc_id = ?", (doc_id,))
            if self._exec("DELETE FROM documents WHERE id = ?", (doc_id,)) or n:
                self._bump_meta("fields_generation")
                self._record_erasure("document", doc_id, {"versions": n, "chunks": len(ids)}, actor)
        return n

    def document_versions(self, doc_id: str) -> list[dict[str, Any]]:
        return self._rows("SELECT doc_id, version, title, content_hash, created_at, created_by, note, deleted, status "
                          "FROM document_versions WHERE doc_id = ? ORDER BY version DESC", (doc_id,))

    def get_version(self, doc_id: str, version: int) -> Document:
        r = self._row("SELECT * FROM document_versions WHERE doc_id = ? AND version = ?", (doc_id, int(version)))
        if r is None:
            raise NotFoundError(f"{doc_id} has no version {version}")
        return Document(id=r["doc_id"], type="sop", title=r["title"], body=r["body"], tags=json.loads(r["tags"]),
                        owner=r["owner"], status=r["status"], review_by=r["review_by"],
                        metadata=json.loads(r["metadata"]), version=r["version"], updated_at=r["created_at"],
                        updated_by=r["created_by"], language=r.get("language") or "en")

    def rewrite_version(self, doc_id: str, version: int, doc: Document) -> None:
        """Replace the text of one stored version (redaction of history stored before it was on)."""
        self._exec("UPDATE document_versions SET title = ?, body = ?, metadata = ?, content_hash = ? "
                   "WHERE doc_id = ? AND version = ?",
                   (doc.title, doc.body, json.dumps(doc.metadata, sort_keys=True), doc.hash, doc_id, int(version)))

    def source_hashes(self, type: str | None = None) -> dict[str, str]:
        """id -> `metadata.source_hash` of the documents that have one (which source they came from)."""
        col = self._json_text("metadata", "source_hash")
        sql = f"SELECT id, {col} AS h FROM documents WHERE {col} IS NOT NULL"
        params: list[Any] = []
        if type:
            sql += " AND type = ?"
            params.append(type)
        return {r["id"]: str(r["h"]) for r in self._rows(sql, params)}

    # -- chunks ------------------------------------------------------------------------------
    def _replace_chunks(self, doc: Document, chunks: list[Chunk], vectors: np.ndarray | None) -> None:
        old = [r["id"] for r in self._rows("SELECT id FROM chunks WHERE doc_id = ?", (doc.id,))]
        self._delete_chunks(old)
        if vectors is not None and len(chunks):
            self.ensure_vector_table(int(vectors.shape[1]))
        ids = []
        for ch in chunks:
            ch.id = self._insert_chunk(doc, ch, lexical_columns(doc, ch))
            ids.append(ch.id)
        if vectors is not None and ids:
            self._put_vector_rows(ids, np.asarray(vectors, dtype=np.float32))
        if old or chunks:
            self._bump_meta("vectors_generation")

    def _delete_chunks(self, ids: list[int]) -> None:
        if not ids:
            return
        for i in range(0, len(ids), 500):
            self._delete_chunk_rows(ids[i:i + 500])
        self._bump_meta("vectors_deleted", len(ids))

    def get_chunks(self, doc_id: str) -> list[Chunk]:
        return [row_to_chunk(r) for r in self._rows(f"SELECT {self._chunk_cols} FROM chunks WHERE doc_id = ? ORDER BY ord",
                                                    (doc_id,))]

    def get_chunks_by_ids(self, ids: Iterable[int]) -> dict[int, Chunk]:
        ids = [int(i) for i in ids]
        out: dict[int, Chunk] = {}
        for i in range(0, len(ids), 500):
            part = ids[i:i + 500]
            for r in self._rows(f"SELECT {self._chunk_cols} FROM chunks WHERE id IN ({self._in(part)})", part):
                out[r["id"]] = row_to_chunk(r)
        return out

    def chunk_docs(self, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        """chunk id -> {doc_id, type, title, tags, status} for the given chunks."""
        ids = [int(i) for i in ids]
        out: dict[int, dict[str, Any]] = {}
        for i in range(0, len(ids), 500):
            part = ids[i:i + 500]
            for r in self._rows("SELECT c.id, c.doc_id, d.type, d.title, d.tags, d.status, d.language FROM chunks c "
                                f"JOIN documents d ON d.id = c.doc_id WHERE c.id IN ({self._in(part)})", part):
                out[r["id"]] = {"doc_id": r["doc_id"], "type": r["type"], "title": r["title"],
                                "tags": json.loads(r["tags"]), "status": r["status"], "language": r["language"]}
        return out

    def count_chunks(self) -> int:
        return int(self._value("SELECT count(*) AS n FROM chunks"))

    def ticket_chunks(self) -> list[tuple[str, str, str, int]]:
        rows = self._rows(f"SELECT d.id AS doc_id, d.title, coalesce({self._json_text('d.metadata', 'created_at')}, '') "
                          "AS created_at, c.id FROM documents d JOIN chunks c ON c.doc_id = d.id "
                          "WHERE d.type = 'ticket' ORDER BY d.id, c.ord")
        return [(r["doc_id"], r["title"], str(r["created_at"] or ""), int(r["id"])) for r in rows]

    # -- vectors (shared parts) --------------------------------------------------------------
    def vectors_generation(self) -> int:
        """Bumped on every change to the vectors: derived indexes compare it to know they are stale
        (`generations`: another process's change is seen within `GENERATIONS_FRESH_S`)."""
        return self.generations()[0]

    def vectors_deleted(self) -> int:
        return int(self.get_meta("vectors_deleted", "0") or 0)

    def vector_dim(self) -> int | None:
        v = self.get_meta("vector_dim")
        return int(v) if v else None

    def ensure_vector_table(self, dim: int) -> None:
        current = self.vector_dim()
        if current == dim:
            return
        if current is not None:
            raise SchemaError(f"The vector table holds {current}-dimensional vectors, not {dim}",
                              hint="run `deskbook index --reembed` to re-embed with the configured model")
        with self.transaction():
            self._create_vector_table(dim)
            self.set_meta("vector_dim", dim)

    def drop_vectors(self) -> None:
        """Forget all vectors (used when the embedding model changes)."""
        with self.transaction():
            self._drop_vector_table()
            self._exec("DELETE FROM meta WHERE key IN ('vector_dim', 'model', 'model_dim')")
            self._bump_meta("vectors_generation")

    def put_vectors(self, chunk_ids: Sequence[int], vectors: np.ndarray) -> None:
        """Store (or replace) the vectors of existing chunks, e.g. after re-embedding with another model."""
        if not len(chunk_ids):
            return
        with self.transaction():
            self.ensure_vector_table(int(vectors.shape[1]))
            self._put_vector_rows([int(c) for c in chunk_ids], np.asarray(vectors, dtype=np.float32), replace=True)
            self._bump_meta("vectors_generation")

    # -- lexical (shared parts) --------------------------------------------------------------
    def chunk_ids_where(self, filters: SearchFilters = NO_FILTERS, *,
                        phrases: Sequence[Sequence[str]] = (), query: LexicalQuery | None = None) -> np.ndarray:
        """Ids of chunks whose document passes the filters (and that contain every phrase: `phrases` in any
        language, or the phrases of each reading of `query` in its language)."""
        if query is None and phrases:
            query = LexicalQuery((), tuple(tuple(p) for p in phrases))
        if query is not None and query.phrases_only():
            hits = self.lexical_search(query.phrases_only(), 10 ** 7, filters)
            return np.array(sorted(c for c, _ in hits), dtype=np.int64)
        where, params = self._document_filters(filters)
        sql = "SELECT c.id FROM chunks c JOIN documents d ON d.id = c.doc_id"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return self._ids(sql, params)

    def documents_left_out(self, filters: SearchFilters = NO_FILTERS) -> int:
        """How many documents the filters leave out: none (agents' published SOPs where every SOP is
        published) lets a search skip the filter rather than list every chunk it allows."""
        where, params = self._document_filters(filters)
        if not where:
            return 0
        row = self._row("SELECT count(*) AS n FROM documents d WHERE NOT coalesce((" + " AND ".join(where)
                        + "), FALSE)", params)
        return int(row["n"]) if row else 0

    def lexical_languages(self) -> dict[str, int]:
        """Documents per language: which readings of a query can match anything."""
        return {r["language"]: int(r["n"])
                for r in self._rows("SELECT language, count(*) AS n FROM documents GROUP BY language")}

    def reanalyse_lexical(self, *, batch: int = 2000, progress=None) -> int:
        """Analyse every chunk again with its document's language's analyzer (after the analyzer changed);
        records `ANALYZER_VERSION` in the meta. Returns the number of chunks; safe to interrupt and re-run."""
        langs = {r["id"]: r["language"] for r in self._rows("SELECT id, language FROM documents")}
        titles = {r["id"]: r["title"] for r in self._rows("SELECT id, title FROM documents")}
        last, done = 0, 0
        while True:
            rows = self._rows(f"SELECT {self._chunk_cols} FROM chunks WHERE id > ? ORDER BY id LIMIT ?", (last, batch))
            if not rows:
                break
            out = []
            for r in rows:
                ch = row_to_chunk(r)
                lang = langs.get(ch.doc_id, "en")
                a = get_analyzer(lang)
                out.append((ch.id, a.index_text(titles.get(ch.doc_id, "")), a.index_text(ch.heading),
                            a.index_text(ch.text), lang))
            with self.transaction():
                self._update_lexical_rows(out)
                self._bump_meta("fields_generation")  # searchers' term frequencies and lexical copies are stale
            last = rows[-1]["id"]
            done += len(rows)
            if progress is not None:
                progress(len(rows))
        self.set_meta("lexical_analyzer", ANALYZER_VERSION)
        return done
