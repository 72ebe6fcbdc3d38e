"""The PostgreSQL backend (`pip install "deskbook[postgres]"`): psycopg 3 with a pool, pgvector, tsvector."""

from kb.storage.postgres.store import PostgresStore

__all__ = ["PostgresStore"]
