"""Structure-aware chunking.

SOPs: chunks follow the heading structure and keep their heading path ("Refunds > Eligibility");
a numbered step (with its sub-bullets) is never cut; a long paragraph is split on sentence
boundaries (spaCy) with a small overlap. Tickets: one chunk (question + resolution), split
only when longer than the limit. A chunk's text is an exact slice of the document body, so
its offsets mark the passage in the document.

Sentences are split with the pipeline for the document's language (`nlp_for`, given the code
that `language_of` returns: the `language` field, or detected), looked up only when a block is
too long for one chunk.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from kb.models import Chunk, Document
from kb.structure import parse_sections
from kb.text import sentence_spans

CHUNKER_VERSION = "chunker.v1"


class Chunker:
    """Packs blocks into chunks under a token budget measured with the embedding model's tokenizer."""

    def __init__(self, count_tokens: Callable[[str], int], *, max_tokens: int = 200, model_max_tokens: int = 256,
                 overlap_sentences: int = 1, nlp=None, nlp_for: Callable[[str], Any] | None = None,
                 language_of: Callable[[Document], str] | None = None):
        self.count = count_tokens
        self.max_tokens = max(32, min(max_tokens, model_max_tokens - 8))
        self.model_max = model_max_tokens
        self.overlap = max(0, overlap_sentences)
        self.nlp = nlp
        self.nlp_for = nlp_for
        self.language_of = language_of
        self._doc: Document | None = None
        self._doc_nlp = None

    def sentence_nlp(self):
        """The pipeline for the document being chunked (its language's, when `nlp_for` is given)."""
        if self.nlp_for is None or self.language_of is None or self._doc is None:
            return self.nlp
        if self._doc_nlp is None:
            self._doc_nlp = self.nlp_for(self.language_of(self._doc))
        return self._doc_nlp

    def budget(self, header: str) -> int:
        return max(32, min(self.max_tokens, self.model_max - self.count(header) - 4))

    def chunk(self, doc: Document) -> list[Chunk]:
        self._doc, self._doc_nlp = doc, None
        try:
            return self.chunk_ticket(doc) if doc.type == "ticket" else self.chunk_sop(doc)
        finally:
            self._doc, self._doc_nlp = None, None

    # -- SOPs --------------------------------------------------------------------------------
    def chunk_sop(self, doc: Document) -> list[Chunk]:
        body = doc.body
        chunks: list[Chunk] = []
        for sec in parse_sections(doc):
            heading = " > ".join(sec.path)
            budget = self.budget(f"{doc.title} > {heading}")
            cur_start = cur_end = None
            cur_tokens = 0
            cur_kinds: set[str] = set()

            def flush(heading=heading):
                nonlocal cur_start, cur_end, cur_tokens, cur_kinds
                if cur_start is not None:
                    kind = "steps" if cur_kinds == {"step"} or (cur_kinds and "step" in cur_kinds) else "text"
                    chunks.append(Chunk(doc.id, len(chunks), heading, body[cur_start:cur_end], cur_start, cur_end,
                                        kind))
                cur_start = cur_end = None
                cur_tokens = 0
                cur_kinds = set()

            for b in sec.blocks:
                n = self.count(body[b.start:b.end])
                if n > budget:
                    flush()
                    for s, e in self._split_long(body, b.start, b.end, budget):
                        chunks.append(Chunk(doc.id, len(chunks), heading, body[s:e], s, e,
                                            "steps" if b.kind == "step" else "text"))
                    continue
                if cur_start is not None and cur_tokens + n > budget:
                    flush()
                if cur_start is None:
                    cur_start = b.start
                cur_end = b.end
                cur_tokens += n
                cur_kinds.add(b.kind)
            flush()
        return chunks

    def _split_long(self, body: str, start: int, end: int, budget: int) -> list[tuple[int, int]]:
        """Sentence-packed spans of body[start:end], each under budget, with sentence overlap."""
        spans = [(start + a, start + b) for a, b in sentence_spans(body[start:end], self.sentence_nlp())]
        if not spans:
            return []
        counts = [self.count(body[a:b]) for a, b in spans]
        out: list[tuple[int, int]] = []
        i = 0
        while i < len(spans):
            j, total = i, 0
            while j < len(spans) and (j == i or total + counts[j] <= budget):
                total += counts[j]
                j += 1
            s, e = spans[i][0], spans[j - 1][1]
            if counts[i] > budget and j == i + 1:
                # one sentence longer than the budget: cut it on word boundaries
                out.extend(self._split_words(body, s, e, budget))
            else:
                out.append((s, e))
            if j >= len(spans):
                break
            i = max(i + 1, j - self.overlap)
        return out

    def _split_words(self, body: str, start: int, end: int, budget: int) -> list[tuple[int, int]]:
        out = []
        words = [(m.start() + start, m.end() + start) for m in re.finditer(r"\S+", body[start:end])]
        step = max(8, int(budget * 0.7))  # word pieces outnumber words
        for i in range(0, len(words), step):
            part = words[i:i + step]
            out.append((part[0][0], part[-1][1]))
        return out

    # -- tickets -----------------------------------------------------------------------------
    def chunk_ticket(self, doc: Document) -> list[Chunk]:
        body = doc.body.rstrip("\n")
        budget = self.budget(doc.title)
        if self.count(body) <= budget:
            return [Chunk(doc.id, 0, "", body, 0, len(body), "ticket")]
        chunks: list[Chunk] = []
        for label in ("Question", "Resolution"):
            marker = f"{label}:\n"
            s = body.find(marker)
            if s < 0:
                continue
            s += len(marker)
            nxt = body.find("\n\nResolution:\n", s) if label == "Question" else -1
            e = nxt if nxt >= 0 else len(body)
            for a, b in self._split_long(body, s, e, self.budget(f"{doc.title} > {label}")):
                chunks.append(Chunk(doc.id, len(chunks), label, body[a:b], a, b, label.lower()))
        return chunks or [Chunk(doc.id, 0, "", body, 0, len(body), "ticket")]
