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


def read_uploads(files: list[FileStorage]) -> list[tuple[str, bytes]]:
    """(safe name, content) of each uploaded SOP or ticket file; a wrong type is refused before anything is kept."""
    files = [f for f in files if f and f.filename]
    if not files:
        raise InputError("No file was sent", hint="choose one or more .md, .txt, .html, .csv or .jsonl files",
                         field="files")
    for f in files:
        if Path(f.filename).suffix.lower() not in ALLOWED:
            raise InputError(f"{f.filename}: not an SOP or ticket file",
                             hint=f"allowed: {', '.join(ALLOWED)}", field="files")
    out: list[tuple[str, bytes]] = []
    names: set[str] = set()
    for f in files:
        name = secure_filename(f.filename) or f"file{len(out)}{Path(f.filename).suffix.lower()}"
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
