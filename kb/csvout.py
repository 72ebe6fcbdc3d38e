"""The one CSV writer of every export (insights reports, QA scores and reviews, CLI `--csv`).

A cell that a spreadsheet would run as a formula (it starts with `=`, `+`, `-`, `@`, a tab or a
carriage return, as an agent's logged query `=HYPERLINK(...)` does) is written with a leading
apostrophe, so Excel, LibreOffice and Google Sheets show it as text (OWASP's "CSV injection"
advice). Numbers stay numbers: `-3.5` as a number, or as a string that is a plain number, is
written as it is.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from typing import Any

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def safe_cell(value: Any) -> Any:
    """`value` as it may go into a CSV cell: formula-like text is prefixed with an apostrophe."""
    if not isinstance(value, str) or not value:
        return value
    head = value.lstrip(" ")
    if (value[0] in _TRIGGERS or head[:1] in _TRIGGERS) and not _NUMBER.match(value.strip()):
        return "'" + value
    return value


class SafeWriter:
    """`csv.writer` whose rows go through `safe_cell`."""

    def __init__(self, f, **kw: Any):
        kw.setdefault("lineterminator", "\n")
        self._w = csv.writer(f, **kw)

    def writerow(self, row: Iterable[Any]) -> None:
        self._w.writerow([safe_cell(v) for v in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for r in rows:
            self.writerow(r)


def csv_text(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> str:
    """Dict rows as CSV text with a header row (columns: given, else the first row's keys)."""
    cols = list(columns) if columns is not None else (list(rows[0].keys()) if rows else [])
    buf = io.StringIO()
    w = SafeWriter(buf)
    w.writerow(cols)
    for r in rows:
        w.writerow(_cell(r.get(c)) for c in cols)
    return buf.getvalue()


def csv_lines(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """List rows (after a header) as CSV text."""
    buf = io.StringIO()
    w = SafeWriter(buf)
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return "; ".join(str(v) for v in value)
    return value
