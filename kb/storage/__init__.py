"""Storage: one protocol per concern (`kb.storage.protocols`) and two backends behind them.

- `sqlite` (the default): one file, nothing to install, FTS5 and sqlite-vec.
- `postgresql`: `--db postgresql://USER@HOST:PORT/DBNAME` (or `?host=/socket/dir`), for several app
  servers and workers on one database; pgvector and PostgreSQL full-text search. Needs the extra:
  `pip install "deskbook[postgres]"` (psycopg 3 with a pool).

Nothing outside this package writes SQL or imports a database driver (import-linter checks it).
"""

from __future__ import annotations

from pathlib import Path

from kb.errors import ConfigError
from kb.storage.protocols import (
    AccountStore,
    ConversationStore,
    DocumentStore,
    JobStore,
    QAStore,
    QueryLogStore,
    Store,
)
from kb.storage.records import NO_FILTERS, ConversationRecord, JobRecord, SearchFilters, now_iso

SERVER_SCHEMES = ("postgresql://", "postgres://")


def is_server_url(target: str | Path) -> bool:
    return str(target).startswith(SERVER_SCHEMES)


def open_store(target: str | Path, *, create: bool = True, pool_size: int | None = None) -> Store:
    """Open (and migrate) the database `target` names: a SQLite path or a postgresql:// URL."""
    if is_server_url(target):
        try:
            from kb.storage.postgres import PostgresStore
        except ImportError as exc:
            raise ConfigError(f"PostgreSQL support is not installed ({exc.name or exc})",
                              hint='pip install "deskbook[postgres]"') from None
        return PostgresStore(str(target), create=create, pool_size=pool_size)
    from kb.storage.sqlite import SqliteStore

    return SqliteStore(target, create=create)


def derived_path(store: Store, data_dir: str | Path, name: str) -> Path:
    """Where a file derived from the store's data (a FAISS index, a sentence-vector cache) is kept.

    Beside a SQLite file (`<db>.<name>`); for a server database, in this machine's
    `<data_dir>/derived/`, named by the database's id, so each app server keeps its own copy.
    """
    local = store.local_path()
    if local is not None:
        return local.with_name(f"{local.name}.{name}")
    folder = Path(data_dir) / "derived"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{store.uid}.{name}"


__all__ = ["AccountStore", "ConversationRecord", "ConversationStore", "DocumentStore", "JobRecord", "JobStore",
           "NO_FILTERS", "QAStore", "QueryLogStore", "SearchFilters", "Store", "derived_path", "is_server_url",
           "now_iso", "open_store"]
