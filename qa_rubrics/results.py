"""What scoring produces: a `Scorecard` per transcript with a `CriterionResult` per criterion.

Plain dataclasses (JSON via `to_dict`), shared by the scorer, storage, the CLI and the web app.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@dataclass
class CriterionResult:
    id: str
    section: str
    method: str
    result: str
    confidence: float
    score: float
    points: float
    earned: float
    critical: bool
    evidence: list[dict[str, Any]] = field(default_factory=list)
    reason: str = ""
    detail: dict[str, Any] = field(default_factory=dict)
    raw: float | None = None
    needs_review: bool = False  # the confidence is under `qa_review_confidence`

    def to_dict(self) -> dict[str, Any]:
        out = {"id": self.id, "result": self.result, "confidence": round(self.confidence, 4),
               "needs_review": self.needs_review, "score": round(self.score, 4), "points": self.points,
               "earned": self.earned, "section": self.section, "method": self.method, "critical": self.critical,
               "evidence": self.evidence, "reason": self.reason}
        if self.detail:
            out["detail"] = self.detail
        return out


@dataclass
class Scorecard:
    transcript_id: str
    rubric_id: str
    rubric_version: int
    rubric_hash: str
    pass_mark: float
    score: float | None  # percent of available points; None when nothing applies
    verdict: str  # pass | fail | na
    reason: str
    earned: float
    available: float
    sections: list[dict[str, Any]]
    criteria: list[CriterionResult]
    scored_at: str = field(default_factory=now_iso)
    agent: str = ""
    channel: str = ""
    started_at: str = ""
    turns: list[dict[str, Any]] = field(default_factory=list, repr=False)  # redacted, for storage
    original_turns: list[dict[str, Any]] | None = field(default=None, repr=False)
    redacted: bool = True

    def criterion(self, cid: str) -> CriterionResult:
        return next(c for c in self.criteria if c.id == cid)

    def transcript_record(self, source: str = "") -> dict[str, Any]:
        """What the store's `save_transcript` stores: the redacted turns (the original only if allowed)."""
        rec = {"id": self.transcript_id, "agent": self.agent, "channel": self.channel,
               "started_at": self.started_at, "source": source, "turns": self.turns,
               "redacted": self.redacted}
        if self.original_turns is not None:
            rec["original_turns"] = self.original_turns
        return rec

    def results(self) -> dict[str, str]:
        return {c.id: c.result for c in self.criteria}

    def to_dict(self) -> dict[str, Any]:
        return {"transcript_id": self.transcript_id, "rubric_id": self.rubric_id,
                "rubric_version": self.rubric_version, "score": self.score, "verdict": self.verdict,
                "reason": self.reason, "earned": self.earned, "available": self.available,
                "agent": self.agent, "channel": self.channel, "started_at": self.started_at,
                "scored_at": self.scored_at, "rubric_hash": self.rubric_hash, "pass_mark": self.pass_mark,
                "sections": self.sections, "criteria": [c.to_dict() for c in self.criteria]}
