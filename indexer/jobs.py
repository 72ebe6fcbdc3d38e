"""The `index_upload` background job: SOP and ticket files uploaded in the web app, indexed one by one.

The files travel with the job in the database (so a worker on another machine can read them); the
worker writes them to `<data_dir>/uploads/<time>-<user>/` (where an indexed document's source path
points) and the database copy is removed when the job ends. Each
file goes through the same `index_paths` as `deskbook index`; a file that cannot be read is
reported and the others go on. Indexing is idempotent (content hashes), so a retried job redoes
nothing that was already written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kb.errors import DeskbookError


def index_upload(ctx) -> dict[str, Any]:
    from indexer.pipeline import index_paths

    store, config = ctx.store, ctx.config
    files = ctx.files()
    totals = {"added": 0, "updated": 0, "unchanged": 0, "chunks_embedded": 0}
    files_out: list[dict[str, Any]] = []
    errors: list[str] = []
    ids: list[str] = []
    ctx.progress(0, len(files), "starting")
    folder = Path(config.data_dir) / "uploads" / (ctx.payload.get("folder") or ctx.job.id)
    folder.mkdir(parents=True, exist_ok=True)
    for i, (name, data) in enumerate(files):
        ctx.progress(i, len(files), f"indexing {name} ({i + 1} of {len(files)})")
        path = folder / Path(name).name
        path.write_bytes(data)
        before = set(store.document_hashes())
        try:
            report = index_paths(store, ctx.embedder, config, [path], progress=False, remove_missing=False)
        except DeskbookError as exc:
            errors.append(f"{name}: {exc}")
            files_out.append({"file": name, "error": str(exc)})
            continue
        for k in totals:
            totals[k] += getattr(report, k)
        errors.extend(report.errors)
        new_ids = sorted(set(store.document_hashes()) - before)
        ids.extend(new_ids)
        files_out.append({"file": name, "added": report.added, "updated": report.updated,
                          "unchanged": report.unchanged, "errors": report.errors, "new_ids": new_ids[:50]})
    ctx.progress(len(files), len(files), "done")
    summary = (f"{len(files)} file(s): {totals['added']} added, {totals['updated']} updated, "
               f"{totals['unchanged']} unchanged" + (f"; {len(errors)} problem(s)" if errors else ""))
    return {"summary": summary, **totals, "files": files_out, "errors": errors, "new_ids": ids[:200]}
