"""The embedded backend: everything in one SQLite file (WAL mode), FTS5 for lexical search, sqlite-vec vectors.

One connection per thread; writes are serialised by `BEGIN IMMEDIATE`, so several processes on one
machine (an app server and a `deskbook worker`) may share the file.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from kb.analysis import LexicalQuery
from kb.errors import NotFoundError
from kb.models import Chunk, Document
from kb.storage.records import NO_FILTERS, SearchFilters
from kb.storage.sql import SharedSql
from kb.storage.sqlite.schema import LEGACY, MIGRATIONS

try:  # the stdlib sqlite3 of many Pythons cannot load extensions
    import pysqlite3.dbapi2 as sqlite3  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - platform dependent
    import sqlite3  # type: ignore[no-redef]


class SqliteStore(SharedSql):
    """The knowledge base, QA, accounts, query log, jobs and conversations in one SQLite file."""

    backend = "sqlite"
    MIGRATIONS = MIGRATIONS
    LEGACY_MIGRATIONS = LEGACY
    _for_update = ""
    _skip_locked = ""
    _chunk_cols = "id, doc_id, ord, heading, text, kind, start_char, end_char, content_hash"

    def __init__(self, path: str | Path, *, create: bool = True):
        super().__init__()
        self.path = Path(path)
        if not create and not self.path.exists():
            raise NotFoundError(
                f"No knowledge base at {self.path}",
                hint="run `deskbook index PATH...` first, or point --db / DESKBOOK_DB at an existing database")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.url = str(self.path)
        self._conns: list[Any] = []
        self._conns_lock = threading.Lock()
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
        db.execute("PRAGMA secure_delete=ON")  # deleted rows (uploads, old text) are overwritten, not left in free pages
        with self._conns_lock:
            self._conns.append(db)
        return db

    @property
    def _db(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
        return conn

    def close(self) -> None:
        """Close this thread's connection (others close when their threads end)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def local_path(self) -> Path | None:
        return self.path

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        cur = self._db.cursor()
        try:
            yield cur
        finally:
            cur.close()

    @contextmanager
    def _begin(self) -> Iterator[None]:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def _fix_row(self, row: Any) -> dict[str, Any]:
        return dict(row)

    # -- dialect hooks -----------------------------------------------------------------------
    def _epoch(self) -> float:
        return time.time()

    def _lock_key(self, key: str) -> None:
        """Nothing to do: BEGIN IMMEDIATE already holds the database's write lock."""

    def _notify_jobs(self) -> None:
        """Workers on SQLite poll (they share the machine)."""

    def _blob(self, data: bytes) -> bytes:
        return data

    def _tag_filter(self, alias: str) -> str:
        return f"EXISTS (SELECT 1 FROM json_each({alias}.tags) WHERE lower(json_each.value) = lower(?))"

    def _json_text(self, column: str, key: str) -> str:
        return f"json_extract({column}, '$.{key}')"

    def all_tags(self) -> list[tuple[str, int]]:
        rows = self._rows("SELECT lower(j.value) AS tag, count(*) AS n FROM documents d, json_each(d.tags) j "
                          "GROUP BY lower(j.value) ORDER BY count(*) DESC, lower(j.value)")
        return [(r["tag"], int(r["n"])) for r in rows]

    # -- chunks, the lexical index and vectors -----------------------------------------------
    def _insert_chunk(self, doc: Document, ch: Chunk, lex: tuple[str, str, str]) -> int:
        cid = self._insert(
            "INSERT INTO chunks(doc_id, ord, heading, text, kind, start_char, end_char, content_hash) "
            "VALUES (?,?,?,?,?,?,?,?) RETURNING id",
            (doc.id, ch.ord, ch.heading, ch.text, ch.kind, ch.start, ch.end, ch.hash_for(doc.title)))
        self._exec("INSERT INTO chunks_fts(rowid, title, heading, text, lang) VALUES (?,?,?,?,?)",
                   (cid, *lex, doc.language or "en"))
        return cid

    def _update_lexical_rows(self, rows: list[tuple[int, str, str, str, str]]) -> None:
        ids = [r[0] for r in rows]
        self._exec(f"DELETE FROM chunks_fts WHERE rowid IN ({self._in(ids)})", ids)
        self._many("INSERT INTO chunks_fts(rowid, title, heading, text, lang) VALUES (?,?,?,?,?)", rows)

    def _delete_chunk_rows(self, ids: list[int]) -> None:
        marks = self._in(ids)
        self._exec(f"DELETE FROM chunks_fts WHERE rowid IN ({marks})", ids)
        if self.vector_dim() is not None:
            self._exec(f"DELETE FROM chunk_vectors WHERE rowid IN ({marks})", ids)
        self._exec(f"DELETE FROM chunks WHERE id IN ({marks})", ids)

    def _create_vector_table(self, dim: int) -> None:
        self._exec(f"CREATE VIRTUAL TABLE IF NOT EXISTS chunk_vectors USING vec0(embedding float[{int(dim)}])")

    def _drop_vector_table(self) -> None:
        self._exec("DROP TABLE IF EXISTS chunk_vectors")

    def _put_vector_rows(self, ids: list[int], vectors: np.ndarray, *, replace: bool = False) -> None:
        if replace:
            for i in range(0, len(ids), 500):
                part = ids[i:i + 500]
                self._exec(f"DELETE FROM chunk_vectors WHERE rowid IN ({self._in(part)})", part)
        self._many("INSERT INTO chunk_vectors(rowid, embedding) VALUES (?, ?)",
                   [(int(c), np.ascontiguousarray(v, dtype=np.float32).tobytes()) for c, v in zip(ids, vectors,
                                                                                               strict=True)])

    def vectors_by_hash(self, hashes: Iterable[str]) -> dict[str, np.ndarray]:
        """Stored vectors of chunks with these content hashes: unchanged text is never embedded twice."""
        if self.vector_dim() is None:
            return {}
        hashes = list(set(hashes))
        out: dict[str, np.ndarray] = {}
        for i in range(0, len(hashes), 500):
            part = hashes[i:i + 500]
            for r in self._rows("SELECT c.content_hash, v.embedding FROM chunks c JOIN chunk_vectors v ON "
                                f"v.rowid = c.id WHERE c.content_hash IN ({self._in(part)})", part):
                out.setdefault(r["content_hash"], np.frombuffer(r["embedding"], dtype=np.float32))
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
                r = self._row("SELECT rowid AS id, embedding FROM chunk_vectors WHERE rowid = ?", (cid,))
                if r is not None:
                    ids_out.append(r["id"])
                    vecs.append(np.frombuffer(r["embedding"], dtype=np.float32))
        else:
            for i in range(0, len(chunk_ids), 500):
                part = chunk_ids[i:i + 500]
                for r in self._rows(f"SELECT rowid AS id, embedding FROM chunk_vectors WHERE rowid IN ({self._in(part)})",
                                    part):
                    ids_out.append(r["id"])
                    vecs.append(np.frombuffer(r["embedding"], dtype=np.float32))
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
            rows = self._rows("SELECT rowid AS id, embedding FROM chunk_vectors WHERE rowid > ? ORDER BY rowid LIMIT ?",
                              (last, batch))
            if not rows:
                return
            ids = np.array([r["id"] for r in rows], dtype=np.int64)
            mat = np.frombuffer(b"".join(r["embedding"] for r in rows), dtype=np.float32).reshape(len(rows), dim)
            last = int(ids[-1])
            yield ids, mat

    def vector_count(self) -> int:
        if self.vector_dim() is None:
            return 0
        return int(self._value("SELECT count(*) AS n FROM chunk_vectors"))

    def ensure_vector_index(self) -> None:
        """Nothing to build: SQLite's dense search is the FAISS file (kb.ann)."""

    def nearest_vectors(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None):
        """None: search uses the FAISS file derived from the stored vectors (kb.ann)."""
        return None

    # -- lexical search ----------------------------------------------------------------------
    @staticmethod
    def _match(query: LexicalQuery) -> str | None:
        """An FTS5 MATCH expression made only of quoted analysed tokens (letters and digits)."""
        phrases = ['"' + " ".join(p) + '"' for p in query.phrases if p]
        ors = " OR ".join(f'"{t}"' for t in query.terms)
        if phrases:
            return " AND ".join(phrases + ([f"({ors})"] if ors else []))
        return ors or None

    def lexical_search(self, query: LexicalQuery, limit: int, filters: SearchFilters = NO_FILTERS
                       ) -> list[tuple[int, float]]:
        """(chunk id, BM25 score: higher is better); title, heading and text weighted 4:2:1. Each reading
        of the query matches the chunks of its language (all chunks when it names none)."""
        parts, params = [], []
        join = ""
        more, more_params = ([], [])
        if filters:
            join = "JOIN chunks c ON c.id = chunks_fts.rowid JOIN documents d ON d.id = c.doc_id"
            more, more_params = self._document_filters(filters)
        for reading in query.readings():
            expr = self._match(reading)
            if expr is None:
                continue
            where, p = ["chunks_fts MATCH ?"], [expr]
            if reading.language:
                where.append("chunks_fts.lang = ?")
                p.append(reading.language)
            parts.append(f"SELECT chunks_fts.rowid AS id, bm25(chunks_fts, 4.0, 2.0, 1.0, 0.0) AS s FROM chunks_fts "
                         f"{join} WHERE {' AND '.join(where + more)}")
            params += p + more_params
        if not parts:
            return []
        if len(parts) == 1:
            sql = f"{parts[0]} ORDER BY s LIMIT ?"
        else:  # a chunk is in one language, so it matches one reading at most
            sql = "SELECT id, s FROM (" + " UNION ALL ".join(parts) + ") ORDER BY s LIMIT ?"
        return [(int(r["id"]), -float(r["s"])) for r in self._rows(sql, [*params, int(limit)])]

    @contextmanager
    def lexical_snapshot(self) -> Iterator[tuple[Any, dict[str, int], Iterator[tuple]]]:
        """One read transaction on its own connection: the meta (a `get_meta`-like function), FTS5's
        document frequency per term, and every lexical row (rowid, title, heading, text, lang) by rowid:
        what `kb.lexical_memory` copies into memory."""
        with self._own_connection() as conn:  # closing it ends the read transaction
            conn.execute("BEGIN")
            meta = {r[0]: r[1] for r in conn.execute("SELECT key, value FROM meta")}
            vocabulary = {r[0]: int(r[1]) for r in conn.execute("SELECT term, doc FROM chunks_fts_vocab")}
            rows = (tuple(r) for r in conn.execute("SELECT rowid, title, heading, text, lang FROM chunks_fts "
                                                   "ORDER BY rowid"))
            yield (lambda key, default=None: meta.get(key, default)), vocabulary, rows

    def term_document_frequencies(self, terms: Iterable[str]) -> dict[str, int]:
        terms = list(dict.fromkeys(terms))
        out = dict.fromkeys(terms, 0)
        for i in range(0, len(terms), 500):
            part = terms[i:i + 500]
            for r in self._rows(f"SELECT term, doc FROM chunks_fts_vocab WHERE term IN ({self._in(part)})", part):
                out[r["term"]] = int(r["doc"])
        return out

    # -- copying (kb.storage.copy) ------------------------------------------------------------
    @contextmanager
    def _own_connection(self) -> Iterator[Any]:
        """A connection of its own, closed after use: a long read beside the writes of this thread."""
        conn = self._connect()
        try:
            yield conn
        finally:
            conn.close()
            with self._conns_lock:
                self._conns.remove(conn)

    @contextmanager
    def _stream(self, sql: str, params: Sequence[Any] = ()) -> Iterator[Any]:
        with self._own_connection() as conn:
            cur = conn.cursor()
            try:
                cur.execute(sql, tuple(params))
                yield cur
            finally:
                cur.close()

    def _dump_sql(self, table: str) -> str:
        if table == "chunks":
            return ("SELECT c.*, f.title AS lex_title, f.heading AS lex_heading, f.text AS lex_text, "
                    "f.lang AS lex_lang FROM chunks c "
                    "JOIN chunks_fts f ON f.rowid = c.id ORDER BY c.id")
        if table == "chunk_vectors":
            return "SELECT rowid AS id, embedding AS vector FROM chunk_vectors ORDER BY rowid"
        return super()._dump_sql(table)

    def _vector_value(self, raw: Any) -> np.ndarray:
        return np.frombuffer(raw, dtype=np.float32)

    def _load_chunks(self, rows: list[dict[str, Any]]) -> None:
        self._many("INSERT INTO chunks(id, doc_id, ord, heading, text, kind, start_char, end_char, content_hash) "
                   "VALUES (?,?,?,?,?,?,?,?,?)",
                   [(r["id"], r["doc_id"], r["ord"], r["heading"], r["text"], r["kind"], r["start_char"],
                     r["end_char"], r["content_hash"]) for r in rows])
        self._many("INSERT INTO chunks_fts(rowid, title, heading, text, lang) VALUES (?,?,?,?,?)",
                   [(r["id"], r["lex_title"], r["lex_heading"], r["lex_text"], r.get("lex_lang") or "en")
                    for r in rows])

    def _reset_sequences(self) -> None:
        """Nothing to do: AUTOINCREMENT follows the largest id inserted."""

    def checkpoint(self, wait_seconds: float = 30.0) -> bool:
        """Fold the WAL into the database file and empty the WAL file (before copying the file, and after
        a job whose files were deleted: the WAL would otherwise keep their pages). False when readers kept
        the WAL busy for `wait_seconds` (the next checkpoint tries again)."""
        db = self._db
        deadline = time.monotonic() + wait_seconds
        db.execute(f"PRAGMA busy_timeout={max(1, int(min(wait_seconds, 5.0) * 1000))}")
        try:
            while True:  # another connection's checkpoint answers "busy" at once: wait for it, then go again
                try:
                    row = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                except sqlite3.OperationalError:
                    row = None
                if row is not None and int(row[0]) == 0:
                    return True
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.05)
        finally:
            db.execute("PRAGMA busy_timeout=30000")
