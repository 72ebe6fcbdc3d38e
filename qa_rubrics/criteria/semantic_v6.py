"""`semantic` (v6): v5, and a read-back that passes a criterion which asks for one.

"Did the agent read the details back and ask the customer to confirm them before acting?" v5's
classifier knows read-backs worded as its examples are ("Just to check, that's two tickets for
Friday, correct?"); terse ones ("Booking a table for 3 at Fort McKinley on March 6th at 12:30 pm.",
"Pool ride to 101 Brentwood Drive for 3 people?") it takes for offers or plain statements. What
makes them read-backs is that they repeat details already given and the customer answers yes or no
(`qa_rubrics.readback`). v6 keeps everything v5 does and adds that as an alternative:

- `accepts: [read_back]`: the criterion also passes when an agent sentence inside its window reads
  details back for confirmation, whatever the classifier says.
- Without `accepts`, a question that asks for a read-back ("read the details back", "repeat the
  booking back", "confirm the details", "die Angaben wiederholt", "bilgileri tekrar etti") accepts one;
  `accepts: []` turns that off. A question that counts a signature still accepts a signature (v5).

A verdict passed by a read-back says so in its reason and in `detail.accepts`, with the read-back
as its evidence. What v4 requires (the agent's own name) still applies. Learning is taught the
conversations a read-back passes (`rule_teaches`), unlike signed ones: a read-back is what the
examples say, and leaving them out cost sgd-qa's `confirm_details` 0.13 of kappa (docs/qa.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qa_rubrics.criteria import Evidence, FieldSpec, Method, Outcome, register
from qa_rubrics.criteria.semantic_v2 import DEFAULT_THRESHOLD
from qa_rubrics.criteria.semantic_v4 import METHOD as V4
from qa_rubrics.criteria.semantic_v5 import also_accepted
from qa_rubrics.criteria.semantic_v5 import evaluate as v5_verdict
from qa_rubrics.criteria.semantic_v5 import rule_verdict as v5_rule
from qa_rubrics.introductions import AGENT_SIGNATURE, asks_for_signature
from qa_rubrics.readback import READ_BACK, asks_for_read_back, read_back

if TYPE_CHECKING:  # pragma: no cover
    from qa_rubrics.conversation import Conversation
    from qa_rubrics.rubric import Check
    from qa_rubrics.score import EvalContext

ACCEPTS = (AGENT_SIGNATURE, READ_BACK)
# How sure a pass by a read-back is: three repeated details and a yes or no to them is a read-back in
# nearly every case, but a question that repeats the customer's own request ("So you'd like a table for
# three at 7 tonight?") is one too, and graders may want more than that.
READ_BACK_CONFIDENCE = 0.8


def accepted(check: Check) -> tuple[tuple[str, ...], str]:
    """(what passes the criterion beside its classifier, where that comes from: rubric | question)."""
    if "accepts" in check.params:
        return tuple(check.params["accepts"]), "rubric"
    if check.speaker != "agent":
        return (), ""
    found = tuple(v for v, asks in ((AGENT_SIGNATURE, asks_for_signature), (READ_BACK, asks_for_read_back))
                  if asks(check.question))
    return found, "question" if found else ""


def found_read_back(check: Check, conv: Conversation) -> tuple[int, int, int, int] | None:
    """Where an agent sentence inside the check's window reads details back (None: nowhere, or not asked)."""
    if READ_BACK not in accepted(check)[0]:
        return None
    return read_back(conv, conv.turn_indices("agent", check.window))


def rule_verdict(check: Check, conv: Conversation) -> str | None:
    """v5's (a missing required name fails, a signature that counts passes), then a read-back that counts."""
    verdict = v5_rule(check, conv)
    if verdict is not None:
        return verdict
    return "pass" if found_read_back(check, conv) is not None else None


def evaluate(check: Check, ctx: EvalContext) -> Outcome:
    def shown(found: tuple[int, int, int, int]) -> tuple[Evidence, str]:
        turn, start, end, shared = found
        return (Evidence(turn, "agent", start, end, "a read-back of details already given"),
                f"turn {turn + 1} reads back {shared} details already given for the customer to confirm")

    return also_accepted(v5_verdict(check, ctx), READ_BACK, accepted(check),
                         lambda: read_back(ctx.conv, ctx.conv.turn_indices("agent", check.window)), shown,
                         READ_BACK_CONFIDENCE)


METHOD = register(Method(
    name="semantic", version=6, evaluate=evaluate, default_threshold=DEFAULT_THRESHOLD,
    fields=(*V4.fields,
            FieldSpec("accepts", "choices", help="what also passes the criterion beside what the examples "
                      "say: agent_signature (an agent reply ends with the agent's name or initials, '^JS', "
                      "'-Mia'), read_back (the agent repeats details already given and the customer answers "
                      "yes or no); [] for nothing (a question that counts a signature or asks for a read-back "
                      "accepts one otherwise)", choices=ACCEPTS)),
    help="v5, and a read-back where the criterion asks for one", rule_verdict=rule_verdict,
    rule_teaches=lambda check, conv: v5_rule(check, conv) is None))
