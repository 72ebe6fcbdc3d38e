"""Values that cross the storage boundary: search filters, job and conversation records, time stamps."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

DOC_STATUSES = ("draft", "published", "archived")
JOB_STATUSES = ("queued", "running", "done", "failed")
QA_RESULTS = ("pass", "fail", "na")
SCORECARD_ORDERS = ("score", "-score", "scored_at", "-scored_at", "review")  # review: most unsure verdicts first
# The QA export: one row per scorecard x criterion, the automatic result beside the latest review.
EXPORT_COLUMNS = ("scorecard_id", "transcript_id", "rubric_id", "rubric_version", "scored_at", "agent", "channel",
                  "started_at", "score", "verdict", "criterion_id", "section_id", "method", "points", "auto_result",
                  "auto_confidence", "human_result", "reviewer", "reviewed_at", "review_comment", "final_result")


def now_iso() -> str:
    """ISO 8601 UTC to the second with a `Z` suffix: how every stored time stamp is written (sorts as text)."""
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def iso_of(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


@dataclass(frozen=True)
class SearchFilters:
    """Which documents a search may return: any of `types`, all of `tags` (any case), any of `statuses`,
    and SOPs with any of `sop_statuses`.

    An empty field does not filter. A document's status is its SOP status (draft, published,
    archived) or a ticket's own status. `sop_statuses` applies to SOPs only (tickets pass it): what
    agents see is `sop_statuses=("published",)`, and "published" also matches an SOP stored
    without a status (an SOP read from a file without front matter is published)."""

    types: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    sop_statuses: tuple[str, ...] = ()

    @classmethod
    def of(cls, types: Sequence[str] = (), tags: Sequence[str] = (), statuses: Sequence[str] = (),
           sop_statuses: Sequence[str] = ()) -> SearchFilters:
        return cls(tuple(types or ()), tuple(tags or ()), tuple(statuses or ()), tuple(sop_statuses or ()))

    def __bool__(self) -> bool:
        return bool(self.types or self.tags or self.statuses or self.sop_statuses)


NO_FILTERS = SearchFilters()


@dataclass
class JobRecord:
    """A background job as stored: what to do (`kind`, `payload`), who asked, where it stands."""

    id: str
    kind: str
    payload: dict[str, Any]
    owner: str
    title: str
    status: str = "queued"  # queued | running | done | failed
    attempts: int = 0
    max_attempts: int = 3
    done: int = 0
    total: int = 0
    message: str = "waiting to start"
    result: dict[str, Any] = field(default_factory=dict)
    error: dict[str, Any] | None = None  # {code, message}: readable by the manager who started it
    claimed_by: str = ""
    lease_until: float | None = None  # epoch seconds; a running job whose lease passed is taken over
    idempotency_key: str | None = None
    created_at: str = ""
    started_at: str | None = None
    finished_at: str | None = None

    @property
    def percent(self) -> int:
        if self.status == "done":
            return 100
        return int(100 * self.done / self.total) if self.total else 0

    @property
    def seconds(self) -> float:
        def ts(s: str | None) -> float | None:
            return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() if s else None

        start = ts(self.started_at) or ts(self.created_at) or time.time()
        return round((ts(self.finished_at) or time.time()) - start, 2)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "owner": self.owner, "title": self.title, "status": self.status,
                "done": self.done, "total": self.total, "percent": self.percent, "message": self.message,
                "result": self.result, "error": self.error, "attempts": self.attempts,
                "created_at": self.created_at, "started_at": self.started_at, "finished_at": self.finished_at,
                "seconds": self.seconds}


@dataclass
class ConversationRecord:
    """A live-assist conversation: its turns, the assist state and the latest suggestion."""

    id: str
    owner: int | None  # the user id of who started it
    created_by: str  # their user name
    turns: list[dict[str, Any]] = field(default_factory=list)
    state: dict[str, Any] | None = None
    suggestion: dict[str, Any] | None = None
    revision: int = 0  # bumped on every change of the turns: pages poll for a newer one
    suggestion_revision: int = 0  # the revision the suggestion was computed for
    created_at: str = ""
    updated_at: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "owner": self.owner, "created_by": self.created_by, "turns": self.turns,
                "revision": self.revision, "suggestion": self.suggestion, "created_at": self.created_at,
                "updated_at": self.updated_at}
