"""The SQL both backends share: a few primitives each backend implements, transactions, meta, migrations.

SQL here is written once with `?` placeholders and portable syntax (SQLite 3.35+ and PostgreSQL
both have `RETURNING`, `ON CONFLICT`, `coalesce`, `substr`); what differs (JSON access, vectors,
full-text search, row locks) is a hook the backend fills in. Rows come back as plain dicts.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from kb.errors import SchemaError
from kb.storage.records import now_iso

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
        with self._begin():
            self._local.depth = 1
            try:
                yield self
            finally:
                self._local.depth = 0

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

    def _bump_meta(self, key: str, by: int = 1) -> None:
        self._exec("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = "
                   "CAST(CAST(meta.value AS INTEGER) + ? AS TEXT)", (key, str(by), by))

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
