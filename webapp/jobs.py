"""Background jobs (uploads to index, transcripts to score) with progress the pages can poll.

One worker thread runs the jobs in order: indexing and scoring both write to the one SQLite
file, and one at a time keeps requests fast. Jobs live in memory (the last `KEEP` of them); a
restart forgets them, but what they wrote to the database stays.
"""

from __future__ import annotations

import secrets
import threading
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from kb.errors import DeskbookError, NotFoundError

KEEP = 200


@dataclass
class Job:
    id: str
    kind: str  # upload | score
    owner: str  # username
    title: str
    status: str = "queued"  # queued | running | done | failed
    done: int = 0
    total: int = 0
    message: str = "waiting to start"
    result: dict[str, Any] = field(default_factory=dict)
    error: dict[str, Any] | None = None
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None

    def progress(self, done: int, total: int | None = None, message: str | None = None) -> None:
        self.done = done
        if total is not None:
            self.total = total
        if message is not None:
            self.message = message

    @property
    def percent(self) -> int:
        if self.status == "done":
            return 100
        return int(100 * self.done / self.total) if self.total else 0

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "owner": self.owner, "title": self.title, "status": self.status,
                "done": self.done, "total": self.total, "percent": self.percent, "message": self.message,
                "result": self.result, "error": self.error,
                "seconds": round((self.finished_at or time.time()) - (self.started_at or self.created_at), 2)}


class JobRunner:
    def __init__(self) -> None:
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="deskbook-job")

    def submit(self, kind: str, owner: str, title: str, fn: Callable[[Job], dict[str, Any] | None]) -> Job:
        job = Job(id=secrets.token_hex(8), kind=kind, owner=owner, title=title)
        with self._lock:
            self._jobs[job.id] = job
            while len(self._jobs) > KEEP:
                self._jobs.popitem(last=False)
        self._pool.submit(self._run, job, fn)
        return job

    def _run(self, job: Job, fn: Callable[[Job], dict[str, Any] | None]) -> None:
        job.status, job.started_at, job.message = "running", time.time(), "started"
        try:
            job.result = fn(job) or {}
            job.status = "done"
            job.message = job.result.get("summary", "done") if isinstance(job.result, dict) else "done"
        except DeskbookError as exc:
            job.status, job.error, job.message = "failed", exc.to_dict(), exc.message
        except Exception as exc:  # noqa: BLE001 - a job must never take the worker down
            job.status, job.message = "failed", f"{type(exc).__name__}: {exc}"
            job.error = {"code": "internal_error", "message": job.message}
            traceback.print_exc()
        finally:
            job.finished_at = time.time()

    def get(self, job_id: str) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise NotFoundError(f"No job {job_id!r}", hint="jobs are kept in memory until the server restarts")
        return job

    def list(self, owner: str | None = None, kind: str | None = None) -> list[Job]:
        with self._lock:
            jobs = list(self._jobs.values())
        return [j for j in reversed(jobs) if (owner is None or j.owner == owner) and (kind is None or j.kind == kind)]

    def wait(self, job_id: str, timeout: float = 60.0) -> Job:
        """Block until the job ends (tests and the CLI use this)."""
        end = time.time() + timeout
        job = self.get(job_id)
        while job.status in ("queued", "running") and time.time() < end:
            time.sleep(0.05)
        return job

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
