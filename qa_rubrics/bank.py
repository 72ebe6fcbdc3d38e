"""The sentence bank: ordinary customer-service sentences grouped by dialogue act, per language.

A rubric criterion gives a question and a handful of examples. On their own, a few examples say
little about where "similar enough" ends: every sentence of a call is somewhat similar to every
example. The bank gives the contrast. Its sentences are grouped by generic dialogue act
(`request_info`, `notify_success`, `c_thanks` ...; see `data/bank/README.md`); the acts that a
criterion's examples belong to are its *in-class* acts, the others are what the criterion is not.
`qa_rubrics.classifier` trains a small classifier per criterion on that contrast.

The bank's vectors are computed once per embedding model and kept in memory and in a cache file
(`~/.cache/deskbook/`, or `DESKBOOK_CACHE_DIR`), so scoring does not embed 1,200 sentences on
every run.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from kb.config import cache_dir
from kb.errors import ConfigError

BANK_DIR = Path(__file__).parent / "data" / "bank"
LANGUAGES = ("en", "de", "tr")
SPEAKER_OF_ACT_PREFIX = "c_"  # customer acts start with c_, the others are the agent's

# In-class acts: the act the examples fit best, acts within IN_CLASS_GAP of it, and acts that are
# the nearest act of at least IN_CLASS_VOTE of the examples.
IN_CLASS_GAP = 0.03
IN_CLASS_VOTE = 0.4
MAX_IN_CLASS = 3  # examples that fit many acts about equally (another language, a vague rubric) fit none well
ACT_TOP_K = 3  # an example's fit to an act: mean similarity of its 3 nearest sentences of that act


@dataclass(frozen=True)
class BankSentence:
    text: str
    speaker: str
    act: str
    channel: str


class SentenceBank:
    """The bank of one language, with its vectors under one embedding model."""

    def __init__(self, sentences: list[BankSentence], language: str, source_hash: str):
        self.sentences = sentences
        self.language = language
        self.hash = source_hash
        self.acts = np.array([s.act for s in sentences])
        self.speakers = np.array([s.speaker for s in sentences])
        self._vectors: dict[str, np.ndarray] = {}
        self._prepared: dict[str, object] = {}
        self._lock = threading.RLock()

    def __len__(self) -> int:
        return len(self.sentences)

    @cached_property
    def texts(self) -> list[str]:
        return [s.text for s in self.sentences]

    def vectors(self, embedder, prepare=None, prepare_id: str = "") -> np.ndarray:
        """The bank's vectors under `embedder`, cached in memory and on disk.

        `prepare(texts) -> texts` turns the sentences into what the model sees (cleaning, names);
        `prepare_id` names that preparation, so that a change of it misses the cache."""
        key = getattr(embedder, "name", type(embedder).__name__)
        with self._lock:
            if key in self._vectors:
                return self._vectors[key]
            digest = hashlib.sha256(f"{self.hash}\x1e{key}\x1e{prepare_id}".encode()).hexdigest()[:20]
            vecs = _cached_on_disk(
                cache_dir() / f"qa-bank-{self.language}-{digest}.npy", read=np.load,
                valid=lambda v: v.shape == (len(self), embedder.dim), write=np.save,
                make=lambda: np.asarray(embedder.encode_documents(self.prepared_texts(prepare, prepare_id)),
                                        dtype=np.float32))
            self._vectors[key] = vecs
            return vecs

    def prepared_texts(self, prepare=None, prepare_id: str = "") -> list[str]:
        """The sentences as the model sees them (see `vectors`), kept in memory and on disk: preparing
        them parses every sentence with spaCy."""
        with self._lock:
            if prepare_id in self._prepared:
                return self._prepared[prepare_id]
            digest = hashlib.sha256(f"{self.hash}\x1e{prepare_id}".encode()).hexdigest()[:20]
            texts = _cached_on_disk(
                cache_dir() / f"qa-bank-{self.language}-{digest}.texts.json",
                read=lambda path: json.loads(path.read_text("utf-8")),
                valid=lambda t: isinstance(t, list) and len(t) == len(self),
                write=lambda path, t: path.write_text(json.dumps(t, ensure_ascii=False), "utf-8"),
                make=lambda: prepare(list(self.texts)) if prepare else list(self.texts))
            self._prepared[prepare_id] = texts
            return texts

    def grams(self, prepare=None, prepare_id: str = ""):
        """Character n-grams of the prepared sentences (`qa_rubrics.classifier.char_grams`)."""
        from qa_rubrics.classifier import char_grams

        key = f"grams\x1e{prepare_id}"
        if key not in self._prepared:
            texts = self.prepared_texts(prepare, prepare_id)
            with self._lock:
                self._prepared[key] = char_grams(texts)
        return self._prepared[key]

    def speaker_mask(self, speaker: str) -> np.ndarray:
        if speaker in ("agent", "customer"):
            return self.speakers == speaker
        return np.ones(len(self), dtype=bool)

    def in_class_acts(self, example_vecs: np.ndarray, bank_vecs: np.ndarray, speaker: str) -> tuple[set[str], dict]:
        """The acts the examples belong to, and each act's fit (mean over examples)."""
        mask = self.speaker_mask(speaker)
        acts = sorted(set(self.acts[mask]))
        if not len(example_vecs) or not acts:
            return set(), {}
        S = example_vecs @ bank_vecs.T
        fit = np.zeros((len(example_vecs), len(acts)), dtype=np.float32)
        for j, act in enumerate(acts):
            cols = np.flatnonzero(mask & (self.acts == act))
            top = np.sort(S[:, cols], axis=1)[:, -ACT_TOP_K:]
            fit[:, j] = top.mean(axis=1)
        mean = fit.mean(axis=0)
        ranked = [int(j) for j in np.argsort(-mean)]
        best = float(mean[ranked[0]])
        votes = np.bincount(fit.argmax(axis=1), minlength=len(acts))
        chosen = [j for j in ranked if mean[j] >= best - IN_CLASS_GAP or votes[j] >= IN_CLASS_VOTE * len(example_vecs)]
        return {acts[j] for j in chosen[:MAX_IN_CLASS]}, {acts[j]: round(float(mean[j]), 4) for j in ranked[:5]}


def _cached_on_disk(path: Path, *, read, valid, write, make):
    """`read(path)` when that file is there and `valid`; otherwise `make()`, written to `path` atomically
    with `write(tmp_path, value)`. A read-only home keeps the value in memory only."""
    value = None
    try:
        if path.exists():
            value = read(path)
            if not valid(value):
                value = None
    except (OSError, ValueError):
        value = None
    if value is None:
        value = make()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp{path.suffix}")  # np.save keeps a .npy name
            write(tmp, value)
            os.replace(tmp, path)
        except OSError:
            pass
    return value


_BANKS: dict[str, SentenceBank] = {}
_BANKS_LOCK = threading.Lock()


def load_bank(language: str = "en") -> SentenceBank:
    """The bank of `language` (en, de, tr), read once per process."""
    lang = (language or "en").lower()[:2]
    if lang not in LANGUAGES:
        raise ConfigError(f"No QA sentence bank for the language {language!r}",
                          hint=f"rubrics can be scored in {', '.join(LANGUAGES)}", field="language")
    with _BANKS_LOCK:
        if lang not in _BANKS:
            path = BANK_DIR / f"{lang}.jsonl"
            raw = path.read_bytes()
            sentences = []
            for line in raw.decode("utf-8").splitlines():
                if not line.strip():
                    continue
                d = json.loads(line)
                sentences.append(BankSentence(d["text"], d["speaker"], d["act"], d.get("channel", "")))
            _BANKS[lang] = SentenceBank(sentences, lang, hashlib.sha256(raw).hexdigest()[:16])
        return _BANKS[lang]
