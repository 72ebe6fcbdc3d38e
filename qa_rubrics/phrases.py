"""The rubric's phrases (examples, counter-examples, questions), embedded once per run.

Each phrase is parsed once (is it a question or request? is it negated?) and embedded the way
transcript sentences are: person names replaced by one stand-in name, then cleaned.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from kb.redact import find_pii
from qa_rubrics.conversation import NAME_STANDIN, clean_text, is_ask, is_negated


class PhraseBank:
    """Vectors and features (asks? negated?) of rubric phrases, computed once per run."""

    def __init__(self, embedder, nlp, *, normalise_names: bool = True, keep: Iterable[str] = ()):
        self.embedder = embedder
        self.nlp = nlp
        self.normalise_names = normalise_names
        self.keep = list(keep)
        self._vec: dict[str, np.ndarray] = {}
        self._feat: dict[str, tuple[bool, bool]] = {}
        self._text: dict[str, str] = {}  # what the model sees of each phrase

    def model_texts(self, texts: list[str], docs=None) -> list[str]:
        """What the model sees of each phrase: person names made uniform, then cleaned."""
        docs = docs if docs is not None else list(self.nlp.pipe(texts))
        out = []
        for t, doc in zip(texts, docs, strict=True):
            if self.normalise_names:
                t = apply_standin(t, find_pii(t, doc=doc, types=("name",), keep=self.keep))
            out.append(clean_text(t) or t)
        return out

    def add(self, texts: Iterable[str]) -> None:
        missing = list(dict.fromkeys(t for t in texts if t not in self._vec))
        if not missing:
            return
        docs = list(self.nlp.pipe(missing))
        for t, doc in zip(missing, docs, strict=True):
            self._feat[t] = (is_ask(t), is_negated(doc))
        prepared = self.model_texts(missing, docs)
        vecs = self.embedder.encode_documents(prepared)
        for t, v, p in zip(missing, vecs, prepared, strict=True):
            self._vec[t] = v
            self._text[t] = p

    def lookup(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        self.add(texts)
        return (np.stack([self._vec[t] for t in texts]), np.array([self._feat[t][0] for t in texts]),
                np.array([self._feat[t][1] for t in texts]))

    def grams(self, texts: list[str]):
        """Character n-grams of the phrases as the model sees them (`qa_rubrics.classifier.char_grams`)."""
        from qa_rubrics.classifier import char_grams

        self.add(texts)
        return char_grams([self._text[t] for t in texts])


def apply_standin(text: str, names) -> str:
    parts, pos = [], 0
    for r in names:
        parts.append(text[pos:r.start])
        parts.append(NAME_STANDIN)
        pos = r.end
    parts.append(text[pos:])
    return "".join(parts)
