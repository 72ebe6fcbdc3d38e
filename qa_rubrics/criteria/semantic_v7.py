"""`semantic` (v7): v6, and the outcome reported after a confirmed read-back, where the question asks for it.

"Did the agent tell the customer that the request was completed successfully?" v6's classifier knows
completion notices worded as its examples are ("All done, your booking is now confirmed."); short ones
about the thing itself ("The song has started.", "The cab is on its way.", "Here you go.") it takes
for plain statements. What makes them completion notices is where they stand: the agent's reply to
the customer's plain yes to a read-back, neither a failure, an apology nor a hold
(`qa_rubrics.completion`). v7 keeps everything v6 does and adds that as an alternative:

- `accepts: [completion]`: the criterion also passes when such a report lies inside its window,
  whatever the classifier says.
- Without `accepts`, a question that asks whether the agent told the customer the request was
  completed, done, successful or went through accepts one ("Hat der Agent mitgeteilt, dass ... erfolgreich
  abgeschlossen wurde?", "... başarıyla tamamlandığını söyledi mi?"); `accepts: []` turns that off. What a
  question accepted in v6 (a signature, a read-back) it still accepts.

A verdict passed by a completion says so in its reason and in `detail.accepts`, with the report as
its evidence. Learning is taught the conversations a completion passes (`rule_teaches`), as v6's
read-backs: the report is what the examples say.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qa_rubrics.completion import COMPLETION, asks_for_completion, completion
from qa_rubrics.criteria import Evidence, FieldSpec, Method, Outcome, register
from qa_rubrics.criteria.semantic_v2 import DEFAULT_THRESHOLD
from qa_rubrics.criteria.semantic_v4 import METHOD as V4
from qa_rubrics.criteria.semantic_v5 import also_accepted
from qa_rubrics.criteria.semantic_v5 import rule_verdict as v5_rule
from qa_rubrics.criteria.semantic_v6 import ACCEPTS as V6_ACCEPTS
from qa_rubrics.criteria.semantic_v6 import accepted as v6_accepted
from qa_rubrics.criteria.semantic_v6 import evaluate as v6_verdict
from qa_rubrics.criteria.semantic_v6 import rule_verdict as v6_rule

if TYPE_CHECKING:  # pragma: no cover
    from qa_rubrics.conversation import Conversation
    from qa_rubrics.rubric import Check
    from qa_rubrics.score import EvalContext

ACCEPTS = (*V6_ACCEPTS, COMPLETION)
# How sure a pass by a completion is: a plain statement right after the customer's yes to a read-back
# reports the outcome in nearly every case, but it can be a detail about the thing ("It's a 3 star
# hotel.") when the notice itself was left unsaid.
COMPLETION_CONFIDENCE = 0.75


def accepted(check: Check) -> tuple[tuple[str, ...], str]:
    """(what passes the criterion beside its classifier, where that comes from: rubric | question)."""
    found, source = v6_accepted(check)
    if "accepts" in check.params or check.speaker != "agent" or not asks_for_completion(check.question):
        return found, source
    return (*found, COMPLETION), "question"


def found_completion(check: Check, conv: Conversation) -> tuple[int, int, int, int] | None:
    """Where an agent turn inside the check's window reports a confirmed request's outcome (None: nowhere,
    or not asked)."""
    if COMPLETION not in accepted(check)[0]:
        return None
    return completion(conv, conv.turn_indices("agent", check.window))


def rule_verdict(check: Check, conv: Conversation) -> str | None:
    """v6's (a missing required name fails, a signature or a read-back that counts passes), then a
    completion that counts passes."""
    verdict = v6_rule(check, conv)
    if verdict is not None:
        return verdict
    return "pass" if found_completion(check, conv) is not None else None


def evaluate(check: Check, ctx: EvalContext) -> Outcome:
    def shown(found: tuple[int, int, int, int]) -> tuple[Evidence, str]:
        turn, start, end, read_back_turn = found
        return (Evidence(turn, "agent", start, end, "the outcome of a request the customer confirmed"),
                f"turn {turn + 1} reports the outcome of the request read back in turn {read_back_turn + 1} "
                f"and confirmed by the customer")

    return also_accepted(v6_verdict(check, ctx), COMPLETION, accepted(check),
                         lambda: completion(ctx.conv, ctx.conv.turn_indices("agent", check.window)), shown,
                         COMPLETION_CONFIDENCE)


METHOD = register(Method(
    name="semantic", version=7, evaluate=evaluate, default_threshold=DEFAULT_THRESHOLD,
    fields=(*V4.fields,
            FieldSpec("accepts", "choices", help="what also passes the criterion beside what the examples "
                      "say: agent_signature (an agent reply ends with the agent's name or initials, '^JS', "
                      "'-Mia'), read_back (the agent repeats details already given and the customer answers "
                      "yes or no), completion (the agent's reply to the customer's yes to a read-back states "
                      "the outcome: no failure, apology or hold); [] for nothing (a question that counts a "
                      "signature, asks for a read-back or asks whether the agent said the request was done "
                      "accepts that otherwise)", choices=ACCEPTS)),
    help="v6, and the outcome reported after a confirmed read-back where the criterion asks for one",
    rule_verdict=rule_verdict, rule_teaches=lambda check, conv: v5_rule(check, conv) is None))
