"""Whole-database export and import, table by table, for `deskbook store copy` (kb.storage.copy).

Rows travel as dicts of plain Python values; vectors as numpy arrays. Ids are kept, so chunk ids
(FAISS), scorecard ids and user ids mean the same in the copy. Sessions and jobs are not copied:
people sign in again on the new database, and jobs in flight belong to the old one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

# In load order (a table after those it refers to), with the order rows are read in.
COPY_ORDER: dict[str, str] = {
    "meta": "key",
    "documents": "id",
    "document_versions": "doc_id, version",
    "chunks": "id",
    "chunk_vectors": "id",
    "users": "id",
    "api_tokens": "id",
    "qa_transcripts": "id, content_hash",
    "qa_scorecards": "id",
    "qa_criterion_results": "scorecard_id, ord",
    "qa_reviews": "id",
    "qa_models": "id",
    "query_log": "id",
    "query_events": "id",
    "doc_views": "id",
    "query_vectors": "query_hash, model",
    "assist_conversations": "id",
    "erasures": "id",
}
# Meta keys that describe this database, not its content: the copy keeps its own.
LOCAL_META = {"store_uid", "vector_dim", "vectors_generation", "vectors_deleted"}


class CopySql:
    def copy_tables(self) -> list[str]:
        return [t for t in COPY_ORDER if t != "chunk_vectors" or self.vector_dim() is not None]

    def _dump_sql(self, table: str) -> str:
        return f"SELECT * FROM {table} ORDER BY {COPY_ORDER[table]}"

    def dump_table(self, table: str, batch: int = 5000) -> Iterator[list[dict[str, Any]]]:
        if table not in COPY_ORDER:
            raise ValueError(f"not a copied table: {table}")
        with self._stream(self._dump_sql(table)) as cur:
            while True:
                raw = cur.fetchmany(batch)
                if not raw:
                    return
                rows = []
                for r in raw:
                    d = self._fix_row(r)
                    if table == "meta" and d["key"] in LOCAL_META:
                        continue
                    for k, v in d.items():
                        if isinstance(v, memoryview):
                            d[k] = bytes(v)
                    if table == "chunk_vectors":
                        d["vector"] = self._vector_value(d["vector"])
                    rows.append(d)
                if rows:
                    yield rows

    def load_rows(self, table: str, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        with self.transaction():
            if table == "chunks":
                self._load_chunks(rows)
            elif table == "chunk_vectors":
                mat = np.vstack([np.asarray(r["vector"], dtype=np.float32) for r in rows])
                self.ensure_vector_table(int(mat.shape[1]))
                self._put_vector_rows([int(r["id"]) for r in rows], mat)
            elif table == "meta":
                for r in rows:
                    self.set_meta(r["key"], r["value"])
            else:
                cols = list(rows[0])
                self._many(f"INSERT INTO {table}({', '.join(cols)}) VALUES ({self._in(cols)})",
                           [[r[c] for c in cols] for r in rows])

    def finish_load(self) -> None:
        with self.transaction():
            self._reset_sequences()
            self._bump_meta("vectors_generation")

    def table_count(self, table: str) -> int:
        if table == "chunk_vectors":
            return self.vector_count()
        if table == "meta":
            keys = ",".join(f"'{k}'" for k in sorted(LOCAL_META))
            return int(self._value(f"SELECT count(*) AS n FROM meta WHERE key NOT IN ({keys})"))
        return int(self._value(f"SELECT count(*) AS n FROM {table}"))
