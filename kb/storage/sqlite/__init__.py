"""The embedded SQLite backend (the default: one file, nothing to install)."""

from kb.storage.sqlite.store import SqliteStore

__all__ = ["SqliteStore"]
