"""Learning from graded conversations: one classifier per semantic criterion, checked by cross-validation.

Used by `deskbook qa eval --tune` (labels from a file) and by retraining in the web app (the
analysts' reviews). For each criterion whose check is `semantic` (or an `absent` around one):

1. each labelled conversation gives the vectors of its sentences that the check looks at;
2. `before`: the agreement (Cohen's kappa) of the current classifier with the labels;
3. `after`: k-fold cross-validation of learning (each fold predicted by a classifier learned on
   the other folds, the rubric's examples always part of the training set), so the figure says
   how the learned classifier does on conversations it has not seen;
4. the criterion's learned classifier (trained on every labelled conversation) is kept unless its
   cross-validated kappa is lower than `before` (by more than `ADOPT_MARGIN`, now 0); then the criterion
   keeps what it had.

Why no margin now. Kappa measured on a few dozen conversations, most of them passing, moves by 0.1-0.2
when two conversations change sides, and the cross-validated figure is learned from a fifth less data;
with semantic.v3 a margin of 0.2 did best on sgd-qa (kappa on the unlabelled rest after learning from 80:
0.603 with "after > before", 0.656 with the 0.2 margin, 0.648 always keeping the learned one). Since
v6-v8 the zero-shot verdicts are surer where their rules apply (a read-back, a completion, an answer set
aside), and a learned classifier that cross-validation puts below them was kept by the margin:
`failure_notice` 0.80 learned against 0.89 zero-shot, `customer_thanks` 0.41 against 0.57. With v8, on
sgd-qa (`bench/bench_qa.py curve`), from 40 / 80 labelled: 0.653 / 0.679 with the 0.2 margin, 0.662 /
0.686 with 0.1, **0.666 / 0.713** with none ("after >= before"); on the held-out social threads, from 10
/ 20 / 40: 0.766 / 0.787 / 0.794, 0.766 / 0.785 / 0.791 and 0.766 / 0.785 / 0.788, within their noise
(20 threads measured at 40). See docs/qa.md. It also means the learning page never keeps a classifier
whose figure it shows as lower.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from qa_rubrics.calibrate import cohen_kappa
from qa_rubrics.classifier import CriterionModel, Sentences, char_grams, learn
from qa_rubrics.learned import LearnedModels
from qa_rubrics.rubric import Check, Criterion
from qa_rubrics.transcripts import Transcript

FOLDS = 5
MIN_LABELLED = 6  # fewer labelled conversations than this: nothing is learned for the criterion
ADOPT_MARGIN = 0.0  # keep the learned classifier unless cross-validation says it is worse by more than this


@dataclass
class CriterionLearning:
    """What learning did for one criterion."""

    id: str
    support: int
    passes: int
    fails: int
    kappa_before: float | None
    kappa_after: float | None  # cross-validated
    adopted: bool
    reason: str
    accuracy_before: float | None = None
    accuracy_after: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


@dataclass
class LearningResult:
    learned: LearnedModels
    criteria: list[CriterionLearning] = field(default_factory=list)
    transcripts: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"transcripts": self.transcripts, "seconds": round(self.seconds, 2),
                "criteria": [c.to_dict() for c in self.criteria],
                "adopted": [c.id for c in self.criteria if c.adopted]}


def semantic_check(crit: Criterion) -> tuple[Check | None, bool]:
    """(the semantic check a criterion's verdict rests on, whether the label is inverted (`absent`))."""
    ch = crit.check
    if ch.method_name == "absent" and isinstance(ch.params.get("check"), Check):
        inner = ch.params["check"]
        return (inner, True) if inner.method_name == "semantic" and inner.method != "semantic.v1" else (None, False)
    if ch.method_name == "semantic" and ch.method != "semantic.v1":
        return ch, False
    return None, False


def _kappa(pred: Sequence[str], gold: Sequence[str]) -> float | None:
    return cohen_kappa(list(pred), list(gold)) if gold else None


def _accuracy(pred: Sequence[str], gold: Sequence[str]) -> float | None:
    return sum(p == g for p, g in zip(pred, gold, strict=True)) / len(gold) if gold else None


def learn_rubric(scorer, transcripts: Sequence[Transcript], labels: dict[str, dict[str, str]], *,
                 folds: int = FOLDS, progress: Callable[[str, int, int], None] | None = None,
                 source: str = "") -> LearningResult:
    """Learn a classifier per semantic criterion of `scorer.rubric` from the labelled transcripts."""
    t0 = time.perf_counter()
    rubric = scorer.rubric
    targets = [(c, *semantic_check(c)) for c in rubric.criteria]
    targets = [(c, ch, inv) for c, ch, inv in targets if ch is not None]
    labelled = [t for t in transcripts if t.id in labels]
    # one parse, redaction and embedding per conversation
    vectors: dict[str, dict[str, Sentences]] = {c.id: {} for c, _, _ in targets}
    ruled: dict[str, dict[str, str | None]] = {c.id: {} for c, _, _ in targets}
    taught: dict[str, dict[str, bool]] = {c.id: {} for c, _, _ in targets}
    for n, t in enumerate(labelled, 1):
        conv = scorer.conversation(t)
        for c, ch, inverted in targets:
            units = conv.unit_indices(conv.turn_indices(ch.speaker, ch.window))
            aside = _set_aside(ch, conv, units)  # semantic.v8: answers to the customer's questions do not count
            if aside is not None:
                units = [u for u, a in zip(units, aside, strict=True) if not a]
            vectors[c.id][t.id] = conv.sentences_of(scorer.embedder, units) if units else \
                Sentences(np.zeros((0, scorer.embedder.dim), np.float32), char_grams([]))
            ruled[c.id][t.id] = None if inverted else _rule_verdict(ch, conv)
            taught[c.id][t.id] = ruled[c.id][t.id] is None or _rule_teaches(ch, conv)
        if progress:
            progress("embedding", n, len(labelled))
    result = LearningResult(LearnedModels(meta={
        "embedding_model": getattr(scorer.embedder, "name", ""), "dim": int(scorer.embedder.dim),
        "rubric_id": rubric.id, "rubric_version": rubric.version, "rubric_hash": rubric.hash,
        "language": rubric.language, "created": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "trained_on": len(labelled), "source": source}), transcripts=len(labelled))
    for i, (crit, check, inverted) in enumerate(targets, 1):
        result.criteria.append(_learn_one(scorer, crit, check, inverted, labelled, labels, vectors[crit.id],
                                          folds, result.learned, ruled[crit.id], taught[crit.id]))
        if progress:
            progress("learning", i, len(targets))
    result.seconds = time.perf_counter() - t0
    return result


def _presence(label: str, inverted: bool) -> str | None:
    """The label of the semantic check itself: for `absent`, a human 'pass' means nothing was found."""
    if label not in ("pass", "fail"):
        return None
    return ("fail" if label == "pass" else "pass") if inverted else label


def _rule_verdict(check: Check, conv) -> str | None:
    """The verdict a rule beside the classifier gives the conversation (the method's `rule_verdict`:
    semantic.v4 fails a conversation without the agent's own name where the check requires it, v5 also
    passes one with the agent's signature where the check accepts it), None when the classifier decides."""
    rule = check.spec().rule_verdict
    return rule(check, conv) if rule is not None else None


def _rule_teaches(check: Check, conv) -> bool:
    """Whether a conversation a rule decides still teaches the classifier (the method's `rule_teaches`:
    semantic.v6's read-back and v7's completion are sentences that say what the examples say; a signature
    or a missing name is not)."""
    teaches = check.spec().rule_teaches
    return bool(teaches(check, conv)) if teaches is not None else False


def _set_aside(check: Check, conv, units):
    """Which units do not count however they read (the method's `sets_aside`: semantic.v8's answers to the
    customer's own questions), None when all do."""
    hook = check.spec().sets_aside
    return hook(check, conv, units) if hook is not None else None


def _verdicts(model: CriterionModel, Xs: Sequence[Sentences], threshold: float | None = None,
              ruled: Sequence[str | None] | None = None) -> list[str]:
    """Verdict per conversation: its most convincing sentence reaches the threshold (a probability),
    unless a rule beside the classifier decides it (`_rule_verdict`)."""
    th = 0.5 if threshold is None else min(max(float(threshold), 1e-6), 1 - 1e-6)
    cut = float(np.log(th / (1 - th)))
    ruled = [None] * len(Xs) if ruled is None else ruled
    return [rule or ("pass" if len(X) and float(model.decision(X).max()) >= cut else "fail")
            for X, rule in zip(Xs, ruled, strict=True)]


def _learn_one(scorer, crit: Criterion, check: Check, inverted: bool, labelled: Sequence[Transcript],
               labels: dict[str, dict[str, str]], vecs: dict[str, Sentences], folds: int,
               out: LearnedModels, ruled: dict[str, str | None], taught: dict[str, bool]) -> CriterionLearning:
    rows = [(vecs[t.id], _presence(labels[t.id].get(crit.id, ""), inverted), ruled[t.id], taught[t.id])
            for t in labelled]
    rows = [r for r in rows if r[1] is not None]
    ys = [y for _, y, _, _ in rows]
    rules = [r for _, _, r, _ in rows]
    # the classifier learns from the conversations its verdict decides: one that fails a requirement
    # (no agent name) is failed by it, one with what the check accepts (a signature) is passed by it,
    # and their sentences say nothing about what the examples say; a read-back (semantic.v6) or a
    # completion (v7) does, and is taught although the rule passes it
    items = [(X, y) for X, y, _, t in rows if t]
    n_pass, n_fail = ys.count("pass"), ys.count("fail")
    current = scorer.criterion_model(check)
    before = _verdicts(current, [X for X, _, _, _ in rows], check.threshold, rules)
    k_before, a_before = _kappa(before, ys), _accuracy(before, ys)
    base = dict(id=crit.id, support=len(rows), passes=n_pass, fails=n_fail, kappa_before=k_before,
                accuracy_before=a_before)
    if len(items) < MIN_LABELLED:
        return CriterionLearning(**base, kappa_after=None, adopted=False,
                                 reason=f"{len(items)} labelled conversations; at least {MIN_LABELLED} are needed")
    prior = scorer.prior_training(check)
    from qa_rubrics.classifier import fit

    prior_model = fit(prior)
    k = max(2, min(folds, len(rows)))
    oof = [""] * len(rows)
    for f in range(k):
        train = [(X, y) for j, (X, y, _, t) in enumerate(rows) if j % k != f and t]
        model = learn(prior, train, prior_model=prior_model)
        for j, (X, _, r, _) in enumerate(rows):
            if j % k == f:
                oof[j] = _verdicts(model, [X], check.threshold, [r])[0]
    k_after, a_after = _kappa(oof, ys), _accuracy(oof, ys)
    if len(set(ys)) < 2:  # every conversation graded alike: kappa is undefined or 0, accuracy decides
        after, now, margin = (a_after or 0.0), (a_before or 0.0), 0.0
    else:
        after, now, margin = (k_after or 0.0), (k_before or 0.0), ADOPT_MARGIN
    higher, within = after > now + 1e-9, after >= now - margin - 1e-9
    better = higher or within
    if better:
        model = learn(prior, items, prior_model=prior_model)
        model.info.update(kappa_before=k_before, kappa_cross_validated=k_after, support=len(items),
                          inverted=inverted)
        out.models[crit.id] = model
        reason = ("learned: cross-validated agreement is higher" if higher else
                  "learned: cross-validated agreement is the same as the current one" if margin == 0 else
                  f"learned: cross-validated agreement is within {margin} of the current one (the noise of "
                  "kappa on this many conversations); learned classifiers do better on unseen conversations "
                  "on average")
    else:
        reason = ("kept: learning lowered cross-validated agreement" if margin == 0 else
                  f"kept: learning lowered cross-validated agreement by more than {margin}")
    return CriterionLearning(**base, kappa_after=k_after, accuracy_after=a_after, adopted=better, reason=reason)
