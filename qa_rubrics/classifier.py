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
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

C_PRIOR = 1.0  # inverse regularisation strength of the logistic regression
EXAMPLE_WEIGHT = 3.0  # a rubric example counts as much as three bank sentences
COUNTER_WEIGHT = 3.0
LABELLED_WEIGHT = 10.0  # a sentence from a graded conversation counts as much as ten bank sentences
ROUNDS = 2  # multiple-instance rounds (re-pick each passing conversation's best sentence)


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
    """Positive and negative sentence vectors with weights (`center`: see `centred`)."""

    Xp: np.ndarray
    wp: np.ndarray
    Xn: np.ndarray
    wn: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)
    center: np.ndarray | None = None


@dataclass
class CriterionModel:
    """A linear classifier over sentence vectors; `threshold` is on the log-odds (0 = probability 0.5)."""

    coef: np.ndarray
    intercept: float
    threshold: float = 0.0
    source: str = "prior"  # prior | learned
    info: dict[str, Any] = field(default_factory=dict)
    center: np.ndarray | None = None

    def decision(self, X: np.ndarray) -> np.ndarray:
        if not len(X):
            return np.zeros(0, dtype=np.float32)
        return (centred(X, self.center) @ self.coef + self.intercept - self.threshold).astype(np.float32)

    def probability(self, X: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.decision(X)))

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        out = {f"{prefix}/coef": self.coef.astype(np.float32),
               f"{prefix}/bias": np.array([self.intercept, self.threshold], dtype=np.float64)}
        if self.center is not None:
            out[f"{prefix}/center"] = self.center.astype(np.float32)
        return out

    @classmethod
    def from_arrays(cls, arrays, prefix: str, info: dict[str, Any] | None = None) -> CriterionModel:
        bias = arrays[f"{prefix}/bias"]
        center = arrays.get(f"{prefix}/center")
        return cls(np.asarray(arrays[f"{prefix}/coef"], dtype=np.float32), float(bias[0]), float(bias[1]),
                   source="learned", info=info or {},
                   center=None if center is None else np.asarray(center, dtype=np.float32))


def prior_training(example_vecs: np.ndarray, counter_vecs: np.ndarray, bank, bank_vecs: np.ndarray,
                   speaker: str, *, narrow: bool = False) -> TrainingSet:
    """Examples (+ the bank sentences of their acts) against the bank's other acts and the counter-examples.

    `narrow`: the criterion is a small part of its act (what an `absent` check forbids: a promise among
    statements of next steps, an insult among complaints): the act's bank sentences are left out of
    both sides instead of counting as positives, so only what resembles the examples passes."""
    in_class, fit = bank.in_class_acts(example_vecs, bank_vecs, speaker)
    mask = bank.speaker_mask(speaker)
    inside = mask & np.isin(bank.acts, list(in_class))
    outside = mask & ~np.isin(bank.acts, list(in_class))
    if narrow:
        inside = np.zeros_like(inside)
    if not outside.any():  # never without a contrast: the other speaker's sentences, then the whole bank
        outside = ~np.isin(bank.acts, list(in_class)) if (~np.isin(bank.acts, list(in_class))).any() else ~inside
    Xp = np.vstack([example_vecs, bank_vecs[inside]])
    wp = np.r_[np.full(len(example_vecs), EXAMPLE_WEIGHT), np.ones(int(inside.sum()))]
    Xn = bank_vecs[outside]
    wn = np.ones(len(Xn))
    if len(counter_vecs):
        Xn = np.vstack([Xn, counter_vecs])
        wn = np.r_[wn, np.full(len(counter_vecs), COUNTER_WEIGHT)]
    center = bank_vecs.mean(axis=0).astype(np.float32)
    return TrainingSet(Xp.astype(np.float32), wp, Xn.astype(np.float32), wn,
                       info={"in_class_acts": sorted(in_class), "act_fit": fit}, center=center)


def fit(ts: TrainingSet, *, C: float = C_PRIOR, start: CriterionModel | None = None) -> CriterionModel:
    """Class-balanced logistic regression (the two classes weigh the same in total); `start` warm-starts
    the solver (a model trained on nearly the same data converges in a few steps from there)."""
    from sklearn.linear_model import LogisticRegression

    X = centred(np.vstack([ts.Xp, ts.Xn]), ts.center)
    y = np.r_[np.ones(len(ts.Xp)), np.zeros(len(ts.Xn))]
    w = np.r_[ts.wp * (ts.wn.sum() / max(ts.wp.sum(), 1e-9)), ts.wn]
    clf = LogisticRegression(C=C, max_iter=3000, warm_start=start is not None)
    if start is not None:
        clf.coef_ = start.coef[None, :].astype(np.float64)
        clf.intercept_ = np.array([start.intercept + start.threshold])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(X, y, sample_weight=w)
    return CriterionModel(clf.coef_[0].astype(np.float32), float(clf.intercept_[0]), info=dict(ts.info),
                          center=ts.center)


def learn(prior: TrainingSet, labelled: list[tuple[np.ndarray, str]], *, C: float = C_PRIOR,
          rounds: int = ROUNDS, labelled_weight: float = LABELLED_WEIGHT,
          prior_model: CriterionModel | None = None) -> CriterionModel:
    """The prior plus graded conversations: `labelled` holds (sentence vectors, 'pass' | 'fail').
    `prior_model` is the classifier fitted on `prior` alone, when the caller has it already."""
    model = prior_model if prior_model is not None else fit(prior, C=C)
    start = model
    pos = [X for X, label in labelled if label == "pass" and len(X)]
    neg = [X for X, label in labelled if label == "fail" and len(X)]
    if not pos and not neg:
        return model
    wp0 = prior.wp / prior.wp.sum() * len(prior.wp)
    for _ in range(rounds):
        best = [X[int(np.argmax(model.decision(X)))] for X in pos]
        parts_p = [prior.Xp] + ([np.vstack(best)] if best else [])
        w_p = [wp0] + ([np.full(len(best), labelled_weight)] if best else [])
        parts_n = [prior.Xn] + neg
        w_n = [prior.wn] + [np.full(len(X), labelled_weight) for X in neg]
        ts = TrainingSet(np.vstack(parts_p), np.concatenate(w_p), np.vstack(parts_n), np.concatenate(w_n),
                         info=dict(prior.info), center=prior.center)
        model = fit(ts, C=C, start=start)
        start = model
    model.source = "learned"
    model.info.update(passes=len(pos), fails=len(neg))
    return model
