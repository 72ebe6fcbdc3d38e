"""`absent`: passes when the check it wraps (`check: {method: ..., ...}`) finds nothing.

For prohibited language or behaviour. The wrapped check inherits the criterion's speaker and
window unless it sets its own; its evidence becomes the evidence of the failure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qa_rubrics.criteria import FieldSpec, Method, Outcome, register

if TYPE_CHECKING:  # pragma: no cover
    from qa_rubrics.rubric import Check
    from qa_rubrics.score import EvalContext


def evaluate(check: Check, ctx: EvalContext) -> Outcome:
    inner: Check = check.params["check"]
    o = ctx.scorer.evaluate_check(inner, ctx)
    if o.result == "na":
        return Outcome("na", o.score, o.confidence, [], reason=o.reason or "the wrapped check does not apply",
                       detail=o.detail, raw=o.raw)
    if o.result == "pass":
        return Outcome("fail", 1.0 - o.score, o.confidence, o.evidence,
                       reason=f"found what must be absent ({inner.method_name})", detail=o.detail, raw=o.raw)
    return Outcome("pass", 1.0 - o.score, o.confidence, [], reason="nothing found", detail=o.detail, raw=o.raw)


METHOD = register(Method(
    name="absent", version=1, evaluate=evaluate, nested=False,
    fields=(FieldSpec("check", "check", required=True, help="the check that must find nothing"),),
    help="the wrapped check finds nothing"))
