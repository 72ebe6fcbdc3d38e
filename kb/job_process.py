"""Heavy background jobs (imports) run in a child process at a low CPU priority.

An upload of a few thousand tickets is minutes of CPU work: reading, redaction (the NER model),
chunking and embedding. Run in the web server's own job thread, it competes with searches for the
cores and for Python's interpreter lock, and searches stall (measured before this: p95 63 s during a
3,000-ticket upload). A handler that sets `isolate = True` (the `index_upload` job) therefore runs in a
child process started with `nice` = `import_process_nice` (10 by default: when both want the CPU, the
kernel gives the searching web process about 90% of it and the import the rest; the import still uses
every idle cycle), and apart from the web process's interpreter lock.

The child opens the same database, runs the handler under the parent worker's name (so its progress
reports renew the same lease) and writes its outcome to a file; the parent finishes or fails the job
as it would have in-process. A child that dies leaves no outcome: the job is failed with a retry,
like any crash. `import_process_nice = -1` runs such jobs in the thread instead (no child).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any

CHILD_PREFIX = "deskbook-job-"


def run_in_child(worker, job, nice: int) -> dict[str, Any]:
    """Run `job` in a child process; its outcome as {"ok": True, "result"} | {"ok": False, "error", "retry"}
    | {"lost": True}."""
    with tempfile.TemporaryDirectory(prefix=CHILD_PREFIX) as tmp:
        cfg = Path(tmp) / "config.json"
        out = Path(tmp) / "outcome.json"
        cfg.write_text(json.dumps(dict(worker.config.values), default=str), encoding="utf-8")
        cmd = [sys.executable, "-m", "kb.job_process", job.id, worker.name, str(cfg), str(out), str(int(nice))]
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, check=False)
        try:
            return json.loads(out.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {"ok": False, "retry": True,
                    "error": {"code": "internal_error",
                              "message": f"the import process stopped before it finished (exit code {proc.returncode})"}}


def _child(job_id: str, worker_name: str, config_path: str, outcome_path: str, nice: int) -> int:
    if nice > 0 and hasattr(os, "nice"):
        os.nice(nice)
    from kb.config import Config
    from kb.errors import DeskbookError
    from kb.jobs import JobContext, JobLost, Worker
    from kb.storage import open_store

    config = Config(json.loads(Path(config_path).read_text(encoding="utf-8")))
    store = open_store(config.database, create=False, pool_size=2)
    worker = Worker(store, config, name=worker_name)
    job = store.get_job(job_id)
    try:
        result = worker.handlers[job.kind](JobContext(job, worker, {})) or {}
        outcome: dict[str, Any] = {"ok": True, "result": result}
    except JobLost:
        outcome = {"lost": True}
    except DeskbookError as exc:
        outcome = {"ok": False, "error": exc.to_dict(), "retry": False}
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which fails the job with a retry
        traceback.print_exc()
        outcome = {"ok": False, "retry": True, "error": {"code": "internal_error",
                                                         "message": f"{type(exc).__name__}: {str(exc)[:300]}"}}
    tmp = Path(outcome_path + ".tmp")
    tmp.write_text(json.dumps(outcome, default=str), encoding="utf-8")
    os.replace(tmp, outcome_path)
    store.close()
    return 0


if __name__ == "__main__":  # pragma: no cover - started by run_in_child
    sys.exit(_child(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])))
