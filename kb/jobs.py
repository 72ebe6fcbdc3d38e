"""Background jobs: workers that run the durable queue of `kb.storage` (imports, QA prescoring, ...).

A job is a `kind` and a JSON `payload` (and the files it needs), queued by the web app or a command.
Handlers are plain functions `handler(ctx: JobContext) -> dict`, registered by kind under the
`deskbook.jobs` entry-point group (pyproject.toml), so `kb` runs jobs of packages it never imports.

- `deskbook worker` runs a `Worker` in its own process; with SQLite, `deskbook serve` also runs
  one in a thread (the `web_job_threads` setting), over the same table.
- A worker holds a job by a lease it extends while the job runs (`job_lease_seconds`); a killed
  worker's job is taken over when the lease runs out, and started again from the beginning.
  Handlers make that safe: the QA job stores each scorecard under an idempotency key, so a
  retried job never stores a scorecard twice.
- A `DeskbookError` from a handler fails the job at once with its message (a bad file will not get
  better); any other error is retried until `job_max_attempts`.
- In the web server, handlers marked `isolate = True` (imports) run in a child process at a low CPU
  priority (`kb.job_process`, the `import_process_nice` setting), so that searches stay fast.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from kb.errors import DeskbookError
from kb.storage import JobRecord, Store

log = logging.getLogger("deskbook.jobs")
Handler = Callable[["JobContext"], "dict[str, Any] | None"]


class JobLost(Exception):
    """This worker no longer holds the job (its lease ran out and another worker took it over)."""


def load_handlers() -> dict[str, Handler]:
    """kind -> handler, from the `deskbook.jobs` entry points of the installed packages."""
    from kb.cli_base import load_plugins

    return load_plugins("deskbook.jobs")


@dataclass
class JobContext:
    """What a handler gets: its job, the store, the settings, shared models and progress reporting."""

    job: JobRecord
    worker: Worker
    cache: dict[str, Any] = field(default_factory=dict)  # the worker's: survives between jobs

    @property
    def store(self) -> Store:
        return self.worker.store

    @property
    def config(self):
        return self.worker.config

    @property
    def payload(self) -> dict[str, Any]:
        return self.job.payload

    @property
    def embedder(self):
        return self.worker.embedder

    @property
    def searcher(self):
        return self.worker.searcher

    def progress(self, done: int, total: int | None = None, message: str | None = None) -> None:
        """Report progress (and renew the lease); raises JobLost when another worker has the job now."""
        if not self.store.job_progress(self.job.id, self.worker.name, done, total, message, self.worker.lease):
            raise JobLost(self.job.id)

    def files(self) -> list[tuple[str, bytes]]:
        return self.store.job_files(self.job.id)


class Worker:
    """Claims and runs jobs of the kinds it has handlers for; `run()` loops, `start()` runs threads."""

    def __init__(self, store: Store, config, *, handlers: dict[str, Handler] | None = None,
                 embedder=None, searcher=None, name: str | None = None, kinds: Sequence[str] | None = None,
                 isolate_nice: int | None = None):
        self.store = store
        self.config = config
        self.handlers = handlers if handlers is not None else load_handlers()
        if kinds:
            self.handlers = {k: v for k, v in self.handlers.items() if k in kinds}
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.lease = float(config.job_lease_seconds)
        # handlers marked `isolate` (imports) run in a child process at this niceness (kb.job_process)
        self.isolate_nice = isolate_nice
        self._embedder = embedder
        self._searcher = searcher
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.cache: dict[str, Any] = {}

    # -- shared models (loaded once per process) -------------------------------------------------
    @property
    def embedder(self):
        with self._lock:
            if self._embedder is None:
                from kb.embed import get_embedder

                self._embedder = get_embedder(self.config)
            return self._embedder

    @property
    def searcher(self):
        with self._lock:
            if self._searcher is None:
                from kb.search import Searcher

                self._searcher = Searcher(self.store, self.config, self._embedder)
            return self._searcher

    # -- running ---------------------------------------------------------------------------------
    def run_one(self) -> JobRecord | None:
        """Claim one job and run it to its end; None when nothing is queued."""
        if not self.handlers:
            return None
        job = self.store.claim_job(self.name, self.lease, kinds=sorted(self.handlers))
        if job is None:
            return None
        log.info("job %s (%s) started by %s, attempt %d", job.id, job.kind, self.name, job.attempts)
        ctx = JobContext(job, self, self.cache)
        beat_stop = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(job.id, beat_stop), daemon=True,
                                name=f"deskbook-lease-{job.id}")
        beat.start()
        handler = self.handlers[job.kind]
        try:
            if self.isolate_nice is not None and getattr(handler, "isolate", False):
                from kb.job_process import run_in_child

                outcome = run_in_child(self, job, self.isolate_nice)
            else:
                outcome = self._run_here(handler, ctx)
            beat_stop.set()
            if outcome.get("lost"):
                log.warning("job %s: lost the lease; another worker runs it now", job.id)
            elif outcome.get("ok"):
                self.store.finish_job(job.id, self.name, outcome.get("result") or {})
            else:
                self.store.fail_job(job.id, self.name, outcome["error"], retry=bool(outcome.get("retry")))
            if not outcome.get("lost"):
                self._scrub()
        finally:
            beat_stop.set()
            beat.join(timeout=5)
        return self.store.get_job(job.id)

    @staticmethod
    def _run_here(handler: Handler, ctx: JobContext) -> dict[str, Any]:
        """Run a handler in this thread; its outcome (see kb.job_process)."""
        try:
            return {"ok": True, "result": handler(ctx) or {}}
        except JobLost:
            return {"lost": True}
        except DeskbookError as exc:
            return {"ok": False, "error": exc.to_dict(), "retry": False}
        except Exception as exc:  # noqa: BLE001 - a job must never take the worker down
            traceback.print_exc()
            return {"ok": False, "retry": True,
                    "error": {"code": "internal_error", "message": f"{type(exc).__name__}: {str(exc)[:300]}"}}

    def _scrub(self) -> None:
        """After a job: its files were deleted from the database; empty SQLite's WAL so that no copy of
        them (unredacted uploads) stays there. Readers may keep the WAL busy: the next job tries again."""
        try:
            self.store.checkpoint(wait_seconds=2.0)
        except Exception:  # noqa: BLE001 - housekeeping never fails a job
            log.debug("checkpoint after a job failed", exc_info=True)

    def _heartbeat(self, job_id: str, stop: threading.Event) -> None:
        while not stop.wait(max(0.2, self.lease / 3)):
            try:
                if not self.store.extend_lease(job_id, self.name, self.lease):
                    return
            except Exception:  # noqa: BLE001 - the next beat tries again; the lease covers a few misses
                log.exception("job %s: could not extend the lease", job_id)

    def run(self, *, once: bool = False, max_jobs: int | None = None) -> int:
        """Run jobs until stopped (`once`: until the queue is empty); returns how many ran."""
        from kb.tempfiles import clean_system_temp

        clean_system_temp()  # private folders of jobs whose worker was killed
        n = 0
        poll = float(self.config.job_poll_seconds)
        while not self._stop.is_set():
            try:
                job = self.run_one()
            except Exception:  # noqa: BLE001 - the database was unreachable: try again after a pause
                log.exception("worker %s: claiming a job failed", self.name)
                job = None
                if once:
                    raise
            if job is not None:
                n += 1
                if max_jobs is not None and n >= max_jobs:
                    break
                continue
            if once:
                break
            self._stop.wait(poll)
        return n

    def start(self, threads: int = 1) -> None:
        """Run in `threads` background threads (the web app's in-process runner)."""
        for i in range(threads):
            t = threading.Thread(target=self.run, name=f"deskbook-job-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    @property
    def threads(self) -> int:
        return len(self._threads)

    def stop(self, timeout: float = 0.0) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=timeout)


def web_job_threads(config, backend: str) -> int:
    """How many job threads an app server runs: the `web_job_threads` setting, auto = 1 with SQLite, 0 otherwise."""
    value = str(config.web_job_threads).strip().lower()
    if value == "auto":
        return 1 if backend == "sqlite" else 0
    try:
        return max(0, int(value))
    except ValueError:
        from kb.errors import ConfigError

        raise ConfigError(f"web_job_threads must be a number or auto, not {value!r}", field="web_job_threads") from None
