"""What an answer is: the dataclasses suggested answers and live assist return (all with `to_dict()`)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

ENGINE = "extractive.v1"


@dataclass
class Citation:
    id: str
    type: str  # sop | ticket
    title: str
    heading: str = ""
    status: str = ""
    quoted: bool = True  # False: a past ticket that supports the answer without being quoted


@dataclass
class Source:
    """A document consulted for the answer (or, when abstaining, one of the closest procedures)."""

    id: str
    type: str
    title: str
    score: float
    heading: str = ""
    status: str = ""


@dataclass
class AnswerSentence:
    text: str  # verbatim from the source (modulo whitespace)
    source: str  # document id
    heading: str
    kind: str  # step | sentence
    number: int | None = None  # a step's number in its SOP
    source_type: str = "sop"  # sop | ticket


@dataclass
class ChecklistItem:
    """One thing for the agent to do: an SOP step (its own number) or rule, customer wording left
    out; or a gap (`gap` True) that says which steps of the procedure are not shown."""

    text: str
    number: int | None = None
    sub: list[str] = field(default_factory=list)  # the step's sub-bullets (decision branches ...)
    source: str = ""
    gap: bool = False


@dataclass
class Answer:
    question: str
    answer: str
    confidence: float
    abstained: bool
    citations: list[Citation] = field(default_factory=list)  # the first is the main source
    sources: list[Source] = field(default_factory=list)
    sentences: list[AnswerSentence] = field(default_factory=list)
    latency_ms: float = 0.0
    engine: str = ENGINE
    fallback: str | None = None  # why a configured generative engine was not used
    warnings: list[str] = field(default_factory=list)  # draft/archived, overdue review, competing procedure
    evidence: dict[str, Any] = field(default_factory=dict)  # the features behind the confidence
    say: list[str] = field(default_factory=list)  # customer wording ("Say:" lines), what "Copy answer" copies
    checklist: list[ChecklistItem] = field(default_factory=list)  # the agent's actions, steps numbered
    statuses: list[str] = field(default_factory=list)  # SOP statuses used (empty: all)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary_dict(self) -> dict[str, Any]:
        """The shape of `deskbook answer --json`."""
        d = self.to_dict()
        return {k: d[k] for k in ("answer", "confidence", "abstained", "citations", "sources", "say", "checklist",
                                  "warnings")}


def percent_floor(x: float) -> int:
    return int(math.floor(float(x) * 100 + 1e-9))


def percent_ceil(x: float) -> int:
    return int(math.ceil(float(x) * 100 - 1e-9))


def confidence_label(confidence: float, threshold: float | None = None, *, abstained: bool = False) -> str:
    """"Confidence 72%"; for an abstention "Confidence 54%, below the 55% needed for an answer".

    The confidence is rounded down and the threshold up, so the two never contradict each other
    (0.549 against 0.55 reads 54% and 55%, never "55% is below 55%")."""
    label = f"Confidence {percent_floor(confidence)}%"
    if abstained and threshold is not None:
        label += f", below the {percent_ceil(threshold)}% needed for an answer"
    return label


@dataclass
class Passage:
    """A numbered source passage, as given to a generative engine."""

    n: int
    id: str
    type: str
    title: str
    heading: str
    text: str
