"""Background-job SQL (both backends): a durable queue with leases.

A worker claims the oldest queued job (PostgreSQL: `FOR UPDATE SKIP LOCKED`, so workers never wait
on each other; SQLite: inside `BEGIN IMMEDIATE`) and holds it by a lease it keeps extending while
the job runs. A job whose lease has passed (its worker was killed or lost the database) is claimed
again by the next worker, up to `max_attempts` claims; then it fails with a message that says so.
Files a job needs (uploads) are stored with it, so a worker on another machine can read them.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from typing import Any

from kb.errors import InputError, NotFoundError
from kb.storage.records import JobRecord, iso_of, now_iso

LOST = "the worker running it stopped before it finished (killed, crashed or cut off from the database)"


def _job(r: dict[str, Any]) -> JobRecord:
    return JobRecord(id=r["id"], kind=r["kind"], payload=json.loads(r["payload"]), owner=r["owner"],
                     title=r["title"], status=r["status"], attempts=int(r["attempts"]),
                     max_attempts=int(r["max_attempts"]), done=int(r["done"]), total=int(r["total"]),
                     message=r["message"], result=json.loads(r["result"] or "{}"),
                     error=json.loads(r["error"]) if r["error"] else None, claimed_by=r["claimed_by"],
                     lease_until=r["lease_until"], idempotency_key=r["idempotency_key"], created_at=r["created_at"],
                     started_at=r["started_at"], finished_at=r["finished_at"])


class JobsSql:
    def enqueue_job(self, kind: str, payload: dict[str, Any], *, owner: str, title: str,
                    idempotency_key: str | None = None, max_attempts: int = 3,
                    files: Sequence[tuple[str, bytes]] = ()) -> JobRecord:
        """Queue a job (and the files it needs); with an idempotency key already used, the existing job."""
        if not kind:
            raise InputError("A job needs a kind")
        with self.transaction():
            if idempotency_key:
                self._lock_key("job:" + idempotency_key)
                r = self._row("SELECT * FROM jobs WHERE idempotency_key = ?", (idempotency_key,))
                if r is not None:
                    return _job(r)
            job_id = secrets.token_hex(8)
            self._exec("INSERT INTO jobs(id, kind, payload, owner, title, status, attempts, max_attempts, done, total, "
                       "message, result, claimed_by, idempotency_key, created_at) "
                       "VALUES (?, ?, ?, ?, ?, 'queued', 0, ?, 0, 0, 'waiting to start', '{}', '', ?, ?)",
                       (job_id, kind, json.dumps(payload, ensure_ascii=False), owner, title[:300],
                        max(1, int(max_attempts)), idempotency_key, now_iso()))
            self._many("INSERT INTO job_files(job_id, name, content) VALUES (?, ?, ?)",
                       [(job_id, name, self._blob(data)) for name, data in files])
            self._notify_jobs()
        return self.get_job(job_id)

    def claim_job(self, worker: str, lease_seconds: float, kinds: Sequence[str] | None = None) -> JobRecord | None:
        """The oldest job that is queued (or whose worker's lease ran out), now running for `worker`."""
        # A cheap look first, outside a transaction: idle workers poll, and should not take the write lock
        # (SQLite) or row locks (PostgreSQL) just to find the queue empty.
        if self._row("SELECT 1 AS x FROM jobs WHERE status = 'queued' OR (status = 'running' AND lease_until < ?) "
                     "LIMIT 1", (self._epoch(),)) is None:
            return None
        while True:
            with self.transaction():
                now = self._epoch()
                where = "(status = 'queued' OR (status = 'running' AND lease_until < ?))"
                params: list[Any] = [now]
                if kinds:
                    where += f" AND kind IN ({self._in(kinds)})"
                    params.extend(kinds)
                r = self._row(f"SELECT * FROM jobs WHERE {where} ORDER BY seq LIMIT 1{self._skip_locked}", params)
                if r is None:
                    return None
                if r["status"] == "running" and int(r["attempts"]) >= int(r["max_attempts"]):
                    self._exec("UPDATE jobs SET status = 'failed', error = ?, message = ?, finished_at = ?, "
                               "lease_until = NULL WHERE id = ?",
                               (json.dumps({"code": "worker_lost", "message": f"Not finished: {LOST}, "
                                            f"{r['attempts']} times"}), "failed: " + LOST, now_iso(), r["id"]))
                    self._exec("DELETE FROM job_files WHERE job_id = ?", (r["id"],))
                    continue
                retry = r["status"] == "running"
                self._exec("UPDATE jobs SET status = 'running', attempts = attempts + 1, claimed_by = ?, "
                           "lease_until = ?, started_at = coalesce(started_at, ?), message = ? WHERE id = ?",
                           (worker, now + lease_seconds, iso_of(now),
                            f"retrying: {LOST}" if retry else "started", r["id"]))
                return self.get_job(r["id"])

    def extend_lease(self, job_id: str, worker: str, lease_seconds: float) -> bool:
        return self._exec("UPDATE jobs SET lease_until = ? WHERE id = ? AND claimed_by = ? AND status = 'running'",
                          (self._epoch() + lease_seconds, job_id, worker)) > 0

    def job_progress(self, job_id: str, worker: str, done: int, total: int | None, message: str | None,
                     lease_seconds: float) -> bool:
        sets, params = ["done = ?", "lease_until = ?"], [int(done), self._epoch() + lease_seconds]
        if total is not None:
            sets.append("total = ?")
            params.append(int(total))
        if message is not None:
            sets.append("message = ?")
            params.append(str(message)[:500])
        return self._exec(f"UPDATE jobs SET {', '.join(sets)} WHERE id = ? AND claimed_by = ? AND status = 'running'",
                          [*params, job_id, worker]) > 0

    def finish_job(self, job_id: str, worker: str, result: dict[str, Any]) -> bool:
        summary = result.get("summary", "done") if isinstance(result, dict) else "done"
        with self.transaction():
            n = self._exec("UPDATE jobs SET status = 'done', result = ?, message = ?, finished_at = ?, lease_until = NULL, "
                           "done = CASE WHEN total > 0 THEN total ELSE done END "
                           "WHERE id = ? AND claimed_by = ? AND status = 'running'",
                           (json.dumps(result, ensure_ascii=False, default=str), str(summary)[:500], now_iso(),
                            job_id, worker))
            if n:
                self._exec("DELETE FROM job_files WHERE job_id = ?", (job_id,))
        return n > 0

    def fail_job(self, job_id: str, worker: str, error: dict[str, Any], *, retry: bool) -> bool:
        """Failed: queued again when `retry` and attempts are left, else failed for good (files removed)."""
        with self.transaction():
            r = self._row("SELECT attempts, max_attempts FROM jobs WHERE id = ? AND claimed_by = ? AND status = 'running'",
                          (job_id, worker))
            if r is None:
                return False
            again = retry and int(r["attempts"]) < int(r["max_attempts"])
            msg = str(error.get("message", "failed"))[:500]
            if again:
                self._exec("UPDATE jobs SET status = 'queued', claimed_by = '', lease_until = NULL, error = ?, "
                           "message = ? WHERE id = ?", (json.dumps(error), f"will retry: {msg}", job_id))
                self._notify_jobs()
            else:
                self._exec("UPDATE jobs SET status = 'failed', error = ?, message = ?, finished_at = ?, "
                           "lease_until = NULL WHERE id = ?", (json.dumps(error), msg, now_iso(), job_id))
                self._exec("DELETE FROM job_files WHERE job_id = ?", (job_id,))
        return True

    def get_job(self, job_id: str) -> JobRecord:
        r = self._row("SELECT * FROM jobs WHERE id = ?", (str(job_id),))
        if r is None:
            raise NotFoundError(f"No job {job_id!r}")
        return _job(r)

    def list_jobs(self, *, owner: str | None = None, kind: str | None = None, limit: int = 50) -> list[JobRecord]:
        where, params = ["1=1"], []
        if owner is not None:
            where.append("owner = ?")
            params.append(owner)
        if kind is not None:
            where.append("kind = ?")
            params.append(kind)
        return [_job(r) for r in self._rows(f"SELECT * FROM jobs WHERE {' AND '.join(where)} ORDER BY seq DESC LIMIT ?",
                                            [*params, int(limit)])]

    def job_files(self, job_id: str) -> list[tuple[str, bytes]]:
        return [(r["name"], bytes(r["content"])) for r in
                self._rows("SELECT name, content FROM job_files WHERE job_id = ? ORDER BY id", (job_id,))]

    def delete_job_files(self, job_id: str) -> None:
        self._exec("DELETE FROM job_files WHERE job_id = ?", (job_id,))
