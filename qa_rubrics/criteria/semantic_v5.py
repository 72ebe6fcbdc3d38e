"""`semantic` (v5): v4, and a signature that passes a criterion which counts one as enough.

"Did the agent close with a sign-off, such as a name or initials signature or a friendly goodbye?"
names two ways to pass. v4's classifier judges the goodbye; the signature it cannot: brands' social
accounts end each reply with the agent's initials or first name ("^JS", "-Mia"), and to a sentence
model "^JS" is two letters, not a sign-off (nor does any n-gram carry from "^JS" to "^KM"). v5
keeps everything v4 does (`qa_rubrics.criteria.semantic_v4`) and adds an alternative:

- `accepts: [agent_signature]`: the criterion also passes when an agent reply inside its window ends
  with a signature (`qa_rubrics.introductions.signature`), whatever the classifier says.
- Without `accepts`, a question that counts a signature ("signature", "sign the reply with their
  name or initials", "unterschrieben", "Kürzel", "imzaladı") accepts it; `accepts: []` turns that off.
  "The customer's signature" does not.

A verdict passed by a signature says so in its reason and in `detail.accepts`, with the signature
as its evidence. What v4 requires (the agent's own name) still applies after it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from qa_rubrics.criteria import Evidence, FieldSpec, Method, Outcome, register
from qa_rubrics.criteria.semantic_v2 import DEFAULT_THRESHOLD
from qa_rubrics.criteria.semantic_v4 import METHOD as V4
from qa_rubrics.criteria.semantic_v4 import evaluate as v4_verdict
from qa_rubrics.criteria.semantic_v4 import requirement_met, rule_setting
from qa_rubrics.introductions import ACCEPTS, AGENT_SIGNATURE, asks_for_signature, signature

if TYPE_CHECKING:  # pragma: no cover
    from qa_rubrics.conversation import Conversation
    from qa_rubrics.rubric import Check
    from qa_rubrics.score import EvalContext

T = TypeVar("T")

# How sure a pass by a signature is: the pattern is strict (a dash or caret, then two or three capitals
# or one capitalised word, at the very end of a reply), but a reply can end "... -Apple" too.
SIGNATURE_CONFIDENCE = 0.85


def accepted(check: Check) -> tuple[tuple[str, ...], str]:
    """(what passes the criterion beside its classifier, where that comes from: rubric | question)."""
    return rule_setting(check, "accepts", asks_for_signature, AGENT_SIGNATURE)


def signed(check: Check, conv: Conversation) -> tuple[int, int, int] | None:
    """Where an agent reply inside the check's window ends with a signature (None: nowhere)."""
    if AGENT_SIGNATURE not in accepted(check)[0]:
        return None
    return signature([t.text for t in conv.turns], conv.turn_indices("agent", check.window))


def rule_verdict(check: Check, conv: Conversation) -> str | None:
    """v4's (a conversation without the required name fails), then a signature that counts passes."""
    if not requirement_met(check, conv):
        return "fail"
    return "pass" if signed(check, conv) is not None else None


def evaluate(check: Check, ctx: EvalContext) -> Outcome:
    def shown(found: tuple[int, int, int]) -> tuple[Evidence, str]:
        turn, start, end = found
        return (Evidence(turn, "agent", start, end, "the agent's signature"),
                f"turn {turn + 1} ends with the agent's signature")

    return also_accepted(v4_verdict(check, ctx), AGENT_SIGNATURE, accepted(check),
                         lambda: signed(check, ctx.conv), shown, SIGNATURE_CONFIDENCE)


def also_accepted(out: Outcome, what: str, accepts: tuple[tuple[str, ...], str], find: Callable[[], T | None],
                  shown: Callable[[T], tuple[Evidence, str]], confidence: float) -> Outcome:
    """`out`, passed also by `what` (agent_signature, read_back ...) where the criterion accepts it
    (`accepts`: what it accepts and where that comes from): `find()` looks for it (None: not there), and
    `shown(found)` gives its evidence and what it shows. `detail.accepts` says whether it was found. A
    conversation without the agent's own name where that is required still fails."""
    names, source = accepts
    if what not in names or out.result == "na":
        return out
    found = find()
    out.detail.setdefault("accepts", {"from": source})[what] = found is not None
    if found is None or (out.detail.get("requires") or {}).get("agent_name") is False:
        return out
    evidence, shows = shown(found)
    return passed_also(out, evidence, shows, source, confidence)


def passed_also(out: Outcome, evidence: Evidence, what: str, source: str, confidence: float) -> Outcome:
    """`out` passed by what the criterion also accepts (`what` the evidence shows): a pass the classifier
    gave becomes surer and gains the evidence; a fail becomes a pass that says what the classifier thought."""
    who = "the question" if source == "question" else "the rubric"
    if out.result == "pass":  # the classifier agrees: the rule makes it surer
        if all(e.turn != evidence.turn or e.start != evidence.start for e in out.evidence):
            out.evidence.append(evidence)
            out.evidence.sort(key=lambda e: e.position())
        out.confidence = max(out.confidence, confidence)
        out.reason += f"; {what}, which {who} counts as enough"
        return out
    return Outcome("pass", max(out.score, confidence), confidence, [evidence], detail=out.detail, raw=out.raw,
                   reason=f"{what}, which {who} counts as enough (besides: {out.reason})")


METHOD = register(Method(
    name="semantic", version=5, evaluate=evaluate, default_threshold=DEFAULT_THRESHOLD,
    fields=(*V4.fields,
            FieldSpec("accepts", "choices", help="what also passes the criterion beside what the examples "
                      "say: agent_signature (an agent reply ends with the agent's name or initials, '^JS', "
                      "'-Mia'); [] for nothing (a question that counts a signature accepts one otherwise)",
                      choices=ACCEPTS)),
    help="v4, and a signature where the criterion counts one as enough", rule_verdict=rule_verdict))
