"""The server backend: PostgreSQL 14+ with pgvector, for several app servers and workers on one database.

- Connections come from a psycopg pool (`pg_pool_size` per process); outside a transaction each
  call borrows one in autocommit mode, inside `transaction()` the thread keeps one.
- Lexical search: a `tsvector` over the analysed text (`to_tsvector('simple', ...)`, title, heading
  and text weighted A, B, C), queried with a `tsquery` built only from analysed tokens, so it
  matches exactly what SQLite's FTS5 index matches.
- Vectors: pgvector. Dense search uses the FAISS index each process derives from the stored
  vectors (`vector_search = faiss`, the default) or the database's HNSW index (`pgvector`).
- Jobs are claimed with `FOR UPDATE SKIP LOCKED`; keys that must be unique across servers
  (a user name, an idempotency key) are serialised with transaction-scoped advisory locks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import psycopg
from pgvector.psycopg import register_vector
from psycopg import sql as pgsql
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from kb.analysis import LexicalQuery
from kb.errors import NotFoundError
from kb.models import Chunk, Document
from kb.storage.postgres.schema import MIGRATIONS
from kb.storage.records import NO_FILTERS, SearchFilters
from kb.storage.sql import SharedSql

_TOKEN = re.compile(r"^[^\W_]+$")
SCHEMA_LOCK = 727_001  # advisory lock id: one process migrates at a time


@lru_cache(maxsize=512)
def _pg(sql: str) -> str:
    """Shared SQL uses `?` placeholders; psycopg wants `%s` (and a literal % doubled)."""
    return sql.replace("%", "%%").replace("?", "%s")


def _vec(v: Any) -> np.ndarray:
    """A pgvector value (Vector, or a numpy array) as float32."""
    return np.asarray(v.to_numpy() if hasattr(v, "to_numpy") else v, dtype=np.float32)


def redact_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")))
    return url


def _tsquery(query: LexicalQuery) -> str | None:
    """A tsquery text made only of quoted analysed tokens (letters and digits): nothing typed is syntax."""
    def lex(t: str) -> str:
        if not _TOKEN.match(t):
            raise ValueError(f"not an analysed token: {t!r}")
        return f"'{t}'"

    parts = ["(" + " <-> ".join(lex(t) for t in p) + ")" for p in query.phrases if p]
    if query.terms:
        parts.append("(" + " | ".join(lex(t) for t in query.terms) + ")")
    return " & ".join(parts) or None


class PostgresStore(SharedSql):
    """Every concern in one PostgreSQL database; see the module docstring."""

    backend = "postgresql"
    MIGRATIONS = MIGRATIONS
    _for_update = " FOR UPDATE"
    _skip_locked = " FOR UPDATE SKIP LOCKED"
    _chunk_cols = "id, doc_id, ord, heading, text, kind, start_char, end_char, content_hash"

    def __init__(self, url: str, *, create: bool = True, pool_size: int | None = None):
        super().__init__()
        self.url = redact_url(url)
        self._conninfo = url
        self._ensure_database(url, create)
        self.pool = ConnectionPool(url, min_size=1, max_size=max(2, int(pool_size or 10)), open=False,
                                   kwargs={"autocommit": True, "row_factory": dict_row},
                                   configure=self._configure, name="deskbook")
        self.pool.open(wait=True, timeout=30)
        self.migrate()
        self._vector_ready = False

    # -- connections -------------------------------------------------------------------------
    @staticmethod
    def _ensure_database(url: str, create: bool) -> None:
        """Connect once; a missing database is created when `create` (else a clear error)."""
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            return
        except psycopg.OperationalError as exc:
            if "does not exist" not in str(exc) or not create:
                raise NotFoundError(f"Cannot open the PostgreSQL database {redact_url(url)}: {str(exc).strip()}",
                                    hint="check the URL, that the server runs and the database exists") from None
        parts = urlsplit(url)
        name = parts.path.lstrip("/")
        admin = urlunsplit(parts._replace(path="/postgres"))
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(name)))
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")

    @staticmethod
    def _configure(conn: Any) -> None:
        register_vector(conn)

    def close(self) -> None:
        self.pool.close()

    def local_path(self):
        return None

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            with conn.cursor() as cur:
                yield cur
            return
        with self.pool.connection() as conn, conn.cursor() as cur:
            yield cur

    @contextmanager
    def _begin(self) -> Iterator[None]:
        with self.pool.connection() as conn:
            self._local.conn = conn
            try:
                with conn.transaction():
                    yield
            finally:
                self._local.conn = None

    def _sql(self, sql: str) -> str:
        return _pg(sql)

    def _binary_rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows fetched in PostgreSQL's binary format (vectors arrive without text parsing)."""
        with self._cursor() as cur:
            cur.execute(_pg(sql), tuple(params), binary=True)
            return list(cur.fetchall())

    def _fix_row(self, row: Any) -> dict[str, Any]:
        return dict(row)

    # -- dialect hooks -----------------------------------------------------------------------
    def _epoch(self) -> float:
        return float(self._value("SELECT extract(epoch FROM clock_timestamp()) AS t"))

    def _lock_key(self, key: str) -> None:
        self._exec("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", (key,))

    def _lock_schema(self) -> None:
        self._exec("SELECT pg_advisory_xact_lock(?)", (SCHEMA_LOCK,))

    def _notify_jobs(self) -> None:
        self._exec("NOTIFY deskbook_jobs")

    def _blob(self, data: bytes) -> bytes:
        return data

    def _tag_filter(self, alias: str) -> str:
        return (f"EXISTS (SELECT 1 FROM json_array_elements_text({alias}.tags::json) AS t(v) "
                "WHERE lower(t.v) = lower(?))")

    def _json_text(self, column: str, key: str) -> str:
        return f"({column}::json ->> '{key}')"

    def all_tags(self) -> list[tuple[str, int]]:
        rows = self._rows("SELECT lower(t.v) AS tag, count(*) AS n FROM documents d, "
                          "json_array_elements_text(d.tags::json) AS t(v) GROUP BY lower(t.v) "
                          "ORDER BY count(*) DESC, lower(t.v)")
        return [(r["tag"], int(r["n"])) for r in rows]

    # -- chunks, the lexical index and vectors -----------------------------------------------
    def _insert_chunk(self, doc: Document, ch: Chunk, lex: tuple[str, str, str]) -> int:
        return self._insert(
            "INSERT INTO chunks(doc_id, ord, heading, text, kind, start_char, end_char, content_hash, lex_title, "
            "lex_heading, lex_text, lex_lang) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) RETURNING id",
            (doc.id, ch.ord, ch.heading, ch.text, ch.kind, ch.start, ch.end, ch.hash_for(doc.title), *lex,
             doc.language or "en"))

    def _update_lexical_rows(self, rows: list[tuple[int, str, str, str, str]]) -> None:
        self._many("UPDATE chunks SET lex_title = ?, lex_heading = ?, lex_text = ?, lex_lang = ? WHERE id = ?",
                   [(*r[1:], r[0]) for r in rows])

    def _delete_chunk_rows(self, ids: list[int]) -> None:
        self._exec("DELETE FROM chunks WHERE id = ANY(?)", (ids,))  # vectors go with them (ON DELETE CASCADE)

    def _create_vector_table(self, dim: int) -> None:
        self._exec(f"CREATE TABLE IF NOT EXISTS chunk_vectors (id BIGINT PRIMARY KEY REFERENCES chunks(id) "
                   f"ON DELETE CASCADE, embedding vector({int(dim)}) NOT NULL)")

    def _drop_vector_table(self) -> None:
        self._exec("DROP TABLE IF EXISTS chunk_vectors")
        self._vector_ready = False

    def _put_vector_rows(self, ids: list[int], vectors: np.ndarray, *, replace: bool = False) -> None:
        conflict = " ON CONFLICT (id) DO UPDATE SET embedding = excluded.embedding" if replace else ""
        self._many(f"INSERT INTO chunk_vectors(id, embedding) VALUES (?, ?){conflict}",
                   [(int(c), np.ascontiguousarray(v, dtype=np.float32)) for c, v in zip(ids, vectors, strict=True)])

    def vectors_by_hash(self, hashes: Iterable[str]) -> dict[str, np.ndarray]:
        if self.vector_dim() is None:
            return {}
        hashes = list(set(hashes))
        out: dict[str, np.ndarray] = {}
        for r in self._binary_rows("SELECT c.content_hash, v.embedding FROM chunks c JOIN chunk_vectors v "
                                   "ON v.id = c.id WHERE c.content_hash = ANY(?)", (hashes,)):
            out.setdefault(r["content_hash"], _vec(r["embedding"]))
        return out

    def get_vectors(self, chunk_ids: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        dim = self.vector_dim()
        if dim is None or not len(chunk_ids):
            return np.zeros(0, dtype=np.int64), np.zeros((0, dim or 0), dtype=np.float32)
        rows = self._binary_rows("SELECT id, embedding FROM chunk_vectors WHERE id = ANY(?)",
                                 ([int(c) for c in chunk_ids],))
        if not rows:
            return np.zeros(0, dtype=np.int64), np.zeros((0, dim), dtype=np.float32)
        return (np.array([r["id"] for r in rows], dtype=np.int64),
                np.vstack([_vec(r["embedding"]) for r in rows]))

    def iter_vectors(self, batch: int = 10000, min_id: int = 0) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        dim = self.vector_dim()
        if dim is None:
            return
        last = min_id
        while True:
            rows = self._binary_rows("SELECT id, embedding FROM chunk_vectors WHERE id > ? ORDER BY id LIMIT ?",
                                     (last, batch))
            if not rows:
                return
            ids = np.array([r["id"] for r in rows], dtype=np.int64)
            mat = np.vstack([_vec(r["embedding"]) for r in rows]).reshape(len(rows), dim)
            last = int(ids[-1])
            yield ids, mat

    def vector_count(self) -> int:
        if self.vector_dim() is None:
            return 0
        return int(self._value("SELECT count(*) AS n FROM chunk_vectors"))

    def ensure_vector_index(self) -> None:
        """The HNSW index pgvector searches with (made once; building it takes a while on a large base)."""
        if self._vector_ready or self.vector_dim() is None:
            return
        self._exec("CREATE INDEX IF NOT EXISTS chunk_vectors_hnsw ON chunk_vectors USING hnsw (embedding vector_ip_ops) "
                   "WITH (m = 16, ef_construction = 64)")
        self._vector_ready = True

    def nearest_vectors(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None
                        ) -> list[tuple[int, float]] | None:
        """[(chunk id, inner product)] best first: the HNSW index, or an exact scan of `allowed` (a filter
        applied after an approximate index scan could return fewer than k)."""
        if self.vector_dim() is None:
            return []
        q = np.ascontiguousarray(query, dtype=np.float32)
        if allowed is not None:
            rows = self._rows("SELECT id, -(embedding <#> ?) AS s FROM chunk_vectors WHERE id = ANY(?) "
                              "ORDER BY (embedding <#> ?) + 0 LIMIT ?", (q, [int(a) for a in allowed], q, int(k)))
            return [(int(r["id"]), float(r["s"])) for r in rows]
        self.ensure_vector_index()
        with self.transaction():
            self._exec(f"SET LOCAL hnsw.ef_search = {max(40, int(k))}")
            rows = self._rows("SELECT id, -(embedding <#> ?) AS s FROM chunk_vectors ORDER BY embedding <#> ? LIMIT ?",
                              (q, q, int(k)))
        return [(int(r["id"]), float(r["s"])) for r in rows]

    # -- lexical search ----------------------------------------------------------------------
    def lexical_search(self, query: LexicalQuery, limit: int, filters: SearchFilters = NO_FILTERS
                       ) -> list[tuple[int, float]]:
        """(chunk id, ts_rank score: higher is better); title, heading and text weighted 1 : 0.5 : 0.25. Each
        reading of the query matches the chunks of its language (all chunks when it names none)."""
        conds, rank, params, rank_params = [], [], [], []
        for reading in query.readings():
            tsq = _tsquery(reading)
            if tsq is None:
                continue
            if reading.language:
                conds.append("(c.lex_lang = ? AND c.tsv @@ to_tsquery('simple', ?))")
                params += [reading.language, tsq]
                rank.append("WHEN c.lex_lang = ? THEN to_tsquery('simple', ?)")
                rank_params += [reading.language, tsq]
            else:
                conds.append("c.tsv @@ to_tsquery('simple', ?)")
                params.append(tsq)
                rank.append("WHEN true THEN to_tsquery('simple', ?)")
                rank_params.append(tsq)
        if not conds:
            return []
        where = ["(" + " OR ".join(conds) + ")"]
        join = ""
        if filters:
            join = "JOIN documents d ON d.id = c.doc_id"
            more, more_params = self._document_filters(filters)
            where += more
            params += more_params
        sql = (f"SELECT c.id, ts_rank('{{0.1, 0.25, 0.5, 1.0}}', c.tsv, CASE {' '.join(rank)} END, 1) AS s "
               f"FROM chunks c {join} WHERE {' AND '.join(where)} ORDER BY s DESC, c.id LIMIT ?")
        return [(int(r["id"]), float(r["s"])) for r in self._rows(sql, [*rank_params, *params, int(limit)])]

    def term_document_frequencies(self, terms: Iterable[str]) -> dict[str, int]:
        out = {}
        for t in dict.fromkeys(terms):
            out[t] = int(self._value("SELECT count(*) AS n FROM chunks WHERE tsv @@ to_tsquery('simple', ?)",
                                     (f"'{t}'",))) if _TOKEN.match(t) else 0
        return out

    # -- copying (kb.storage.copy) ------------------------------------------------------------
    @contextmanager
    def _stream(self, sql: str, params: Sequence[Any] = ()) -> Iterator[Any]:
        with self.pool.connection() as conn, conn.transaction(), conn.cursor(name="deskbook_dump") as cur:
            cur.itersize = 2000
            cur.execute(_pg(sql), tuple(params))
            yield cur

    def _dump_sql(self, table: str) -> str:
        if table == "chunks":
            return (f"SELECT {self._chunk_cols}, lex_title, lex_heading, lex_text, lex_lang FROM chunks ORDER BY id")
        if table == "chunk_vectors":
            return "SELECT id, embedding AS vector FROM chunk_vectors ORDER BY id"
        return super()._dump_sql(table)

    def _vector_value(self, raw: Any) -> np.ndarray:
        return _vec(raw)

    def _load_chunks(self, rows: list[dict[str, Any]]) -> None:
        self._many("INSERT INTO chunks(id, doc_id, ord, heading, text, kind, start_char, end_char, content_hash, "
                   "lex_title, lex_heading, lex_text, lex_lang) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                   [(r["id"], r["doc_id"], r["ord"], r["heading"], r["text"], r["kind"], r["start_char"],
                     r["end_char"], r["content_hash"], r["lex_title"], r["lex_heading"], r["lex_text"],
                     r.get("lex_lang") or "en") for r in rows])

    def _reset_sequences(self) -> None:
        for table, col in (("chunks", "id"), ("qa_scorecards", "id"), ("qa_reviews", "id"), ("qa_models", "id"), ("users", "id"),
                           ("api_tokens", "id"), ("query_log", "id"), ("query_events", "id"), ("doc_views", "id"),
                           ("jobs", "seq"), ("job_files", "id"), ("erasures", "id")):
            self._exec(f"SELECT setval(pg_get_serial_sequence('{table}', '{col}'), "
                       f"coalesce((SELECT max({col}) FROM {table}), 0) + 1, false)")

    def checkpoint(self, wait_seconds: float = 30.0) -> bool:
        """Nothing to do on a server (deleted rows go with PostgreSQL's own vacuum)."""
        return True

