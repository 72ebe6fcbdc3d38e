"""The units an answer is made of: an SOP's sentences and numbered steps, a ticket's resolution sentences,
and their vectors, cached by text hash in memory and in a file (derived, rebuildable)."""

from __future__ import annotations

import os
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kb.models import Document, content_hash
from kb.text import content_terms, sentence_spans, stem

_STEP = re.compile(r"\s*(\d{1,3})[.)]\s+")
_BULLET = re.compile(r"\s*[-*+•]\s+")


@dataclass
class Unit:
    doc_id: str
    text: str  # a verbatim slice of the document body, stripped
    start: int
    kind: str  # step | sentence
    heading: str
    number: int | None = None
    case: tuple[str, ...] = ()  # ticket sentences: why it is specific to that case (kb.answers.casefree)

    @property
    def key(self) -> str:
        return content_hash(self.text)


def sop_units(doc: Document, nlp) -> list[Unit]:
    """Steps (whole, with their sub-bullets), bullets and sentences of an SOP, in document order."""
    from kb.structure import parse_sections

    out: list[Unit] = []
    for sec in parse_sections(doc):
        heading = " > ".join(sec.path)
        for b in sec.blocks:
            raw = doc.body[b.start:b.end]
            if b.kind == "code" or raw.lstrip().startswith((">", "|")):
                continue  # notes, tables and code are not read out
            if b.kind in ("step", "bullet"):
                m = (_STEP if b.kind == "step" else _BULLET).match(raw)
                off = m.end() if m else 0
                text = raw[off:].strip()
                if text:
                    number = int(m.group(1)) if (m and b.kind == "step") else None
                    out.append(Unit(doc.id, text, b.start + off, "step" if b.kind == "step" else "sentence",
                                    heading, number))
                continue
            for s, e in sentence_spans(raw, nlp):
                if len(raw[s:e].split()) >= 3:
                    out.append(Unit(doc.id, raw[s:e], b.start + s, "sentence", heading))
    return out


def ticket_units(doc: Document, nlp) -> list[Unit]:
    """The sentences of a ticket's resolution."""
    marker = "Resolution:\n"
    i = doc.body.find(marker)
    if i < 0:
        return []
    i += len(marker)
    part = doc.body[i:]
    return [Unit(doc.id, part[s:e], i + s, "sentence", "Resolution") for s, e in sentence_spans(part, nlp)
            if len(part[s:e].split()) >= 4]


def mark_case_details(doc: Document, units: list[Unit], nlp_full, keep: list[str] | tuple[str, ...] = ()
                      ) -> list[Unit]:
    """Ticket units with `case` set: the reasons each is specific to that ticket's customer or case
    (`kb.answers.casefree`). English tickets are parsed (tagger, parser, NER); others get "not parsed"."""
    from kb.answers.casefree import case_details, ticket_names

    lang = (doc.language or "en").lower()
    if lang != "en" or nlp_full is None:
        return [Unit(u.doc_id, u.text, u.start, u.kind, u.heading, u.number,
                     tuple(case_details(u.text, None, language=lang, keep=keep))) for u in units]
    names = ticket_names(doc.body, nlp_full(doc.body[:20000]))
    parsed = nlp_full.pipe([u.text for u in units], batch_size=32)
    return [Unit(u.doc_id, u.text, u.start, u.kind, u.heading, u.number,
                 tuple(case_details(u.text, d, language=lang, keep=keep, names=names)))
            for u, d in zip(units, parsed, strict=True)]


def _stems(text: str) -> set[str]:
    return {stem(w) for w in content_terms(text)}


# -- caches ---------------------------------------------------------------------------------------
class VectorCache:
    """Sentence/step vectors by text hash, in memory and (optionally) in an .npz file."""

    def __init__(self, path: Path | None, model: str, max_items: int = 100_000):
        self.path = path
        self.model = model
        self.max_items = max_items
        self._vecs: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self._save_lock = threading.Lock()
        self._dirty = 0
        self._load()

    def _load(self) -> None:
        if not self.path or not self.path.exists():
            return
        try:
            with np.load(self.path, allow_pickle=False) as z:
                if str(z["model"]) != self.model:
                    return  # made with another model: ignored, and overwritten on the next save
                for k, v in zip(z["keys"].tolist(), z["vectors"], strict=True):
                    self._vecs[k] = np.asarray(v, dtype=np.float32)
        except (OSError, ValueError, KeyError):
            self._vecs.clear()  # a damaged cache is only a cache

    def vectors(self, embedder, texts: list[str]) -> np.ndarray:
        """A row per text; the missing ones are embedded in one batch."""
        keys = [content_hash(t) for t in texts]
        if not keys:
            return np.zeros((0, getattr(embedder, "dim", 0)), dtype=np.float32)
        with self._lock:
            got = {k: self._vecs[k] for k in keys if k in self._vecs}
        missing = [k for k in dict.fromkeys(keys) if k not in got]
        if missing:
            by_key = dict(zip(keys, texts, strict=True))
            got.update(zip(missing, embedder.encode_documents([by_key[k] for k in missing]), strict=True))
            with self._lock:
                for k in missing:
                    self._vecs[k] = got[k]
                self._dirty += len(missing)
                while len(self._vecs) > self.max_items:
                    self._vecs.popitem(last=False)
        return np.vstack([got[k] for k in keys])

    def save(self) -> None:
        """Write the file if something was added (atomic rename; a read-only folder is fine)."""
        if not self.path or not self._dirty:
            return
        with self._lock:
            keys = list(self._vecs)
            mat = np.vstack([self._vecs[k] for k in keys]) if keys else np.zeros((0, 0), np.float32)
            self._dirty = 0
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}-{threading.get_ident()}.tmp.npz")
        with self._save_lock:
            try:
                np.savez(tmp, keys=np.array(keys), vectors=mat, model=np.array(self.model))
                os.replace(tmp, self.path)
            except OSError:
                tmp.unlink(missing_ok=True)
