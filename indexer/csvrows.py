"""CSV rows that are what they look like: a row with a stray quote is an error, never merged.

The `csv` module is forgiving: a field that opens a quote and never closes it swallows the lines
that follow (and reports success), a field too large stops the whole file with `_csv.Error`, and a
short row is padded with None. Here every record is parsed on its own, in strict mode:

- a record whose quote runs to the end of the file, that has text after a closing quote, or
  whose number of fields differs from the header's, is reported with its first line, and reading
  starts again on the line after it, so the rows it would have swallowed are read;
- a field larger than `MAX_FIELD` characters is reported (file, line, column) and its row skipped;
- quoted fields that span lines (a multi-line ticket description) are kept, as CSV allows.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator

from kb.errors import InputError

MAX_FIELD = 200_000  # characters in one cell: a ticket, not a document dump
_PARSER_LIMIT = 64 * 1024 * 1024  # the csv module's own limit (process-wide): we check MAX_FIELD ourselves


class _Lines:
    """The file's lines as an iterator that can be moved back to any line."""

    def __init__(self, lines: list[str]):
        self.lines = lines
        self.pos = 0

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if self.pos >= len(self.lines):
            raise StopIteration
        self.pos += 1
        return self.lines[self.pos - 1]


def _record(src: _Lines) -> list[str] | None:
    """The next record (None at the end); raises csv.Error for a malformed one."""
    return next(csv.reader(src, strict=True), None)


def csv_rows(text: str, path: str) -> tuple[list[str], Iterator[tuple[int, dict[str, str]] | InputError]]:
    """(header, iterator of (line, row as a dict) or an InputError for a bad record)."""
    if csv.field_size_limit() < _PARSER_LIMIT:
        csv.field_size_limit(_PARSER_LIMIT)
    src = _Lines(text.splitlines(keepends=True))
    header: list[str] | None = None
    while header is None and src.pos < len(src.lines):
        try:
            header = _record(src)
        except csv.Error as exc:
            raise InputError(f"{path}:1: the header row is not valid CSV ({exc})",
                             hint="the first line names the columns, separated by commas") from None
        if header == []:
            header = None
    if not header:
        raise InputError(f"{path}: the file is empty", hint="the first line names the columns, e.g. id,subject,question")
    names = [h.strip() for h in header]
    return names, _rows(src, names, path)


def _rows(src: _Lines, names: list[str], path: str) -> Iterator[tuple[int, dict[str, str]] | InputError]:
    n = len(names)
    while src.pos < len(src.lines):
        start = src.pos
        try:
            row = _record(src)
        except csv.Error as exc:
            src.pos = start + 1
            yield InputError(f"{path}:{start + 1}: this row is not valid CSV ({exc}); it was skipped",
                             hint="a quote inside a field must be doubled (\"\"), and a quoted field must end with "
                                  "a quote followed by a comma or the end of the line")
            continue
        if row is None:
            return
        if row == []:  # a blank line
            continue
        used = src.pos - start
        if len(row) != n:
            src.pos = start + 1
            more = (f"; it runs over {used} lines, so a quote is probably not closed" if used > 1 else "")
            yield InputError(f"{path}:{start + 1}: this row has {len(row)} fields but the header has {n}{more}; "
                             "it was skipped", hint="check the quotes and commas of that line")
            continue
        big = next((i for i, v in enumerate(row) if len(v) > MAX_FIELD), None)
        if big is not None:
            yield InputError(f"{path}:{start + 1}: the `{names[big]}` field has {len(row[big]):,} characters, "
                             f"more than {MAX_FIELD:,}; the row was skipped",
                             hint="shorten that field or split the ticket", field=names[big])
            continue
        yield start + 1, dict(zip(names, row, strict=True))
