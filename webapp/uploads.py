"""Uploads of SOP files (Markdown, text, HTML) and ticket files (CSV, JSONL), indexed in the background.

Files are saved under `<data_dir>/uploads/<time>-<id>/` (names made safe) and indexed one file at a
time by the job runner, so the page can show "file 2 of 5" and a bar. Each file goes through the
same `indexer.pipeline.index_paths` as `deskbook index`: an SOP's id is its front-matter `id`,
else its file name without extension; a file that cannot be read is reported and the others go on.
"""

from __future__ import annotations

import time
from pathlib import Path

from werkzeug.datastructures import FileStorage
from werkzeug.utils import secure_filename

from indexer.readers import SOP_SUFFIXES, TICKET_SUFFIXES
from kb.errors import DeskbookError, InputError

ALLOWED = tuple(SOP_SUFFIXES) + tuple(TICKET_SUFFIXES)


def save_uploads(services, files: list[FileStorage], *, folder_name: str) -> list[Path]:
    files = [f for f in files if f and f.filename]
    if not files:
        raise InputError("No file was sent", hint="choose one or more .md, .txt, .html, .csv or .jsonl files",
                         field="files")
    for f in files:
        if Path(f.filename).suffix.lower() not in ALLOWED:
            raise InputError(f"{f.filename}: not an SOP or ticket file",
                             hint=f"allowed: {', '.join(ALLOWED)}", field="files")
    root = Path(services.config.data_dir) / "uploads" / folder_name
    root.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for f in files:
        name = secure_filename(f.filename) or f"file{len(paths)}{Path(f.filename).suffix.lower()}"
        target = root / name
        n = 2
        while target.exists() or target in paths:
            target = root / f"{Path(name).stem}-{n}{Path(name).suffix}"
            n += 1
        f.save(target)
        paths.append(target)
    return paths


def start_upload(services, files: list[FileStorage], *, by: str):
    """Save the files now and index them in the background; returns the Job."""
    folder = time.strftime("%Y%m%d-%H%M%S") + "-" + by
    paths = save_uploads(services, files, folder_name=secure_filename(folder) or "upload")
    names = [p.name for p in paths]

    def run(job):
        from indexer.pipeline import index_paths

        totals = {"added": 0, "updated": 0, "unchanged": 0, "chunks_embedded": 0}
        files_out, errors, ids = [], [], []
        job.progress(0, len(paths), "starting")
        for i, p in enumerate(paths):
            job.progress(i, len(paths), f"indexing {p.name} ({i + 1} of {len(paths)})")
            before = set(services.store.document_hashes())
            try:
                report = index_paths(services.store, services.embedder, services.config, [p], progress=False,
                                     remove_missing=False)
            except DeskbookError as exc:
                errors.append(f"{p.name}: {exc}")
                files_out.append({"file": p.name, "error": str(exc)})
                continue
            for k in totals:
                totals[k] += getattr(report, k)
            errors.extend(report.errors)
            new_ids = sorted(set(services.store.document_hashes()) - before)
            ids.extend(new_ids)
            files_out.append({"file": p.name, "added": report.added, "updated": report.updated,
                              "unchanged": report.unchanged, "errors": report.errors, "new_ids": new_ids[:50]})
        job.progress(len(paths), len(paths), "done")
        summary = (f"{len(paths)} file(s): {totals['added']} added, {totals['updated']} updated, "
                   f"{totals['unchanged']} unchanged" + (f"; {len(errors)} problem(s)" if errors else ""))
        return {"summary": summary, **totals, "files": files_out, "errors": errors, "new_ids": ids[:200]}

    return services.jobs.submit("upload", by, "Upload: " + ", ".join(names)[:200], run)
