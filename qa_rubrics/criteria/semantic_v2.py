"""`semantic` (v2): a sentence says what the examples say, judged by a classifier per criterion.

v1 compared each sentence's cosine similarity with the examples to one absolute threshold. On
real conversations that agreed poorly with human graders (kappa ~0.2): the right threshold
differs per criterion and per model, and a sentence on the same topic ("Would you like me to
book it?") is as close to "Your booking is confirmed" as a real confirmation is.

v2 scores every sentence (and every whole turn) of the criterion's speaker, inside its window,
with a logistic-regression classifier over sentence embeddings (`qa_rubrics.classifier`): trained
zero-shot on the examples against a bank of ordinary service sentences of other dialogue acts
(`qa_rubrics.bank`), or learned from reviewed conversations (`deskbook qa eval --tune`, or
retraining in the web app). The criterion passes when its most convincing sentence reaches the
`threshold` on the classifier's probability (default 0.5, the same meaning for every criterion).

- score: the probability of the most convincing sentence; confidence: max(score, 1 - score);
  a verdict with confidence under `qa_review_confidence` is marked "needs review".
- evidence: the sentences over the threshold (best per turn, up to three, the earliest kept);
  `matched` is the example closest to each.
- on a fail, `detail.nearest` is the sentence that came closest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from qa_rubrics.criteria import Evidence, FieldSpec, Method, Outcome, register

if TYPE_CHECKING:  # pragma: no cover
    from qa_rubrics.rubric import Check
    from qa_rubrics.score import EvalContext

DEFAULT_THRESHOLD = 0.5
MAX_EVIDENCE = 3
# A sentence that is (almost) one of the rubric's examples passes, and one that is closer to a
# counter-example than to every example does not, whatever the classifier says: the rubric's
# author said so explicitly.
SAME_AS_EXAMPLE = 0.9
PASS_FLOOR = 0.75
COUNTER_CAP = 0.25


def unit_probabilities(check: Check, ctx: EvalContext) -> dict | None:
    """Per unit of the check's speaker (inside its window): probability, nearest example, nearest
    counter-example; None when that speaker said nothing."""
    conv = ctx.conv
    units = conv.unit_indices(conv.turn_indices(check.speaker, check.window))
    if not units:
        return None
    scorer = ctx.scorer
    model = scorer.criterion_model(check)
    S = conv.sentences_of(scorer.embedder, units, grams=model.uses_grams)
    V = S.vectors
    prob = model.probability(S).astype(np.float64)
    E, _, _ = scorer.phrases.lookup(list(check.params["examples"]))
    SE = V @ E.T
    ex_sim = SE.max(axis=1)
    out = {"units": units, "prob": prob, "example": SE.argmax(axis=1), "counter": None}
    counters = list(check.params.get("counter_examples") or [])
    if counters:
        C, _, _ = scorer.phrases.lookup(counters)
        SC = V @ C.T
        closer = SC.max(axis=1) > ex_sim
        out["counter"] = [counters[int(j)] if c else None for j, c in zip(SC.argmax(axis=1), closer, strict=True)]
        prob = np.where(closer, np.minimum(prob, COUNTER_CAP), prob)
    else:
        closer = np.zeros(len(units), dtype=bool)
    prob = np.where((ex_sim >= SAME_AS_EXAMPLE) & ~closer, np.maximum(prob, PASS_FLOOR), prob)
    hook = check.spec().sets_aside
    aside = hook(check, conv, units) if hook is not None else None
    if aside is not None:  # semantic.v8: answers to the customer's own questions, where the check says so
        out["aside"] = [(int(u), float(p)) for u, p, a in zip(units, prob, aside, strict=True) if a]
        prob = np.where(aside, np.minimum(prob, COUNTER_CAP), prob)
    out["prob"] = prob
    return out


def evaluate(check: Check, ctx: EvalContext) -> Outcome:
    threshold = check.threshold if check.threshold is not None else DEFAULT_THRESHOLD
    model = ctx.scorer.criterion_model(check)
    detail: dict = {"model": model.source, "threshold": round(threshold, 4)}
    if model.info.get("in_class_acts"):
        detail["acts"] = model.info["in_class_acts"]
    if model.info.get("bank"):  # which sentence bank the prior was trained on: the bank grows between releases
        detail["bank"] = model.info["bank"]
    got = unit_probabilities(check, ctx)
    if got is None:
        return Outcome("fail", 0.0, 1.0, reason=f"the {check.speaker} said nothing here", detail=detail, raw=None)
    units, prob, nearest_example = got["units"], got["prob"], got["example"]
    conv = ctx.conv
    order = np.argsort(-prob)
    best = float(prob[order[0]])
    confidence = max(best, 1.0 - best)
    detail["probability"] = round(best, 4)
    examples = check.params["examples"]
    raw = float(np.log(max(best, 1e-9) / max(1.0 - best, 1e-9)))
    if best >= threshold:
        per_turn: dict[int, int] = {}
        for k in order:
            if prob[k] < threshold:
                break
            per_turn.setdefault(conv.units[units[k]].turn, int(k))
        chosen = list(per_turn.values())[:MAX_EVIDENCE]
        first = per_turn[min(per_turn)]
        if first not in chosen:  # `order` criteria compare positions: the earliest match is kept
            chosen[-1] = first
        evidence = []
        for k in chosen:
            u = conv.units[units[k]]
            evidence.append(Evidence(u.turn, conv.turns[u.turn].speaker, u.start, u.end,
                                     examples[int(nearest_example[k])], similarity=float(prob[k])))
        evidence.sort(key=lambda e: e.position())
        return Outcome("pass", best, confidence, evidence, detail=detail, raw=raw,
                       reason=f"turn {conv.units[units[order[0]]].turn + 1} says what the examples say "
                              f"(probability {best:.2f} >= {threshold:.2f})")
    u = conv.units[units[order[0]]]
    detail["nearest"] = {"turn": u.turn, "start": u.start, "end": u.end,
                         "matched": examples[int(nearest_example[order[0]])], "similarity": round(best, 4)}
    if got["counter"] is not None and got["counter"][order[0]]:
        detail["nearest"]["closer_to_counter_example"] = got["counter"][order[0]]
    reason = (f"no sentence says what the examples say (closest: turn {u.turn + 1}, probability {best:.2f} < "
              f"{threshold:.2f})")
    aside = [(k, p) for k, p in got.get("aside", []) if p >= threshold]
    if aside:
        detail["set_aside"] = [{"turn": conv.units[k].turn, "start": conv.units[k].start, "end": conv.units[k].end,
                                "probability": round(p, 4), "why": "answers the customer's question"} for k, p in aside]
        turns = sorted({conv.units[k].turn + 1 for k, _ in aside})
        reason += (f"; set aside: turn{'s' if len(turns) > 1 else ''} {', '.join(map(str, turns))} "
                   f"{'answer' if len(turns) > 1 else 'answers'} the customer's own question")
    return Outcome("fail", best, confidence, [], detail=detail, raw=raw, reason=reason)


METHOD = register(Method(
    name="semantic", version=2, evaluate=evaluate, default_threshold=DEFAULT_THRESHOLD,
    fields=(FieldSpec("examples", "str_list", required=True, help="phrases that satisfy the criterion"),
            FieldSpec("counter_examples", "str_list", help="phrases that look similar but must not count")),
    help="a classifier trained on the examples (and on reviews) finds a sentence that says what they say"))
