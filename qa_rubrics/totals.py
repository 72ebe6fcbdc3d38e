"""The one rule for a scorecard's total and verdict, used for automatic scorecards, reviewed scorecards
and human labels alike.

Total: points earned over points available, in percent, N/A criteria left out of both (None when
nothing applies). Verdict: `fail` when a critical criterion failed, whatever the total; `na` when
nothing applies; else `pass` at or above the pass mark, `fail` below it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Item:
    """One criterion's part in the total: its id, points, whether it is critical, and its result."""

    id: str
    points: float
    critical: bool
    result: str  # pass | fail | na


@dataclass(frozen=True)
class Total:
    earned: float
    available: float
    score: float | None  # percent, rounded to 0.1; None when nothing applies
    verdict: str  # pass | fail | na
    reason: str
    critical_fails: tuple[str, ...] = ()


def total(items: Iterable[Item], pass_mark: float, *, digits: int | None = 1) -> Total:
    items = list(items)
    applicable = [i for i in items if i.result != "na"]
    available = sum(i.points for i in applicable)
    earned = sum(i.points for i in applicable if i.result == "pass")
    score = 100.0 * earned / available if available else None
    if score is not None and digits is not None:
        score = round(score, digits)
    critical = tuple(i.id for i in items if i.critical and i.result == "fail")
    if critical:
        verdict, reason = "fail", "critical criterion failed: " + ", ".join(critical)
    elif score is None:
        verdict, reason = "na", "no criterion applies to this transcript"
    elif score >= pass_mark:
        verdict, reason = "pass", f"score {score:g} reaches the pass mark {pass_mark:g}"
    else:
        verdict, reason = "fail", f"score {score:g} is below the pass mark {pass_mark:g}"
    return Total(earned, available, score, verdict, reason, critical)
