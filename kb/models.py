"""Dataclasses passed between packages (kb, indexer, qa_rubrics, webapp)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

DOC_TYPES = ("sop", "ticket")
SOP_STATUSES = ("draft", "published", "archived")
AGENT_STATUSES = ("published",)  # the SOPs agents search and get answers from unless they ask for others
STATUS_CHOICES = (*SOP_STATUSES, "all")  # what `--status` (CLI) and `status=` (API) take


def sop_status_filter(values: Sequence[str] | str | None) -> tuple[str, ...]:
    """The SOP statuses chosen by `--status` / `status=` values (repeatable; `all` = every status).

    Nothing chosen means the agents' default, published SOPs only. The result is what
    `Searcher.search(sop_statuses=...)` and `Answerer.answer(statuses=...)` take; `()` is no filter."""
    from kb.errors import InputError

    if isinstance(values, str):
        values = [values]
    chosen = [v.strip().lower() for raw in (values or ()) for v in str(raw).split(",") if v.strip()]
    bad = [v for v in chosen if v not in STATUS_CHOICES]
    if bad:
        raise InputError(f"Unknown SOP status {bad[0]!r}", hint=f"use one of {', '.join(STATUS_CHOICES)}",
                         field="status")
    if not chosen:
        return AGENT_STATUSES
    if "all" in chosen:
        return ()
    return tuple(s for s in SOP_STATUSES if s in chosen)


def content_hash(*parts: str) -> str:
    """A stable hash of text parts (used to skip re-embedding unchanged chunks)."""
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode("utf-8"))
        h.update(b"\x1f")
    return h.hexdigest()[:32]


@dataclass
class Document:
    """A searchable source: an SOP or a past ticket."""

    id: str
    type: str  # "sop" | "ticket"
    title: str
    body: str  # the full text as read (Markdown for SOPs; question + answer for tickets)
    source_path: str = ""
    tags: list[str] = field(default_factory=list)
    owner: str = ""
    status: str = ""  # SOPs: draft | published | archived; tickets: their own status
    review_by: str = ""  # ISO date
    metadata: dict[str, Any] = field(default_factory=dict)  # tickets: question, answer, channel, created_at ...
    version: int = 0
    updated_at: str = ""
    updated_by: str = ""
    language: str = "en"  # ISO 639-1 code: which analyzer (kb.analysis) indexes its words

    @property
    def hash(self) -> str:
        parts = [self.type, self.title, self.body, ",".join(self.tags), self.owner, self.status, self.review_by,
                 repr(sorted(self.metadata.items()))]
        if self.language and self.language != "en":  # English documents keep the hashes of Deskbook 0.1
            parts.append(self.language)
        return content_hash(*parts)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Chunk:
    """A piece of a document, the unit that is embedded and searched."""

    doc_id: str
    ord: int
    heading: str  # heading path, "Refunds > Eligibility"
    text: str
    start: int = 0  # character offsets into Document.body
    end: int = 0
    kind: str = "text"  # text | steps | question | answer
    id: int | None = None

    def embed_text(self, title: str) -> str:
        """What the model sees: the title and heading path give a chunk its context."""
        head = f"{title} > {self.heading}" if self.heading and self.heading != title else title
        return f"{head}\n{self.text}" if head else self.text

    def hash_for(self, title: str) -> str:
        return content_hash(self.embed_text(title))


@dataclass
class Hit:
    """One search result: the best chunk of one document."""

    id: str
    type: str
    title: str
    score: float
    snippet: str  # HTML-escaped text with <mark> around matched words
    heading: str = ""
    chunk_id: int | None = None
    chunk_text: str = ""
    tags: list[str] = field(default_factory=list)
    dense_score: float | None = None  # cosine similarity of the best chunk (when dense ran)
    lexical_rank: int | None = None
    dense_rank: int | None = None
    status: str = ""  # an SOP's draft | published | archived, or a ticket's own status

    def to_dict(self) -> dict[str, Any]:
        # field by field: `asdict` copies recursively and was a twentieth of a search request's Python time
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["tags"] = list(self.tags)
        return out


@dataclass
class SearchResult:
    hits: list[Hit]
    weak_match: bool | None = None  # None: unknown (lexical mode, or no threshold for the model)
    best_score: float | None = None  # best cosine similarity of any chunk (dense or hybrid mode)
    languages: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"results": [h.to_dict() for h in self.hits], "weak_match": self.weak_match,
                "best_score": self.best_score, "languages": self.languages}
