"""A small classifier per criterion over sentence embeddings: the rubric's examples are the prior,
reviewed conversations teach it more.

Zero-shot (nothing labelled yet): a logistic regression trained on the criterion's examples (and
the bank sentences of the acts they belong to) against the bank sentences of every other act of
the same speaker, plus the rubric's counter-examples. Its boundary is where a sentence is as
likely to be what the examples show as to be an ordinary sentence of another kind, so a threshold
of 0.5 on its probability means the same for every criterion and every model; no absolute cosine
is involved. Measured on task dialogues and social-media care threads (docs/qa.md), this agrees
with human graders far better than a fixed similarity threshold.

Learning (`learn`): every reviewed or labelled transcript adds training sentences. A conversation
graded `fail` makes each of its sentences (of the criterion's speaker, inside the window) a
negative; one graded `pass` contributes its sentence the current model finds most convincing
(multiple-instance learning, refined over two rounds). The prior stays in the training set, so a
handful of reviews adjusts the model rather than replacing it.

Features (`semantic.v3`): the sentence embedding (centred, unit length) and, beside it, the
sentence's character n-grams (2-4 characters inside word boundaries, hashed into `GRAM_FEATURES`
buckets, unit length). The embedding says what a sentence means; the n-grams carry the surface cues
a sentence model blurs and a team's reviews teach quickly (a signature such as "^JS", "DM us",
"tysm", a booking reference read back). Measured on sgd-qa (dev) and confirmed on the held-out
social threads (docs/qa.md). `semantic.v2` classifiers use the embedding alone.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse

C_PRIOR = 1.0  # inverse regularisation strength of the logistic regression
EXAMPLE_WEIGHT = 3.0  # a rubric example counts as much as three bank sentences
COUNTER_WEIGHT = 3.0
LABELLED_WEIGHT = 10.0  # a sentence from a graded conversation counts as much as ten bank sentences
ROUNDS = 2  # multiple-instance rounds (re-pick each passing conversation's best sentence)
GRAM_FEATURES = 2 ** 15  # hashed character n-gram buckets (v3)
GRAM_WEIGHT = 1.0  # the n-gram block's length next to the unit-length embedding (chosen on sgd-qa: 0.25-2)
_HASHER = None


def char_grams(texts: list[str]) -> sparse.csr_matrix:
    """Character 2-4-grams inside word boundaries, lower-cased, hashed and scaled to `GRAM_WEIGHT` length.
    Stateless (no vocabulary to store): the same text gives the same features in every process."""
    global _HASHER
    if _HASHER is None:
        from sklearn.feature_extraction.text import HashingVectorizer

        _HASHER = HashingVectorizer(analyzer="char_wb", ngram_range=(2, 4), n_features=GRAM_FEATURES,
                                    alternate_sign=False, norm="l2", lowercase=True, dtype=np.float32)
    if not texts:
        return sparse.csr_matrix((0, GRAM_FEATURES), dtype=np.float32)
    return (_HASHER.transform(list(texts)) * GRAM_WEIGHT).tocsr().astype(np.float32)


@dataclass
class Sentences:
    """What a classifier sees of some sentences: their embeddings and (v3) their character n-grams."""

    vectors: np.ndarray
    grams: sparse.csr_matrix | None = None

    def __len__(self) -> int:
        return len(self.vectors)

    def take(self, idx) -> Sentences:
        idx = np.atleast_1d(np.asarray(idx, dtype=np.int64))
        return Sentences(self.vectors[idx], None if self.grams is None else self.grams[idx])

    @staticmethod
    def stack(parts: list[Sentences]) -> Sentences:
        vectors = np.vstack([p.vectors for p in parts]).astype(np.float32)
        grams = sparse.vstack([p.grams for p in parts]).tocsr() if all(p.grams is not None for p in parts) \
            else None
        return Sentences(vectors, grams)


def as_sentences(X) -> Sentences:
    """`Sentences`, or a plain matrix of embeddings (no n-grams)."""
    return X if isinstance(X, Sentences) else Sentences(np.asarray(X, dtype=np.float32))


def centred(X: np.ndarray, center: np.ndarray | None) -> np.ndarray:
    """Vectors moved so that the bank's mean is the origin, then unit length again.

    Sentence embeddings share a large common component (all-MiniLM-L6-v2 a little, the multilingual
    E5 model a lot: any two sentences are at cosine 0.7-0.9 there); removing it gives every model
    the same geometry, so the same regularisation works for both."""
    if center is None or not len(X):
        return X
    Z = X - center
    return (Z / np.maximum(np.linalg.norm(Z, axis=1, keepdims=True), 1e-9)).astype(np.float32)


@dataclass
class TrainingSet:
    """Positive and negative sentences with weights (`center`: see `centred`). With n-grams on both
    sides the classifier learns from them too."""

    Xp: Sentences
    wp: np.ndarray
    Xn: Sentences
    wn: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)
    center: np.ndarray | None = None


@dataclass
class CriterionModel:
    """A linear classifier over sentence vectors (and, with `gram_coef`, their character n-grams);
    `threshold` is on the log-odds (0 = probability 0.5)."""

    coef: np.ndarray
    intercept: float
    threshold: float = 0.0
    source: str = "prior"  # prior | learned
    info: dict[str, Any] = field(default_factory=dict)
    center: np.ndarray | None = None
    gram_coef: np.ndarray | None = None

    @property
    def uses_grams(self) -> bool:
        return self.gram_coef is not None

    def decision(self, X) -> np.ndarray:
        S = as_sentences(X)
        if not len(S):
            return np.zeros(0, dtype=np.float32)
        out = centred(S.vectors, self.center) @ self.coef + self.intercept - self.threshold
        if self.gram_coef is not None:
            if S.grams is None:
                raise ValueError("this classifier also reads character n-grams: pass Sentences with grams")
            out = out + S.grams @ self.gram_coef
        return np.asarray(out, dtype=np.float32)

    def probability(self, X: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.decision(X)))

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        out = {f"{prefix}/coef": self.coef.astype(np.float32),
               f"{prefix}/bias": np.array([self.intercept, self.threshold], dtype=np.float64)}
        if self.center is not None:
            out[f"{prefix}/center"] = self.center.astype(np.float32)
        if self.gram_coef is not None:
            out[f"{prefix}/grams"] = self.gram_coef.astype(np.float32)
        return out

    @classmethod
    def from_arrays(cls, arrays, prefix: str, info: dict[str, Any] | None = None) -> CriterionModel:
        bias = arrays[f"{prefix}/bias"]
        center = arrays.get(f"{prefix}/center")
        grams = arrays.get(f"{prefix}/grams")
        return cls(np.asarray(arrays[f"{prefix}/coef"], dtype=np.float32), float(bias[0]), float(bias[1]),
                   source="learned", info=info or {},
                   center=None if center is None else np.asarray(center, dtype=np.float32),
                   gram_coef=None if grams is None else np.asarray(grams, dtype=np.float32))


def prior_training(example_vecs: np.ndarray, counter_vecs: np.ndarray, bank, bank_vecs: np.ndarray,
                   speaker: str, *, narrow: bool = False, example_grams: sparse.csr_matrix | None = None,
                   counter_grams: sparse.csr_matrix | None = None,
                   bank_grams: sparse.csr_matrix | None = None) -> TrainingSet:
    """Examples (+ the bank sentences of their acts) against the bank's other acts and the counter-examples.

    `narrow`: the criterion is a small part of its act (what an `absent` check forbids: a promise among
    statements of next steps, an insult among complaints): the act's bank sentences are left out of
    both sides instead of counting as positives, so only what resembles the examples passes.
    With `example_grams` and `bank_grams` (and `counter_grams` when there are counter-examples) the
    classifier also reads character n-grams (v3)."""
    in_class, fit = bank.in_class_acts(example_vecs, bank_vecs, speaker)
    mask = bank.speaker_mask(speaker)
    inside = mask & np.isin(bank.acts, list(in_class))
    outside = mask & ~np.isin(bank.acts, list(in_class))
    if narrow:
        inside = np.zeros_like(inside)
    if not outside.any():  # never without a contrast: the other speaker's sentences, then the whole bank
        outside = ~np.isin(bank.acts, list(in_class)) if (~np.isin(bank.acts, list(in_class))).any() else ~inside
    grams = example_grams is not None and bank_grams is not None and (counter_grams is not None or
                                                                        not len(counter_vecs))

    def part(vecs, g):
        return Sentences(np.asarray(vecs, dtype=np.float32), g if grams else None)

    Xp = Sentences.stack([part(example_vecs, example_grams),
                          part(bank_vecs[inside], bank_grams[np.flatnonzero(inside)] if grams else None)])
    wp = np.r_[np.full(len(example_vecs), EXAMPLE_WEIGHT), np.ones(int(inside.sum()))]
    Xn = part(bank_vecs[outside], bank_grams[np.flatnonzero(outside)] if grams else None)
    wn = np.ones(len(Xn))
    if len(counter_vecs):
        Xn = Sentences.stack([Xn, part(counter_vecs, counter_grams)])
        wn = np.r_[wn, np.full(len(counter_vecs), COUNTER_WEIGHT)]
    center = bank_vecs.mean(axis=0).astype(np.float32)
    info = {"in_class_acts": sorted(in_class), "act_fit": fit, "bank": str(getattr(bank, "hash", ""))[:12]}
    return TrainingSet(Xp, wp, Xn, wn, info=info, center=center)


def fit(ts: TrainingSet, *, C: float = C_PRIOR, start: CriterionModel | None = None) -> CriterionModel:
    """Class-balanced logistic regression (the two classes weigh the same in total); `start` warm-starts
    the solver (a model trained on nearly the same data converges in a few steps from there)."""
    from sklearn.linear_model import LogisticRegression

    both = Sentences.stack([ts.Xp, ts.Xn])
    X = centred(both.vectors, ts.center)
    d = X.shape[1]
    if both.grams is not None:
        X = sparse.hstack([sparse.csr_matrix(X), both.grams]).tocsr()
    y = np.r_[np.ones(len(ts.Xp)), np.zeros(len(ts.Xn))]
    w = np.r_[ts.wp * (ts.wn.sum() / max(ts.wp.sum(), 1e-9)), ts.wn]
    clf = LogisticRegression(C=C, max_iter=3000, warm_start=start is not None)
    if start is not None and (start.gram_coef is not None) == (both.grams is not None):
        coef = start.coef if start.gram_coef is None else np.r_[start.coef, start.gram_coef]
        clf.coef_ = coef[None, :].astype(np.float64)
        clf.intercept_ = np.array([start.intercept + start.threshold])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(X, y, sample_weight=w)
    coef = clf.coef_[0].astype(np.float32)
    return CriterionModel(coef[:d], float(clf.intercept_[0]), info=dict(ts.info), center=ts.center,
                          gram_coef=coef[d:] if both.grams is not None else None)


def learn(prior: TrainingSet, labelled: list[tuple[Sentences, str]], *, C: float = C_PRIOR,
          rounds: int = ROUNDS, labelled_weight: float = LABELLED_WEIGHT,
          prior_model: CriterionModel | None = None) -> CriterionModel:
    """The prior plus graded conversations: `labelled` holds (a conversation's sentences, 'pass' | 'fail').
    `prior_model` is the classifier fitted on `prior` alone, when the caller has it already."""
    model = prior_model if prior_model is not None else fit(prior, C=C)
    start = model
    grams = prior.Xp.grams is not None
    labelled = [(as_sentences(X) if grams else Sentences(as_sentences(X).vectors), y) for X, y in labelled]
    if grams and any(X.grams is None for X, _ in labelled):
        raise ValueError("the prior reads character n-grams: pass the labelled sentences with their grams")
    pos = [X for X, label in labelled if label == "pass" and len(X)]
    neg = [X for X, label in labelled if label == "fail" and len(X)]
    if not pos and not neg:
        return model
    wp0 = prior.wp / prior.wp.sum() * len(prior.wp)
    for _ in range(rounds):
        best = [X.take(int(np.argmax(model.decision(X)))) for X in pos]
        ts = TrainingSet(Sentences.stack([prior.Xp, *best]),
                         np.concatenate([wp0] + ([np.full(len(best), labelled_weight)] if best else [])),
                         Sentences.stack([prior.Xn, *neg]),
                         np.concatenate([prior.wn] + [np.full(len(X), labelled_weight) for X in neg]),
                         info=dict(prior.info), center=prior.center)
        model = fit(ts, C=C, start=start)
        start = model
    model.source = "learned"
    model.info.update(passes=len(pos), fails=len(neg))
    return model
