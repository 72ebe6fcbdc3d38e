"""`regex`: passes when `pattern` matches in a turn of `speaker` (inside the window).

`flags` takes letters from "imsx"; the default is "i" (case-insensitive), as conversation text
has no reliable case. Inline flags such as `(?i)` work too. Patterns that can backtrack for ever are
refused when the rubric is loaded (`kb.saferegex`), and every search runs with a time limit: a
pattern that still takes too long on a turn makes the criterion N/A with the reason, instead of
hanging the scoring (and the web app's job thread).
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from kb.saferegex import PatternTimeout, compile_limited, finditer_limited
from qa_rubrics.criteria import Evidence, FieldSpec, Method, Outcome, register

if TYPE_CHECKING:  # pragma: no cover
    from qa_rubrics.rubric import Check
    from qa_rubrics.score import EvalContext

MAX_EVIDENCE = 5
TIMEOUT = 1.0  # seconds per turn


@lru_cache(maxsize=512)
def _compiled(pattern: str, flags: str):
    return compile_limited(pattern, flags)


def evaluate(check: Check, ctx: EvalContext) -> Outcome:
    rx = _compiled(check.params["pattern"], check.params.get("flags", "i"))
    conv = ctx.conv
    found: list[Evidence] = []
    for t in conv.turn_indices(check.speaker, check.window):
        try:
            matches = finditer_limited(rx, conv.turns[t].text, TIMEOUT)
        except PatternTimeout as exc:
            return Outcome("na", 0.0, 0.5, reason=f"not scored: {exc}; simplify the pattern")
        for m in matches:
            if m.end() > m.start():
                found.append(Evidence(t, conv.turns[t].speaker, m.start(), m.end(), m.group(), matched_is_text=True))
    if not found:
        return Outcome("fail", 0.0, 1.0, reason="the pattern did not match")
    return Outcome("pass", 1.0, 1.0, found[:MAX_EVIDENCE])


METHOD = register(Method(
    name="regex", version=1, evaluate=evaluate,
    fields=(FieldSpec("pattern", "regex", required=True, help="a regular expression"),
            FieldSpec("flags", "flags", help="letters from imsx; default i")),
    help="a regular expression matches"))
