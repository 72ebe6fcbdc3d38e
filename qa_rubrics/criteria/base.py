"""What every evaluator shares: the method spec (its fields, for validation), evidence, outcomes.

A method is registered under a versioned name ("keyword.v1"); a rubric that says `method: keyword`
gets the latest version, `method: keyword.v1` pins one. Changing what a method does means adding
a new version, so that stored scorecards stay explainable.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from qa_rubrics.rubric import Check
    from qa_rubrics.score import EvalContext

RESULTS = ("pass", "fail", "na")


@dataclass(frozen=True)
class FieldSpec:
    """One method-specific field of a criterion (or of a nested check)."""

    name: str
    kind: str  # str | str_list | choices | number | ratio | positive | regex | flags | criterion | check | sop
    required: bool = False
    help: str = ""
    choices: tuple[str, ...] = ()  # `choices`: the values a list may hold (it may be empty)


@dataclass
class Evidence:
    """Where a verdict comes from: a span of one turn and what it matched.

    `start`/`end` are character offsets into the turn text; the scorer maps them onto the
    redacted text before anything leaves it, and fills `text` from that text.
    """

    turn: int
    speaker: str
    start: int
    end: int
    matched: str
    similarity: float | None = None
    text: str = ""
    matched_is_text: bool = False  # regex: `matched` is the span itself, so it is redacted too

    def position(self) -> tuple[int, int]:
        return self.turn, self.start

    def to_dict(self) -> dict[str, Any]:
        out = {"turn": self.turn, "speaker": self.speaker, "start": self.start, "end": self.end,
               "text": self.text, "matched": self.matched}
        if self.similarity is not None:
            out["similarity"] = round(float(self.similarity), 4)
        return out


@dataclass
class Outcome:
    """The verdict of one check on one transcript."""

    result: str  # pass | fail | na
    score: float = 0.0  # 0..1: how strongly the check found what it looks for (calibrated)
    confidence: float = 1.0  # 0.5..1: how sure the verdict is
    evidence: list[Evidence] = field(default_factory=list)
    reason: str = ""
    detail: dict[str, Any] = field(default_factory=dict)
    raw: float | None = None  # the uncalibrated value the threshold applies to (semantic, sop_steps)

    @property
    def found(self) -> bool:
        return self.result == "pass"


def logistic(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def calibrated(raw: float, threshold: float, slope: float) -> tuple[float, float]:
    """(score, confidence) from a raw value: score = logistic(slope * (raw - threshold))."""
    score = logistic(slope * (raw - threshold))
    return score, max(score, 1.0 - score)


@dataclass(frozen=True)
class Method:
    """A registered evaluator."""

    name: str  # "semantic"
    version: int  # 1
    evaluate: Callable[[Check, EvalContext], Outcome]
    fields: tuple[FieldSpec, ...] = ()
    default_threshold: float | None = None  # None: the method takes no threshold
    needs_speaker_turns: bool = True
    nested: bool = True  # may be used inside `applies_when` / `check`
    one_of: tuple[str, ...] = ()  # at least one of these fields is required
    help: str = ""
    # learning: the verdict a rule beside the method's classifier gives a conversation ("pass" / "fail"),
    # None when the classifier decides; such conversations are not taught to the classifier ...
    rule_verdict: Callable[[Check, Any], str | None] | None = None
    # ... unless this says that one still is (its sentences say what the examples say: a read-back is one)
    rule_teaches: Callable[[Check, Any], bool] | None = None
    # scoring and learning: which of a conversation's units (check, conversation, unit indices) do not count
    # however they read (a boolean array; None: all count), e.g. answers to the customer's own questions
    sets_aside: Callable[[Check, Any, Any], Any] | None = None

    @property
    def key(self) -> str:
        return f"{self.name}.v{self.version}"
