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

    def add(self, texts: Iterable[str]) -> None:
        missing = list(dict.fromkeys(t for t in texts if t not in self._vec))
        if not missing:
            return
        docs = list(self.nlp.pipe(missing))
        model_texts = []
        for t, doc in zip(missing, docs, strict=True):
            neg = is_negated(doc)
            self._feat[t] = (is_ask(t), neg)
            if self.normalise_names:
                names = find_pii(t, doc=doc, types=("name",), keep=self.keep)
                t = apply_standin(t, names)
            model_texts.append(clean_text(t) or t)
        vecs = self.embedder.encode_documents(model_texts)
        for t, v in zip(missing, vecs, strict=True):
            self._vec[t] = v

    def lookup(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        self.add(texts)
        return (np.stack([self._vec[t] for t in texts]), np.array([self._feat[t][0] for t in texts]),
                np.array([self._feat[t][1] for t in texts]))


def apply_standin(text: str, names) -> str:
    parts, pos = [], 0
    for r in names:
        parts.append(text[pos:r.start])
        parts.append(NAME_STANDIN)
        pos = r.end
    parts.append(text[pos:])
    return "".join(parts)
