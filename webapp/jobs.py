"""Background jobs as the web pages and API see them: queue one, follow its progress, list one's own.

The queue is the database's (`kb.storage` `JobStore`), so any app server shows any job and any
worker may run it: `deskbook worker` processes, and with SQLite this app's own job thread
(`kb.jobs.Worker`, started by `Services`; the `web_job_threads` setting). Files a job needs are
stored with it and removed when it ends.
"""

from __future__ import annotations

import time

from kb.errors import NotFoundError
from kb.storage import JobRecord

Job = JobRecord  # what the pages and the API show (`to_dict()`: id, status, percent, message, result, error ...)


class Jobs:
    def __init__(self, store, config):
        self.store = store
        self.config = config

    def submit(self, kind: str, owner: str, title: str, payload: dict, *,
               files: list[tuple[str, bytes]] = ()) -> JobRecord:
        return self.store.enqueue_job(kind, payload, owner=owner, title=title, files=files,
                                      max_attempts=int(self.config.job_max_attempts))

    def get(self, job_id: str) -> JobRecord:
        try:
            return self.store.get_job(job_id)
        except NotFoundError:
            raise NotFoundError(f"No job {job_id!r}") from None

    def list(self, owner: str | None = None, kind: str | None = None, limit: int = 50) -> list[JobRecord]:
        return self.store.list_jobs(owner=owner, kind=kind, limit=limit)

    def wait(self, job_id: str, timeout: float = 60.0) -> JobRecord:
        """Block until the job ends or `timeout` passes (tests and the CLI use this)."""
        end = time.time() + timeout
        job = self.get(job_id)
        while job.status in ("queued", "running") and time.time() < end:
            time.sleep(0.1)
            job = self.get(job_id)
        return job
