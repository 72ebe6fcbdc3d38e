"""The SQL both backends share: a few primitives each backend implements, transactions, meta, migrations.

SQL here is written once with `?` placeholders and portable syntax (SQLite 3.35+ and PostgreSQL
both have `RETURNING`, `ON CONFLICT`, `coalesce`, `substr`); what differs (JSON access, vectors,
full-text search, row locks) is a hook the backend fills in. Rows come back as plain dicts.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from kb.errors import SchemaError
from kb.storage.records import now_iso

# How stale a process may see the vectors and fields generations that another process wrote (an index run
# beside the server). Each search checks them: a fresh reading is kept this long per database, so a
# loaded server reads the meta table a few times a second, not several times a search. Writes made
# through any store of this process are seen at once.
GENERATIONS_FRESH_S = 0.5
GENERATION_KEYS = ("vectors_generation", "fields_generation")
_GENERATIONS: dict[str, tuple[float, int, tuple[int, str]]] = {}  # database -> (read at, epoch, generations)
_GENERATION_EPOCHS: dict[str, int] = {}  # database -> writes of a generation by this process
_GENERATIONS_LOCK = threading.Lock()

# A migration is SQL (statements separated by ";\n") or a function of the store, run in a transaction.
Migration = tuple[str, "str | Callable[[Any], None]"]


def split_sql(sql: str) -> list[str]:
    out = []
    for s in sql.split(";\n"):
        lines = [ln for ln in s.strip().splitlines() if ln.strip() and not ln.strip().startswith("--")]
        if lines:
            out.append(s.strip().rstrip(";"))
    return out


class SqlStore:
    """Primitives (`_rows`, `_row`, `_value`, `_exec`, `_insert`, `_many`), transactions, meta, migrations."""

    backend = "sql"
    MIGRATIONS: list[Migration] = []
    # Migration names written by Deskbook 0.1 (one list for every package) and their new names.
    LEGACY_MIGRATIONS: dict[str, str] = {}

    def __init__(self) -> None:
        self._local = threading.local()

    # -- primitives the backend implements -----------------------------------------------------
    @contextmanager
    def _cursor(self) -> Iterator[Any]:  # pragma: no cover - abstract
        raise NotImplementedError
        yield

    def _sql(self, sql: str) -> str:
        return sql

    def _fix_row(self, row: Any) -> dict[str, Any]:
        return dict(row)

    # -- shared on top of them ---------------------------------------------------------------
    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self._cursor() as cur:
            cur.execute(self._sql(sql), tuple(params))
            return [self._fix_row(r) for r in cur.fetchall()] if cur.description else []

    def _ids(self, sql: str, params: Sequence[Any] = ()) -> np.ndarray:
        """The `id` column of every row, as int64, without building a dict per row."""
        with self._cursor() as cur:
            cur.execute(self._sql(sql), tuple(params))
            return np.fromiter((r["id"] for r in cur), dtype=np.int64)

    def _row(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        with self._cursor() as cur:
            cur.execute(self._sql(sql), tuple(params))
            r = cur.fetchone()
            return self._fix_row(r) if r is not None else None

    def _value(self, sql: str, params: Sequence[Any] = ()) -> Any:
        with self._cursor() as cur:
            cur.execute(self._sql(sql), tuple(params))
            r = cur.fetchone()
            if r is None:
                return None
            return next(iter(self._fix_row(r).values()))

    def _exec(self, sql: str, params: Sequence[Any] = ()) -> int:
        with self._cursor() as cur:
            cur.execute(self._sql(sql), tuple(params))
            return cur.rowcount

    def _insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        """An INSERT ... RETURNING id; the new id."""
        with self._cursor() as cur:
            cur.execute(self._sql(sql), tuple(params))
            return int(next(iter(self._fix_row(cur.fetchone()).values())))

    def _many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        with self._cursor() as cur:
            cur.executemany(self._sql(sql), [tuple(r) for r in rows])

    def _in(self, values: Sequence[Any]) -> str:
        return ",".join("?" * len(values))

    # -- transactions ------------------------------------------------------------------------
    @contextmanager
    def transaction(self):
        """All writes inside commit together, or none (an error rolls back); nested calls join."""
        depth = getattr(self._local, "depth", 0)
        if depth:
            self._local.depth = depth + 1
            try:
                yield self
            finally:
                self._local.depth -= 1
            return
        self._local.bumped = False
        try:
            with self._begin():
                self._local.depth = 1
                try:
                    yield self
                finally:
                    self._local.depth = 0
        finally:
            if self._local.bumped:  # committed or rolled back: the next reading comes from the database
                self._generations_changed()

    @contextmanager
    def _begin(self) -> Iterator[None]:  # pragma: no cover - abstract
        raise NotImplementedError
        yield

    @property
    def in_transaction(self) -> bool:
        return bool(getattr(self._local, "depth", 0))

    # -- meta --------------------------------------------------------------------------------
    def get_meta(self, key: str, default: str | None = None) -> str | None:
        v = self._value("SELECT value FROM meta WHERE key = ?", (key,))
        return v if v is not None else default

    def set_meta(self, key: str, value: Any) -> None:
        self._exec("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                   (key, str(value)))
        self._meta_written(key)

    def _bump_meta(self, key: str, by: int = 1) -> None:
        self._exec("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = "
                   "CAST(CAST(meta.value AS INTEGER) + ? AS TEXT)", (key, str(by), by))
        self._meta_written(key)

    # -- the generations searches are keyed on ------------------------------------------------
    def generations(self) -> tuple[int, str]:
        """(vectors generation, fields generation): what searchers' caches are keyed on. Read from the
        database at most every `GENERATIONS_FRESH_S` per database and process, in one statement; a write
        of either through any store of this process is seen by the next call, another process's write
        within `GENERATIONS_FRESH_S`. Inside a transaction, always read."""
        key = self._generations_key()
        if self.in_transaction:
            return self._read_generations()
        with _GENERATIONS_LOCK:
            hit = _GENERATIONS.get(key)
            epoch = _GENERATION_EPOCHS.get(key, 0)
        now = time.monotonic()
        if hit is not None and hit[1] == epoch and now - hit[0] < GENERATIONS_FRESH_S:
            return hit[2]
        gen = self._read_generations()
        with _GENERATIONS_LOCK:  # not if this process wrote one meanwhile: the reading may be from before it
            if _GENERATION_EPOCHS.get(key, 0) == epoch:
                _GENERATIONS[key] = (now, epoch, gen)
        return gen

    def _read_generations(self) -> tuple[int, str]:
        values = {r["key"]: r["value"] for r in self._rows(
            f"SELECT key, value FROM meta WHERE key IN ({self._in(GENERATION_KEYS)})", GENERATION_KEYS)}
        return int(values.get("vectors_generation") or 0), str(values.get("fields_generation") or "0")

    def _generations_key(self) -> str:
        url = str(getattr(self, "url", "") or "")
        return url if url and url != ":memory:" else f"store:{id(self)}"

    def _meta_written(self, key: str) -> None:
        if key not in GENERATION_KEYS:
            return
        if self.in_transaction:
            self._local.bumped = True  # forgotten when the transaction ends (a reader could cache it before)
        else:
            self._generations_changed()

    def _generations_changed(self) -> None:
        key = self._generations_key()
        with _GENERATIONS_LOCK:
            _GENERATION_EPOCHS[key] = _GENERATION_EPOCHS.get(key, 0) + 1
            _GENERATIONS.pop(key, None)

    @property
    def uid(self) -> str:
        return self.get_meta("store_uid") or ""

    # -- schema ------------------------------------------------------------------------------
    def _create_migrations_table(self) -> None:
        self._exec("CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")

    def _lock_schema(self) -> None:
        """Serialise migrations between processes (a no-op where the transaction already does)."""

    def migrate(self) -> list[str]:
        """Apply pending migrations in order; refuse a database written by a newer Deskbook."""
        done: list[str] = []
        with self.transaction():
            self._lock_schema()
            self._create_migrations_table()
            for old, new in self.LEGACY_MIGRATIONS.items():
                self._exec("UPDATE schema_migrations SET name = ? WHERE name = ?", (new, old))
            applied = set(self.schema_migrations())
            known = [name for name, _ in self.MIGRATIONS]
            unknown = sorted(applied - set(known))
            if unknown:
                raise SchemaError(
                    f"{self.url} was written by a newer version of Deskbook (schema migrations "
                    f"{', '.join(unknown)} are unknown to this version)", hint="upgrade Deskbook, or use another --db")
            for name, step in self.MIGRATIONS:
                if name in applied:
                    continue
                if callable(step):
                    step(self)
                else:
                    for statement in split_sql(step):
                        self._exec(statement)
                self._exec("INSERT INTO schema_migrations(name, applied_at) VALUES (?, ?)", (name, now_iso()))
                done.append(name)
            if not self.get_meta("store_uid"):
                self.set_meta("store_uid", secrets.token_hex(8))
        return done

    def schema_migrations(self) -> list[str]:
        return [r["name"] for r in self._rows("SELECT name FROM schema_migrations ORDER BY name")]

    def schema_version(self) -> str:
        names = self.schema_migrations()
        return ",".join(sorted(names)[-1:]) if names else ""
