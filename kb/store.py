"""The store: one SQLite file holding documents, their versions, chunks, FTS5 and sqlite-vec vectors.

`Store` is the small interface that search, answers and QA use; `SqliteStore` implements it.
A server backend (PostgreSQL with pgvector) implements the same methods. Nothing outside this
module writes SQL against the knowledge-base tables.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from kb.errors import NotFoundError, SchemaError
from kb.migrations import MIGRATIONS
from kb.models import Chunk, Document

try:  # the stdlib sqlite3 of many Pythons cannot load extensions
    import pysqlite3.dbapi2 as sqlite3  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - platform dependent
    import sqlite3  # type: ignore[no-redef]


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _row_to_document(row: Any) -> Document:
    return Document(
        id=row["id"], type=row["type"], title=row["title"], body=row["body"], source_path=row["source_path"],
        tags=json.loads(row["tags"]), owner=row["owner"], status=row["status"], review_by=row["review_by"],
        metadata=json.loads(row["metadata"]), version=row["version"], updated_at=row["updated_at"],
        updated_by=row["updated_by"],
    )


def _row_to_chunk(row: Any) -> Chunk:
    return Chunk(doc_id=row["doc_id"], ord=row["ord"], heading=row["heading"], text=row["text"],
                 start=row["start_char"], end=row["end_char"], kind=row["kind"], id=row["id"])


class SqliteStore:
    """The knowledge base in one SQLite file (WAL mode), one connection per thread."""

    backend = "sqlite"

    def __init__(self, path: str | Path, *, create: bool = True):
        self.path = Path(path)
        if not create and not self.path.exists():
            raise NotFoundError(
                f"No knowledge base at {self.path}",
                hint="run `deskbook index PATH...` first, or point --db / DESKBOOK_DB at an existing database",
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._lock = threading.RLock()
        self.migrate()

    # -- connections -------------------------------------------------------------------------
    def _connect(self) -> Any:
        import sqlite_vec

        db = sqlite3.connect(str(self.path), timeout=30, check_same_thread=False, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.enable_load_extension(True)
        sqlite_vec.load(db)
        db.enable_load_extension(False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("PRAGMA busy_timeout=30000")
        return db

    @property
    def db(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """BEGIN IMMEDIATE ... COMMIT; ROLLBACK on any error, so nothing is half-written."""
        db = self.db
        if db.in_transaction:  # nested: join the outer transaction
            yield db
            return
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def execute(self, sql: str, params: Sequence[Any] | dict = ()) -> Any:
        return self.db.execute(sql, params)

    # -- schema ------------------------------------------------------------------------------
    def migrate(self) -> list[str]:
        """Apply pending migrations in order; refuse a database from a newer Deskbook."""
        db = self.db
        db.execute("CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
        applied = [r[0] for r in db.execute("SELECT name FROM schema_migrations ORDER BY name")]
        known = [name for name, _ in MIGRATIONS]
        unknown = [a for a in applied if a not in known]
        if unknown:
            raise SchemaError(
                f"{self.path} was written by a newer version of Deskbook (schema migrations {', '.join(unknown)} "
                "are unknown to this version)",
                hint="upgrade Deskbook, or use another --db",
            )
        done = []
        for name, sql in MIGRATIONS:
            if name in applied:
                continue
            with self.transaction():
                for statement in _split_sql(sql):
                    db.execute(statement)
                db.execute("INSERT INTO schema_migrations(name, applied_at) VALUES (?, ?)", (name, now_iso()))
            done.append(name)
        return done

    def schema_version(self) -> str:
        row = self.db.execute("SELECT max(name) FROM schema_migrations").fetchone()
        return row[0] or ""

    # -- meta --------------------------------------------------------------------------------
    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: Any) -> None:
        self.db.execute("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                        (key, str(value)))

    def vectors_generation(self) -> int:
        """Bumped on every change to the vectors: derived indexes compare it to know they are stale."""
        return int(self.get_meta("vectors_generation", "0") or 0)

    def _bump_generation(self) -> None:
        self.db.execute(
            "INSERT INTO meta(key, value) VALUES ('vectors_generation', '1') "
            "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1")

    # -- documents ---------------------------------------------------------------------------
    def get_document(self, doc_id: str) -> Document:
        row = self.db.execute("SELECT * FROM documents WHERE id = ?", (doc_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"No document with id {doc_id!r}")
        return _row_to_document(row)

    def has_document(self, doc_id: str) -> bool:
        return self.db.execute("SELECT 1 FROM documents WHERE id = ?", (doc_id,)).fetchone() is not None

    def list_documents(self, type: str | None = None) -> list[Document]:
        if type:
            rows = self.db.execute("SELECT * FROM documents WHERE type = ? ORDER BY id", (type,))
        else:
            rows = self.db.execute("SELECT * FROM documents ORDER BY id")
        return [_row_to_document(r) for r in rows]

    def document_hashes(self) -> dict[str, tuple[str, str, str]]:
        """id -> (content_hash, type, source_path) for every document."""
        return {r[0]: (r[1], r[2], r[3]) for r in
                self.db.execute("SELECT id, content_hash, type, source_path FROM documents")}

    def count_documents(self) -> dict[str, int]:
        return {r[0]: r[1] for r in self.db.execute("SELECT type, count(*) FROM documents GROUP BY type")}

    def save_document(self, doc: Document, chunks: list[Chunk], vectors: np.ndarray | None, *,
                      by: str = "", note: str = "", expected_version: int | None = None) -> Document:
        """Insert or replace a document with its chunks and their vectors, as one transaction.

        A new version is recorded in `document_versions`; the previous ones stay. With
        `expected_version`, the write is refused (ConflictError) when someone saved in between.
        """
        from kb.errors import ConflictError

        ts = now_iso()
        with self.transaction() as db:
            row = db.execute("SELECT version, created_at FROM documents WHERE id = ?", (doc.id,)).fetchone()
            current = row["version"] if row else 0
            if expected_version is not None and expected_version != current:
                raise ConflictError(
                    f"{doc.id} was changed by someone else (you edited version {expected_version}, "
                    f"the current version is {current})",
                    hint="compare both texts and save again on top of the current version",
                )
            last = db.execute("SELECT max(version) FROM document_versions WHERE doc_id = ?", (doc.id,)).fetchone()[0]
            version = max(current, last or 0) + 1
            created = row["created_at"] if row else ts
            db.execute(
                """INSERT INTO documents(id, type, title, body, source_path, tags, owner, status, review_by, metadata,
                       content_hash, version, created_at, updated_at, updated_by)
                   VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
                   ON CONFLICT(id) DO UPDATE SET type=excluded.type, title=excluded.title, body=excluded.body,
                       source_path=excluded.source_path, tags=excluded.tags, owner=excluded.owner,
                       status=excluded.status, review_by=excluded.review_by, metadata=excluded.metadata,
                       content_hash=excluded.content_hash, version=excluded.version,
                       updated_at=excluded.updated_at, updated_by=excluded.updated_by""",
                (doc.id, doc.type, doc.title, doc.body, doc.source_path, json.dumps(doc.tags), doc.owner,
                 doc.status, doc.review_by, json.dumps(doc.metadata, sort_keys=True), doc.hash, version, created,
                 ts, by),
            )
            db.execute(
                """INSERT INTO document_versions(doc_id, version, title, body, tags, owner, status, review_by,
                       metadata, content_hash, created_at, created_by, note)
                   VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)""",
                (doc.id, version, doc.title, doc.body, json.dumps(doc.tags), doc.owner, doc.status, doc.review_by,
                 json.dumps(doc.metadata, sort_keys=True), doc.hash, ts, by, note),
            )
            self._replace_chunks(doc, chunks, vectors)
        return self.get_document(doc.id)

    def update_document_fields(self, doc_id: str, *, by: str = "", note: str = "", **fields: Any) -> Document:
        """Change metadata (status, review_by, owner, tags) without touching the text or chunks."""
        allowed = {"status", "review_by", "owner", "tags"}
        bad = set(fields) - allowed
        if bad:
            raise ValueError(f"cannot update {sorted(bad)}")
        doc = self.get_document(doc_id)
        for k, v in fields.items():
            setattr(doc, k, v)
        ts = now_iso()
        with self.transaction() as db:
            version = doc.version + 1
            db.execute("UPDATE documents SET status=?, review_by=?, owner=?, tags=?, content_hash=?, version=?, "
                       "updated_at=?, updated_by=? WHERE id=?",
                       (doc.status, doc.review_by, doc.owner, json.dumps(doc.tags), doc.hash, version, ts, by, doc_id))
            db.execute(
                """INSERT INTO document_versions(doc_id, version, title, body, tags, owner, status, review_by,
                       metadata, content_hash, created_at, created_by, note)
                   VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)""",
                (doc.id, version, doc.title, doc.body, json.dumps(doc.tags), doc.owner, doc.status, doc.review_by,
                 json.dumps(doc.metadata, sort_keys=True), doc.hash, ts, by, note))
        return self.get_document(doc_id)

    def delete_document(self, doc_id: str, *, by: str = "", note: str = "removed") -> None:
        """Remove a document from search; its versions stay (a tombstone version records the removal)."""
        with self.transaction() as db:
            row = db.execute("SELECT * FROM documents WHERE id = ?", (doc_id,)).fetchone()
            if row is None:
                return
            ids = [r[0] for r in db.execute("SELECT id FROM chunks WHERE doc_id = ?", (doc_id,))]
            self._delete_chunks(ids)
            db.execute("DELETE FROM documents WHERE id = ?", (doc_id,))
            db.execute(
                """INSERT INTO document_versions(doc_id, version, title, body, tags, owner, status, review_by,
                       metadata, content_hash, created_at, created_by, note, deleted)
                   VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,1)""",
                (doc_id, row["version"] + 1, row["title"], row["body"], row["tags"], row["owner"], row["status"],
                 row["review_by"], row["metadata"], row["content_hash"], now_iso(), by, note))

    def document_versions(self, doc_id: str) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT doc_id, version, title, content_hash, created_at, created_by, note, deleted, status "
            "FROM document_versions WHERE doc_id = ? ORDER BY version DESC", (doc_id,))
        return [dict(r) for r in rows]

    def get_version(self, doc_id: str, version: int) -> Document:
        row = self.db.execute("SELECT * FROM document_versions WHERE doc_id = ? AND version = ?",
                              (doc_id, version)).fetchone()
        if row is None:
            raise NotFoundError(f"{doc_id} has no version {version}")
        return Document(id=row["doc_id"], type="sop", title=row["title"], body=row["body"],
                        tags=json.loads(row["tags"]), owner=row["owner"], status=row["status"],
                        review_by=row["review_by"], metadata=json.loads(row["metadata"]), version=row["version"],
                        updated_at=row["created_at"], updated_by=row["created_by"])

    # -- chunks and vectors ------------------------------------------------------------------
    def _replace_chunks(self, doc: Document, chunks: list[Chunk], vectors: np.ndarray | None) -> None:
        db = self.db
        old = [r[0] for r in db.execute("SELECT id FROM chunks WHERE doc_id = ?", (doc.id,))]
        self._delete_chunks(old)
        if vectors is not None and len(chunks):
            self.ensure_vector_table(vectors.shape[1])
        for i, ch in enumerate(chunks):
            cur = db.execute(
                "INSERT INTO chunks(doc_id, ord, heading, text, kind, start_char, end_char, content_hash) "
                "VALUES (?,?,?,?,?,?,?,?)",
                (doc.id, ch.ord, ch.heading, ch.text, ch.kind, ch.start, ch.end, ch.hash_for(doc.title)))
            ch.id = cur.lastrowid
            db.execute("INSERT INTO chunks_fts(rowid, title, heading, text) VALUES (?,?,?,?)",
                       (ch.id, doc.title, ch.heading, ch.text))
            if vectors is not None:
                db.execute("INSERT INTO chunk_vectors(rowid, embedding) VALUES (?, ?)",
                           (ch.id, np.ascontiguousarray(vectors[i], dtype=np.float32).tobytes()))
        if old or chunks:
            self._bump_generation()

    def _delete_chunks(self, ids: list[int]) -> None:
        if not ids:
            return
        db = self.db
        has_vec = self.vector_dim() is not None
        for i in range(0, len(ids), 500):
            part = ids[i:i + 500]
            marks = ",".join("?" * len(part))
            db.execute(f"DELETE FROM chunks_fts WHERE rowid IN ({marks})", part)
            if has_vec:
                db.execute(f"DELETE FROM chunk_vectors WHERE rowid IN ({marks})", part)
            db.execute(f"DELETE FROM chunks WHERE id IN ({marks})", part)
        self.set_meta("vectors_deleted", int(self.get_meta("vectors_deleted", "0") or 0) + len(ids))

    def get_chunks(self, doc_id: str) -> list[Chunk]:
        rows = self.db.execute("SELECT * FROM chunks WHERE doc_id = ? ORDER BY ord", (doc_id,))
        return [_row_to_chunk(r) for r in rows]

    def get_chunks_by_ids(self, ids: Iterable[int]) -> dict[int, Chunk]:
        ids = list(ids)
        out: dict[int, Chunk] = {}
        for i in range(0, len(ids), 500):
            part = ids[i:i + 500]
            rows = self.db.execute(f"SELECT * FROM chunks WHERE id IN ({','.join('?' * len(part))})", part)
            out.update({r["id"]: _row_to_chunk(r) for r in rows})
        return out

    def chunk_docs(self, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        """chunk id -> {doc_id, type, title, tags} for the given chunks."""
        ids = list(ids)
        out: dict[int, dict[str, Any]] = {}
        for i in range(0, len(ids), 500):
            part = ids[i:i + 500]
            rows = self.db.execute(
                "SELECT c.id, c.doc_id, d.type, d.title, d.tags, d.status FROM chunks c JOIN documents d "
                f"ON d.id = c.doc_id WHERE c.id IN ({','.join('?' * len(part))})", part)
            out.update({r[0]: {"doc_id": r[1], "type": r[2], "title": r[3], "tags": json.loads(r[4]),
                               "status": r[5]} for r in rows})
        return out

    def count_chunks(self) -> int:
        return self.db.execute("SELECT count(*) FROM chunks").fetchone()[0]

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
        self.db.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS chunk_vectors USING vec0(embedding float[{dim}])")
        self.set_meta("vector_dim", dim)

    def drop_vectors(self) -> None:
        """Forget all vectors (used when the embedding model changes)."""
        with self.transaction() as db:
            db.execute("DROP TABLE IF EXISTS chunk_vectors")
            db.execute("DELETE FROM meta WHERE key IN ('vector_dim', 'model', 'model_dim')")
            self._bump_generation()

    def vectors_by_hash(self, hashes: Iterable[str]) -> dict[str, np.ndarray]:
        """Stored vectors of chunks with these content hashes: unchanged text is never embedded twice."""
        if self.vector_dim() is None:
            return {}
        hashes = list(set(hashes))
        out: dict[str, np.ndarray] = {}
        for i in range(0, len(hashes), 500):
            part = hashes[i:i + 500]
            rows = self.db.execute(
                "SELECT c.content_hash, v.embedding FROM chunks c JOIN chunk_vectors v ON v.rowid = c.id "
                f"WHERE c.content_hash IN ({','.join('?' * len(part))})", part)
            for h, blob in rows:
                out.setdefault(h, np.frombuffer(blob, dtype=np.float32))
        return out

    def get_vectors(self, chunk_ids: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """(ids, matrix) for the given chunk ids that have vectors."""
        dim = self.vector_dim()
        if dim is None or not len(chunk_ids):
            return np.zeros(0, dtype=np.int64), np.zeros((0, dim or 0), dtype=np.float32)
        ids_out, vecs = [], []
        chunk_ids = [int(c) for c in chunk_ids]
        if len(chunk_ids) <= 64:  # vec0 looks up `rowid = ?` in its index but scans the table for `rowid IN`
            for cid in chunk_ids:
                row = self.db.execute("SELECT rowid, embedding FROM chunk_vectors WHERE rowid = ?", (cid,)).fetchone()
                if row is not None:
                    ids_out.append(row[0])
                    vecs.append(np.frombuffer(row[1], dtype=np.float32))
            chunk_ids = []
        for i in range(0, len(chunk_ids), 500):
            part = chunk_ids[i:i + 500]
            for rid, blob in self.db.execute(
                    f"SELECT rowid, embedding FROM chunk_vectors WHERE rowid IN ({','.join('?' * len(part))})", part):
                ids_out.append(rid)
                vecs.append(np.frombuffer(blob, dtype=np.float32))
        if not vecs:
            return np.zeros(0, dtype=np.int64), np.zeros((0, dim), dtype=np.float32)
        return np.array(ids_out, dtype=np.int64), np.vstack(vecs)

    def iter_vectors(self, batch: int = 10000, min_id: int = 0) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """All vectors (or those of chunks with id > min_id), as (ids, matrix) batches in id order."""
        dim = self.vector_dim()
        if dim is None:
            return
        last = min_id
        while True:
            rows = self.db.execute("SELECT rowid, embedding FROM chunk_vectors WHERE rowid > ? ORDER BY rowid LIMIT ?",
                                   (last, batch)).fetchall()
            if not rows:
                return
            ids = np.array([r[0] for r in rows], dtype=np.int64)
            mat = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), dim)
            last = int(ids[-1])
            yield ids, mat

    def vector_count(self) -> int:
        if self.vector_dim() is None:
            return 0
        return self.db.execute("SELECT count(*) FROM chunk_vectors").fetchone()[0]

    def max_chunk_id(self) -> int:
        return self.db.execute("SELECT coalesce(max(id), 0) FROM chunks").fetchone()[0]

    # -- lexical search ----------------------------------------------------------------------
    def lexical_search(self, fts_query: str, limit: int, *, types: Sequence[str] = (),
                       tags: Sequence[str] = ()) -> list[tuple[int, float]]:
        """(chunk id, BM25 score, higher is better) for an FTS5 MATCH expression."""
        where, params = ["chunks_fts MATCH ?"], [fts_query]
        join = ""
        if types or tags:
            join = "JOIN chunks c ON c.id = chunks_fts.rowid JOIN documents d ON d.id = c.doc_id"
            _document_filters(where, params, types, tags)
        sql = (f"SELECT chunks_fts.rowid, bm25(chunks_fts, 4.0, 2.0, 1.0) AS s FROM chunks_fts {join} "
               f"WHERE {' AND '.join(where)} ORDER BY s LIMIT ?")
        params.append(limit)
        return [(r[0], -r[1]) for r in self.db.execute(sql, params)]

    def chunk_ids_where(self, *, types: Sequence[str] = (), tags: Sequence[str] = ()) -> np.ndarray:
        """Ids of chunks whose document passes the filters (for filtered dense search)."""
        where, params = ["1=1"], []
        _document_filters(where, params, types, tags)
        rows = self.db.execute(f"SELECT c.id FROM chunks c JOIN documents d ON d.id = c.doc_id WHERE {' AND '.join(where)}",
                               params)
        return np.array([r[0] for r in rows], dtype=np.int64)

    def all_tags(self) -> list[tuple[str, int]]:
        rows = self.db.execute("SELECT lower(j.value), count(*) FROM documents d, json_each(d.tags) j "
                               "GROUP BY lower(j.value) ORDER BY count(*) DESC")
        return [(r[0], r[1]) for r in rows]


def _document_filters(where: list[str], params: list, types: Sequence[str], tags: Sequence[str]) -> None:
    """Add the type and tag filters on the `documents d` alias (every tag must match, any case)."""
    if types:
        where.append(f"d.type IN ({','.join('?' * len(types))})")
        params.extend(types)
    for t in tags:
        where.append("EXISTS (SELECT 1 FROM json_each(d.tags) WHERE lower(json_each.value) = lower(?))")
        params.append(t)


def _split_sql(sql: str) -> list[str]:
    return [s.strip() for s in sql.split(";\n") if s.strip() and not all(
        line.strip().startswith("--") or not line.strip() for line in s.strip().splitlines())]


class Store(Protocol):
    """The interface search, answers, QA and the web app program against.

    `SqliteStore` implements it over one SQLite file; a server backend (PostgreSQL with
    pgvector and tsvector) implements the same methods, so callers do not change.
    """

    path: Path
    backend: str

    def transaction(self) -> Any: ...
    def get_meta(self, key: str, default: str | None = None) -> str | None: ...
    def set_meta(self, key: str, value: Any) -> None: ...
    def vectors_generation(self) -> int: ...
    def get_document(self, doc_id: str) -> Document: ...
    def has_document(self, doc_id: str) -> bool: ...
    def list_documents(self, type: str | None = None) -> list[Document]: ...
    def document_hashes(self) -> dict[str, tuple[str, str, str]]: ...
    def count_documents(self) -> dict[str, int]: ...
    def save_document(self, doc: Document, chunks: list[Chunk], vectors: np.ndarray | None, *, by: str = "",
                      note: str = "", expected_version: int | None = None) -> Document: ...
    def update_document_fields(self, doc_id: str, *, by: str = "", note: str = "", **fields: Any) -> Document: ...
    def delete_document(self, doc_id: str, *, by: str = "", note: str = "removed") -> None: ...
    def document_versions(self, doc_id: str) -> list[dict[str, Any]]: ...
    def get_version(self, doc_id: str, version: int) -> Document: ...
    def get_chunks(self, doc_id: str) -> list[Chunk]: ...
    def get_chunks_by_ids(self, ids: Iterable[int]) -> dict[int, Chunk]: ...
    def chunk_docs(self, ids: Iterable[int]) -> dict[int, dict[str, Any]]: ...
    def count_chunks(self) -> int: ...
    def vector_dim(self) -> int | None: ...
    def vectors_by_hash(self, hashes: Iterable[str]) -> dict[str, np.ndarray]: ...
    def get_vectors(self, chunk_ids: Sequence[int]) -> tuple[np.ndarray, np.ndarray]: ...
    def iter_vectors(self, batch: int = 10000, min_id: int = 0) -> Iterator[tuple[np.ndarray, np.ndarray]]: ...
    def vector_count(self) -> int: ...
    def lexical_search(self, fts_query: str, limit: int, *, types: Sequence[str] = (),
                       tags: Sequence[str] = ()) -> list[tuple[int, float]]: ...
    def chunk_ids_where(self, *, types: Sequence[str] = (), tags: Sequence[str] = ()) -> np.ndarray: ...


def open_store(path: str | Path, *, create: bool = True) -> SqliteStore:
    """Open (and migrate) the knowledge base at `path`."""
    return SqliteStore(path, create=create)
