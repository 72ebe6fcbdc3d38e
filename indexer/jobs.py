"""The `index_upload` background job: SOP and ticket files uploaded in the web app, indexed one by one.

The files travel with the job in the database (so a worker on another machine can read them). The
worker writes each one to `<data_dir>/uploads/<folder>/`, indexes it with the same `index_paths` as
`deskbook index`, and deletes it again as soon as it is indexed: an uploaded ticket file holds
personal data that only the redacted documents may keep. The database copy is removed when the
job ends. Folders left behind by a worker that was killed are removed the next time an app server
or an upload job starts (`clean_stale_uploads`).

A file that cannot be read is reported and the others go on; the messages name the file as the
manager uploaded it, never a path on the server or a command-line option. A job in which no file
could be indexed fails (red, with every file's reason); one with some problems finishes with them
listed. Indexing is idempotent (content hashes), so a retried job redoes nothing already written.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

from kb.errors import DeskbookError
from kb.tempfiles import remove_path

_CLI_HINT = re.compile(r" \((?:[^()]*(?:--map|deskbook |--db)[^()]*)\)")
_CLI_WORDS = re.compile(r",? ?(?:or )?(?:map (?:one|another column|the text columns) with --map [^;)]*)")


class UploadFailed(DeskbookError):
    """No file of an upload could be indexed: every file's reason is in `errors`."""

    code = "upload_failed"

    def __init__(self, message: str, errors: list[str]):
        super().__init__(message, hint="fix the files and upload them again")
        self.errors = errors

    def to_dict(self) -> dict:
        return {**super().to_dict(), "errors": self.errors[:50]}


def for_managers(text: str, path: Path, name: str) -> str:
    """An indexing message as a manager reads it: the uploaded file's name instead of the server path,
    and no command-line hints (`--map ...`): the upload page has no options."""
    for p in {str(path.resolve()), str(path), str(path.parent.resolve()) + "/", str(path.parent) + "/"}:
        text = text.replace(p, name if not p.endswith("/") else "")
    text = _CLI_HINT.sub("", text)
    return _CLI_WORDS.sub("", text)


def clean_stale_uploads(store, config) -> int:
    """Remove upload folders that no queued or running job is using (a killed worker's leftovers)."""
    root = Path(config.data_dir) / "uploads"
    if not root.is_dir():
        return 0
    active = {str(j.payload.get("folder") or j.id) for j in store.list_jobs(kind="index_upload", limit=500)
              if j.status in ("queued", "running")}
    removed = 0
    for entry in root.iterdir():
        if entry.name in active:
            continue
        remove_path(entry)
        removed += 1
    return removed


def index_upload(ctx) -> dict[str, Any]:
    from indexer.pipeline import index_paths

    store, config = ctx.store, ctx.config
    files = ctx.files()
    totals = {"added": 0, "updated": 0, "unchanged": 0, "chunks_embedded": 0}
    files_out: list[dict[str, Any]] = []
    errors: list[str] = []
    ids: list[str] = []
    ctx.progress(0, len(files), "starting")
    clean_stale_uploads(store, config)
    folder = Path(config.data_dir) / "uploads" / (ctx.payload.get("folder") or ctx.job.id)
    folder.mkdir(parents=True, exist_ok=True)
    indexed = 0
    try:
        for i, (name, data) in enumerate(files):
            ctx.progress(i, len(files), f"indexing {name} ({i + 1} of {len(files)})")
            path = folder / Path(name).name
            before = set(store.document_hashes())
            try:
                path.write_bytes(data)
                report = index_paths(store, ctx.embedder, config, [path], progress=False, remove_missing=False)
            except DeskbookError as exc:
                msg = for_managers(str(exc), path, name)
                errors.append(msg if msg.startswith(name) else f"{name}: {msg}")
                files_out.append({"file": name, "error": errors[-1]})
                continue
            except OSError as exc:
                errors.append(f"{name}: could not be saved for indexing ({exc.strerror or exc})")
                files_out.append({"file": name, "error": errors[-1]})
                continue
            finally:
                path.unlink(missing_ok=True)  # the raw file holds unredacted text: gone once indexed
            for k in totals:
                totals[k] += getattr(report, k)
            problems = [for_managers(e, path, name) for e in report.errors]
            errors.extend(problems)
            new_ids = sorted(set(store.document_hashes()) - before)
            ids.extend(new_ids)
            indexed += report.added + report.updated + report.unchanged
            files_out.append({"file": name, "added": report.added, "updated": report.updated,
                              "unchanged": report.unchanged, "errors": problems, "new_ids": new_ids[:50]})
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if not indexed and errors:
        raise UploadFailed(f"Nothing was indexed: {len(errors)} problem(s) in {len(files)} file(s). "
                           f"First: {errors[0]}", errors)
    ctx.progress(len(files), len(files), "done")
    summary = (f"{len(files)} file(s): {totals['added']} added, {totals['updated']} updated, "
               f"{totals['unchanged']} unchanged" + (f"; {len(errors)} problem(s)" if errors else ""))
    return {"summary": summary, **totals, "files": files_out, "errors": errors, "new_ids": ids[:200]}


index_upload.isolate = True  # type: ignore[attr-defined]  # minutes of CPU: run apart from searches (kb.job_process)
