"""Uploads of SOP files (Markdown, text, HTML) and ticket files (CSV, JSONL), indexed in the background.

The files (names made safe) are queued with an `index_upload` job (`indexer.jobs`), which a worker
writes to `<data_dir>/uploads/<time>-<user>/` and indexes one file at a time, so the page can show
"file 2 of 5" and a bar. Each file goes through the same `indexer.pipeline.index_paths` as
`deskbook index`: an SOP's id is its front-matter `id`, else its file name without extension; a
file that cannot be read is reported and the others go on.
"""

from __future__ import annotations

import time
from pathlib import Path

from werkzeug.datastructures import FileStorage
from werkzeug.utils import secure_filename

from indexer.readers import SOP_SUFFIXES, TICKET_SUFFIXES
from kb.errors import InputError

ALLOWED = tuple(SOP_SUFFIXES) + tuple(TICKET_SUFFIXES)
MAX_NAME = 120  # characters of a stored file name
_SAVE_AS = ("save it as Markdown (.md), plain text (.txt) or a web page (.html) and upload that; tickets are "
            "uploaded as CSV (.csv) or JSON lines (.jsonl)")
CONVERT = {".pdf": "PDF files cannot be read: " + _SAVE_AS, ".docx": "Word files cannot be read: " + _SAVE_AS,
           ".doc": "Word files cannot be read: " + _SAVE_AS, ".odt": "Word-processor files cannot be read: " + _SAVE_AS,
           ".xlsx": "Spreadsheets cannot be read: save the sheet as CSV (.csv) and upload that",
           ".xls": "Spreadsheets cannot be read: save the sheet as CSV (.csv) and upload that"}


def read_uploads(files: list[FileStorage]) -> list[tuple[str, bytes]]:
    """(safe name, content) of each uploaded SOP or ticket file; a wrong type is refused before anything is kept."""
    files = [f for f in files if f and f.filename]
    if not files:
        raise InputError("No file was sent", hint="choose one or more .md, .txt, .html, .csv or .jsonl files",
                         field="files")
    for f in files:
        suffix = Path(f.filename).suffix.lower()
        if suffix not in ALLOWED:
            shown = f.filename if len(f.filename) <= 80 else f.filename[:60] + "…" + f.filename[-12:]
            hint = CONVERT.get(suffix, f"allowed: {', '.join(ALLOWED)}")
            raise InputError(f"{shown}: not an SOP or ticket file Deskbook can read", hint=hint, field="files")
    out: list[tuple[str, bytes]] = []
    names: set[str] = set()
    for f in files:
        name = secure_filename(f.filename) or f"file{len(out)}{Path(f.filename).suffix.lower()}"
        if len(name) > MAX_NAME:  # file systems allow 255 bytes; keep the end (the extension)
            stem, suffix = Path(name).stem, Path(name).suffix
            name = stem[:MAX_NAME - len(suffix)] + suffix
        stem, suffix, n = Path(name).stem, Path(name).suffix, 2
        while name in names:
            name = f"{stem}-{n}{suffix}"
            n += 1
        names.add(name)
        out.append((name, f.read()))
    return out


def start_upload(services, files: list[FileStorage], *, by: str):
    """Queue the files to be indexed in the background (the `index_upload` job); returns the Job."""
    items = read_uploads(files)
    folder = secure_filename(time.strftime("%Y%m%d-%H%M%S") + "-" + by) or "upload"
    names = [n for n, _ in items]
    return services.jobs.submit("index_upload", by, "Upload: " + ", ".join(names)[:200], {"folder": folder},
                                files=items)
