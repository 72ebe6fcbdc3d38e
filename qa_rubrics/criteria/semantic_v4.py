"""`semantic` (v4): v3's classifier, and the agent's own name where the criterion asks for it.

"Did the agent open with a welcome and give their own name?" has two parts. v3's classifier judges
the first well and cannot judge the second: "Hello, customer services." and "Hello, customer
services, Sam speaking." are nearly the same sentence to a sentence model, and graders fail the
first. v4 keeps everything v3 does (`qa_rubrics.criteria.semantic_v2`) and adds a requirement:

- `requires: [agent_name]`: the criterion passes only when the agent, inside the criterion's window,
  also gives their own name (`qa_rubrics.introductions.self_introduction`: the transcript's agent
  name, or a name introduced as one's own: "my name is", "Sam speaking", "am Apparat ist", "ben Elif").
- Without `requires`, a question that asks for it ("... and give their own name?", "introduce
  themselves", "den eigenen Namen genannt", "kendi adını söyledi mi") requires it; `requires: []`
  turns that off.

A verdict failed for a missing name says so in its reason and in `detail.requires`; when the turns
hold a name the cues did not place (it may be the agent's), the verdict is marked for review.

Measured (docs/qa.md): the sample phone calls' and chats' greeting criteria, kappa 0.00 with v3 (it
passed every greeting without a name), chosen on the dev calls and confirmed on the test calls.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from qa_rubrics.criteria import Evidence, FieldSpec, Method, Outcome, register
from qa_rubrics.criteria.semantic_v2 import DEFAULT_THRESHOLD
from qa_rubrics.criteria.semantic_v2 import evaluate as classifier_verdict
from qa_rubrics.criteria.semantic_v3 import METHOD as V3
from qa_rubrics.introductions import (
    AGENT_NAME,
    REQUIREMENTS,
    any_name,
    asks_for_agent_name,
    self_introduction,
)

if TYPE_CHECKING:  # pragma: no cover
    from qa_rubrics.conversation import Conversation
    from qa_rubrics.rubric import Check
    from qa_rubrics.score import EvalContext

# How sure a fail for a missing name is: no name at all in the agent's turns of the window, or a
# name the introduction cues did not place (it may be the agent's: "Brightcart, Kevin, hello").
NO_NAME_CONFIDENCE = 0.85
UNPLACED_NAME_CONFIDENCE = 0.6


def rule_setting(check: Check, field: str, asks: Callable[[str], bool], value: str) -> tuple[tuple[str, ...], str]:
    """(the values of a rule beside the classifier, where they come from: rubric | question): the rubric's
    `field` when it has one (`[]` turns the rule off), else `value` when the question `asks` for it."""
    if field in check.params:
        return tuple(check.params[field]), "rubric"
    if check.speaker == "agent" and asks(check.question):
        return (value,), "question"
    return (), ""


def requirements(check: Check) -> tuple[tuple[str, ...], str]:
    """(what the criterion requires beside its classifier, where that comes from: rubric | question)."""
    return rule_setting(check, "requires", asks_for_agent_name, AGENT_NAME)


def introduction(check: Check, conv: Conversation) -> tuple[int, int, int] | None:
    """Where the agent gives their own name inside the check's window (None: nowhere)."""
    turns = conv.turn_indices("agent", check.window)
    return self_introduction([t.text for t in conv.turns], conv.names, turns, conv.transcript.agent)


def requirement_met(check: Check, conv: Conversation) -> bool:
    """Whether the conversation meets what the check requires beside its classifier (learning: a
    conversation that does not is failed by the requirement, whatever its sentences say)."""
    reqs, _ = requirements(check)
    return AGENT_NAME not in reqs or introduction(check, conv) is not None


def evaluate(check: Check, ctx: EvalContext) -> Outcome:
    out = classifier_verdict(check, ctx)
    reqs, source = requirements(check)
    if AGENT_NAME not in reqs or out.result == "na":
        return out
    conv = ctx.conv
    found = introduction(check, conv)
    out.detail["requires"] = {AGENT_NAME: found is not None, "from": source}
    if found is not None:
        turn, start, end = found
        if out.result == "pass" and all(e.turn != turn for e in out.evidence):
            out.evidence.append(Evidence(turn, "agent", start, end, "the agent's own name"))
            out.evidence.sort(key=lambda e: e.position())
        return out
    where = "in its window" if check.window else "anywhere"
    if out.result != "pass":
        out.reason += f"; the agent did not give their own name {where} either"
        return out
    turns = conv.turn_indices("agent", check.window)
    unplaced = any_name(conv.names, turns)
    confidence = UNPLACED_NAME_CONFIDENCE if unplaced else NO_NAME_CONFIDENCE
    return Outcome("fail", min(out.score, 1.0 - confidence), confidence, [], detail=out.detail, raw=out.raw,
                   reason=f"{out.reason}, but the agent did not give their own name {where}"
                          + (" (a name is mentioned: check whose it is)" if unplaced else "")
                          + ("; the question asks for it" if source == "question" else "; the rubric requires it"))


METHOD = register(Method(
    name="semantic", version=4, evaluate=evaluate, default_threshold=DEFAULT_THRESHOLD,
    fields=(*V3.fields,
            FieldSpec("requires", "choices", help="what must also be said beside what the examples say: "
                      "agent_name (the agent gives their own name); [] for nothing (a question that asks "
                      "for the agent's own name requires it otherwise)", choices=REQUIREMENTS)),
    help="v3's classifier, and the agent's own name where the criterion asks for it",
    rule_verdict=lambda check, conv: None if requirement_met(check, conv) else "fail"))
