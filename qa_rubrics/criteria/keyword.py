"""`keyword`: passes when a turn of `speaker` (inside the window) contains one of `keywords`.

Whole words, case-insensitive and lemma-aware: `refund` also finds "refunds" and "refunded",
`hold` finds "holding"; a keyword of several words ("money back") must appear as a sequence.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qa_rubrics.criteria import Evidence, FieldSpec, Method, Outcome, register

if TYPE_CHECKING:  # pragma: no cover
    from qa_rubrics.rubric import Check
    from qa_rubrics.score import EvalContext

MAX_EVIDENCE = 5


def _token_matches(tok, kw_lower: str, kw_lemma: str) -> bool:
    if tok.lower == kw_lower or tok.lemma == kw_lower:
        return True
    # the keyword's own lemma ("frustrated" -> "frustrate") counts when it is a form of the same word
    # ("ya" -> "you" does not: the lemmatizer maps slang to a different word)
    return bool(kw_lemma) and tok.lemma == kw_lemma and kw_lemma[:3] == kw_lower[:3]


def find_keywords(check: Check, ctx: EvalContext) -> list[Evidence]:
    conv = ctx.conv
    phrases = [(kw, ctx.scorer.keyword_tokens(kw)) for kw in check.params["keywords"]]
    found: list[Evidence] = []
    for t in conv.turn_indices(check.speaker, check.window):
        toks = conv.tokens[t]
        for kw, kw_toks in phrases:
            n = len(kw_toks)
            if not n:
                continue
            for i in range(len(toks) - n + 1):
                if all(_token_matches(toks[i + j], kl, ll) for j, (kl, ll) in enumerate(kw_toks)):
                    found.append(Evidence(t, conv.turns[t].speaker, toks[i].start, toks[i + n - 1].end, kw))
    found.sort(key=lambda e: (e.turn, e.start))
    return found


def evaluate(check: Check, ctx: EvalContext) -> Outcome:
    found = find_keywords(check, ctx)
    if not found:
        return Outcome("fail", 0.0, 1.0, reason="none of the keywords was said")
    return Outcome("pass", 1.0, 1.0, found[:MAX_EVIDENCE])


METHOD = register(Method(
    name="keyword", version=1, evaluate=evaluate,
    fields=(FieldSpec("keywords", "str_list", required=True, help="a list of words or phrases"),),
    help="a keyword (whole word, any case, any inflection) is said"))
