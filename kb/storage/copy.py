"""`deskbook store copy`: a whole Deskbook from one database to another (SQLite <-> PostgreSQL).

Documents and every version, chunks with their lexical index and vectors, QA transcripts, scorecards
and reviews, users and API tokens, the query log (requests, feedback, views, query vectors) and
live-assist conversations are copied table by table with their ids, in batches, with progress;
at the end every table's row count is compared. The destination must be empty (a new file, or a
new PostgreSQL database). Sign-in sessions and background jobs are not copied.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from kb.errors import ConflictError, DeskbookError
from kb.storage.protocols import Store


@dataclass
class CopyReport:
    tables: dict[str, dict[str, int]] = field(default_factory=dict)  # table -> {source, copied, destination}
    rows: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(t["source"] == t["destination"] for t in self.tables.values())

    @property
    def rows_per_second(self) -> float:
        return round(self.rows / self.seconds, 1) if self.seconds else 0.0

    def to_dict(self) -> dict:
        return {"ok": self.ok, "rows": self.rows, "seconds": self.seconds, "rows_per_second": self.rows_per_second,
                "tables": self.tables}


def is_empty(store: Store) -> bool:
    return all(store.table_count(t) == 0 for t in ("documents", "users", "qa_scorecards", "query_log"))


def copy_store(src: Store, dst: Store, *, batch: int = 2000,
               progress: Callable[[str, int, int], None] | None = None) -> CopyReport:
    """Copy every table of `src` into the empty `dst`; `progress(table, done, total)` after each batch."""
    if not is_empty(dst):
        raise ConflictError(f"The destination {dst.url} is not empty",
                            hint="copy into a new SQLite file or a new, empty PostgreSQL database")
    if src.vector_dim() is not None and dst.vector_dim() not in (None, src.vector_dim()):
        raise DeskbookError("The destination holds vectors of another dimension")
    report = CopyReport()
    t0 = time.perf_counter()
    for table in src.copy_tables():
        total = src.table_count(table)
        done = 0
        for rows in src.dump_table(table, batch=batch):
            dst.load_rows(table, rows)
            done += len(rows)
            if progress:
                progress(table, done, total)
        report.tables[table] = {"source": total, "copied": done}
        report.rows += done
    dst.finish_load()
    for table, t in report.tables.items():
        t["destination"] = dst.table_count(table)
    report.seconds = round(time.perf_counter() - t0, 3)
    return report
