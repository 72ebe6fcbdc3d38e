"""What an answer is: the dataclasses suggested answers and live assist return (all with `to_dict()`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

ENGINE = "extractive.v1"


@dataclass
class Citation:
    id: str
    type: str  # sop | ticket
    title: str
    heading: str = ""


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
    warnings: list[str] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)  # the features behind the confidence

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary_dict(self) -> dict[str, Any]:
        """The shape of `deskbook answer --json`."""
        d = self.to_dict()
        return {k: d[k] for k in ("answer", "confidence", "abstained", "citations", "sources")}


@dataclass
class Passage:
    """A numbered source passage, as given to a generative engine."""

    n: int
    id: str
    type: str
    title: str
    heading: str
    text: str
