"""`timing`: response time and silences, from turn times (N/A when the transcript has none).

- `max_first_response_s`: the first `speaker` turn (default: the agent) starts at most this many
  seconds after the other party's first turn (0 when the agent spoke first);
- `max_silence_s`: no gap between the end of a turn (its start when it has no end) and the start
  of the next is longer than this. With `speaker: agent`, only gaps before agent turns count
  (the customer waiting); with `any`, all gaps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qa_rubrics.criteria import Evidence, FieldSpec, Method, Outcome, register

if TYPE_CHECKING:  # pragma: no cover
    from qa_rubrics.rubric import Check
    from qa_rubrics.score import EvalContext


def evaluate(check: Check, ctx: EvalContext) -> Outcome:
    conv = ctx.conv
    turns = conv.turns
    max_first = check.params.get("max_first_response_s")
    max_gap = check.params.get("max_silence_s")
    if not turns or any(t.start is None for t in turns):
        return Outcome("na", 0.0, 1.0, reason="the transcript has no turn times")
    problems: list[Evidence] = []
    detail: dict = {}
    if max_first is not None:
        who = check.speaker if check.speaker != "any" else "agent"
        mine = [i for i, t in enumerate(turns) if t.speaker == who]
        other = [i for i, t in enumerate(turns) if t.speaker != who]
        if not mine:
            return Outcome("fail", 0.0, 1.0, reason=f"the {who} never replied")
        first_mine = mine[0]
        first_other = other[0] if other else None
        wait = 0.0 if first_other is None or first_mine < first_other else \
            turns[first_mine].start - turns[first_other].start
        detail["first_response_s"] = round(wait, 1)
        if wait > max_first:
            problems.append(Evidence(first_mine, turns[first_mine].speaker, 0, len(turns[first_mine].text),
                                     f"first response after {wait:.0f} s (max {max_first:g} s)"))
    if max_gap is not None:
        longest = 0.0
        for i in range(1, len(turns)):
            if check.speaker in ("agent", "customer") and turns[i].speaker != check.speaker:
                continue
            prev = turns[i - 1]
            gap = turns[i].start - (prev.end if prev.end is not None else prev.start)
            longest = max(longest, gap)
            if gap > max_gap:
                problems.append(Evidence(i, turns[i].speaker, 0, len(turns[i].text),
                                         f"silence of {gap:.0f} s before this turn (max {max_gap:g} s)"))
        detail["longest_silence_s"] = round(longest, 1)
    if problems:
        return Outcome("fail", 0.0, 1.0, problems, reason="; ".join(p.matched for p in problems[:3]), detail=detail)
    return Outcome("pass", 1.0, 1.0, [], reason="within the limits", detail=detail)


METHOD = register(Method(
    name="timing", version=1, evaluate=evaluate,
    fields=(FieldSpec("max_first_response_s", "positive", help="seconds"),
            FieldSpec("max_silence_s", "positive", help="seconds")),
    one_of=("max_first_response_s", "max_silence_s"),
    help="first response and silences within limits (needs turn times)"))
