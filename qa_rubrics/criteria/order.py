"""`order`: passes when the evidence of criterion `first` comes before that of criterion `then`.

Positions are (turn, character offset) of the earliest confident evidence of each: for a
similarity-based criterion, the earliest match whose similarity is within 0.05 of its best
match (a weak early match of the topic is not taken as the moment it happened). When `then` found
nothing (or does not apply) there is nothing to put in order: N/A. When `then` happened but
`first` never did (or only later): fail.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qa_rubrics.criteria import Evidence, FieldSpec, Method, Outcome, register

if TYPE_CHECKING:  # pragma: no cover
    from qa_rubrics.rubric import Check
    from qa_rubrics.score import EvalContext


CONFIDENT_MARGIN = 0.05


def anchor(evidence: list[Evidence]) -> Evidence:
    """The evidence that marks when a criterion was met."""
    scored = [e for e in evidence if e.similarity is not None]
    if scored:
        best = max(e.similarity for e in scored)
        return min((e for e in scored if e.similarity >= best - CONFIDENT_MARGIN), key=lambda e: e.position())
    return min(evidence, key=lambda e: e.position())


def evaluate(check: Check, ctx: EvalContext) -> Outcome:
    first_id, then_id = check.params["first"], check.params["then"]
    first, then = ctx.results.get(first_id), ctx.results.get(then_id)
    if then is None or then.result != "pass" or not then.evidence:
        return Outcome("na", 0.0, then.confidence if then else 1.0,
                       reason=f"'{then_id}' was not found, so there is nothing to order")
    t_ev = anchor(then.evidence)
    if first is None or first.result == "na":
        return Outcome("na", 0.0, 1.0, reason=f"'{first_id}' does not apply")
    if first.result != "pass" or not first.evidence:
        return Outcome("fail", 0.0, min(first.confidence, then.confidence), [t_ev],
                       reason=f"'{then_id}' happened but '{first_id}' never did")
    f_ev = anchor(first.evidence)
    conf = min(first.confidence, then.confidence)
    if f_ev.position() < t_ev.position():
        return Outcome("pass", 1.0, conf, [f_ev, t_ev], reason=f"'{first_id}' (turn {f_ev.turn + 1}) came before "
                                                               f"'{then_id}' (turn {t_ev.turn + 1})")
    return Outcome("fail", 0.0, conf, [t_ev, f_ev],
                   reason=f"'{then_id}' (turn {t_ev.turn + 1}) came before '{first_id}' (turn {f_ev.turn + 1})")


METHOD = register(Method(
    name="order", version=1, evaluate=evaluate, nested=False,
    fields=(FieldSpec("first", "criterion", required=True, help="the id of the criterion that must come first"),
            FieldSpec("then", "criterion", required=True, help="the id of the criterion that must come after")),
    help="one criterion's evidence comes before another's"))
