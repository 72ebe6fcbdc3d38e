"""`llm`: a local language model grades the criterion, and must quote the transcript to prove it.

For teams that run an OpenAI-compatible chat-completions server (Ollama, vLLM, llama.cpp, a
hosted API): the criterion's question, its examples and the transcript (redacted: numbered turns,
the speaker of each) go to the server configured by `llm_base_url`, `llm_model`, `llm_api_key` and
`llm_timeout` (the settings the answer engine uses). The reply must be JSON with a verdict and,
for a pass, a verbatim quote of the turn that shows it:

    {"verdict": "pass", "turn": 3, "quote": "is there anything else I can help with?", "reason": "..."}

The quote is looked up in the transcript (case and spacing ignored); it becomes the evidence. A
reply that is not that JSON, a quote that is not in the transcript (or not said by the criterion's
speaker), an error or a timeout falls back to the `semantic` method over the criterion's examples,
and the verdict's reason says so. Nothing is sent anywhere unless a rubric uses `method: llm` and
a server is configured: without one, the criterion is scored by the semantic method.

Confidence: an LLM's own certainty is not calibrated, so the verdict's confidence comes from
whether the semantic method agrees (high) or not (in the needs-review band).
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from qa_rubrics.criteria import Evidence, FieldSpec, Method, Outcome, register

if TYPE_CHECKING:  # pragma: no cover
    from qa_rubrics.rubric import Check
    from qa_rubrics.score import EvalContext

AGREE_CONFIDENCE = 0.9
DISAGREE_CONFIDENCE = 0.6  # inside the needs-review band
MAX_TURN_CHARS = 2000  # a very long turn is cut before it goes to the model
SYSTEM_PROMPT = (
    "You are a quality-assurance grader in a customer-service contact centre. You read one conversation "
    "between an agent and a customer and answer one question about it. Judge only by what was said. "
    "Answer with one JSON object and nothing else: "
    '{"verdict": "pass" or "fail" or "na", "turn": the number of the turn that shows it, '
    '"quote": the exact words copied from that turn, "reason": one short sentence}. '
    'Use "pass" when the conversation shows what the question asks, "fail" when it does not, "na" when the '
    "question does not apply to this conversation. For a pass, the quote must be copied word for word from the "
    "transcript. For a fail or na, the quote may be empty."
)
_JSON = re.compile(r"\{.*\}", re.S)


def _norm(text: str) -> tuple[str, list[int]]:
    """Lower-cased text with runs of whitespace and quote styles made uniform, and for each character
    of it the offset in the original."""
    out, pos = [], []
    prev_space = True
    for i, ch in enumerate(text):
        if ch.isspace():
            if not prev_space:
                out.append(" ")
                pos.append(i)
            prev_space = True
            continue
        ch = {"’": "'", "‘": "'", "“": '"', "”": '"'}.get(ch, ch)
        out.append(ch.lower())
        pos.append(i)
        prev_space = False
    while out and out[-1] == " ":
        out.pop()
        pos.pop()
    return "".join(out), pos


def find_quote(quote: str, texts: list[str], turns: list[int]) -> tuple[int, int, int] | None:
    """(turn, start, end) of `quote` in the first of `turns` whose text holds it, else None."""
    full, _ = _norm(quote.strip().strip('"').strip())
    bare = full.rstrip(" .!?,;:…")  # models often drop or add the final punctuation
    if len(bare) < 2:
        return None
    for q in dict.fromkeys((full, bare)):
        for t in turns:
            norm, pos = _norm(texts[t])
            k = norm.find(q)
            if k >= 0:
                return t, pos[k], pos[k + len(q) - 1] + 1
    return None


def to_original(conv, turn: int, start: int, end: int) -> tuple[int, int]:
    """Map a span of the redacted turn text back onto the original text."""
    items = conv.maps[turn].items
    shift_before = 0
    a = b = None
    for r in items:
        new_start = r.start + shift_before
        new_end = new_start + len(r.placeholder)
        if a is None and start < new_end:
            a = r.start if start >= new_start else start - shift_before
        if end <= new_end:
            b = r.end if end > new_start else end - shift_before
            break
        shift_before += len(r.placeholder) - (r.end - r.start)
    if a is None:
        a = start - shift_before
    if b is None:
        b = end - shift_before
    return a, max(a, b)


def build_messages(check: Check, conv) -> list[dict[str, str]]:
    lines = []
    for i, (turn, text) in enumerate(zip(conv.turns, conv.redacted, strict=True), 1):
        text = text if len(text) <= MAX_TURN_CHARS else text[:MAX_TURN_CHARS] + " [...]"
        lines.append(f"[{i}] {turn.speaker}: {text}")
    examples = check.params.get("examples") or []
    who = {"agent": "the agent", "customer": "the customer"}.get(check.speaker, "either speaker")
    parts = [f"Question: {check.question or 'Does the conversation show what the examples show?'}",
             f"Look at what {who} said."]
    if check.window is not None and (check.window.first_turns or check.window.last_turns):
        n = check.window.first_turns or check.window.last_turns
        parts.append(f"Only {who}'s {'first' if check.window.first_turns else 'last'} {n} turns count.")
    if examples:
        parts.append("Examples of what counts as a pass: " + " | ".join(examples))
    counters = check.params.get("counter_examples") or []
    if counters:
        parts.append("Examples of what does NOT count: " + " | ".join(counters))
    user = "\n".join(parts) + "\n\nTranscript:\n" + "\n".join(lines) + "\n\nYour JSON answer:"
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


def parse_reply(reply: str) -> dict[str, Any]:
    """The JSON object in the model's reply; ValueError when there is none or it lacks a verdict."""
    m = _JSON.search(reply or "")
    if not m:
        raise ValueError("the reply holds no JSON object")
    data = json.loads(m.group(0))
    if not isinstance(data, dict):
        raise ValueError("the reply is not a JSON object")
    verdict = str(data.get("verdict", "")).strip().lower()
    verdict = {"yes": "pass", "no": "fail", "n/a": "na"}.get(verdict, verdict)
    if verdict not in ("pass", "fail", "na"):
        raise ValueError(f"the reply's verdict {data.get('verdict')!r} is not pass, fail or na")
    data["verdict"] = verdict
    return data


def _semantic(check: Check):
    """The semantic method behind an `llm` check: v1 (cosine) for llm.v1, as it was; the classifier
    (semantic.v3) from llm.v2 on."""
    if check.spec().version >= 2:
        from qa_rubrics.criteria.semantic_v2 import evaluate
    else:
        from qa_rubrics.criteria.semantic import evaluate
    return evaluate


def _fallback(check: Check, ctx: EvalContext, why: str) -> Outcome:
    o = _semantic(check)(check, ctx)
    o.reason = f"LLM judge not used ({why}); semantic method: {o.reason}"
    o.detail = {**o.detail, "llm_fallback": why}
    return o


def evaluate(check: Check, ctx: EvalContext) -> Outcome:
    from kb.errors import DeskbookError

    scorer = ctx.scorer
    client = scorer.llm_client()
    if client is None:
        return _fallback(check, ctx, "no LLM server configured (llm_base_url, llm_model)")
    conv = ctx.conv
    try:
        reply = client.complete(build_messages(check, conv), max_tokens=300, temperature=0.0)
    except DeskbookError as exc:
        return _fallback(check, ctx, f"LLM error: {exc.message}")
    try:
        data = parse_reply(reply)
    except (ValueError, json.JSONDecodeError) as exc:
        return _fallback(check, ctx, f"unusable LLM reply: {exc}")
    verdict = data["verdict"]
    quote = str(data.get("quote") or "").strip()
    model_reason = str(data.get("reason") or "").strip()[:300]
    allowed = conv.turn_indices(check.speaker, check.window)
    evidence: list[Evidence] = []
    if quote:
        hit = find_quote(quote, conv.redacted, allowed)
        if hit is None:
            return _fallback(check, ctx, f"the LLM's quote is not in what the {check.speaker} said: {quote[:80]!r}")
        turn, a, b = hit
        oa, ob = to_original(conv, turn, a, b)
        evidence.append(Evidence(turn, conv.turns[turn].speaker, oa, ob, "quoted by the LLM judge"))
    elif verdict == "pass":
        return _fallback(check, ctx, "the LLM gave a pass without a quote")
    # the semantic method is the second opinion that sets the confidence
    second = _semantic(check)(check, ctx)
    agree = (second.result == verdict) or (verdict == "na")
    conf = AGREE_CONFIDENCE if agree else DISAGREE_CONFIDENCE
    score = conf if verdict == "pass" else 1.0 - conf
    reason = f"LLM judge ({client.model}): {verdict}" + (f" ({model_reason})" if model_reason else "")
    if not agree:
        reason += f"; the semantic method says {second.result}"
    return Outcome(verdict, score, conf, evidence, reason=reason,
                   detail={"llm_model": client.model, "semantic": second.result,
                           **({"llm_reason": model_reason} if model_reason else {})},
                   raw=second.raw)


FIELDS = (FieldSpec("examples", "str_list", required=True,
                    help="phrases that satisfy the criterion (shown to the model; the semantic fallback uses them)"),
          FieldSpec("counter_examples", "str_list", help="phrases that look similar but must not count"))
METHOD_V1 = register(Method(
    name="llm", version=1, evaluate=evaluate, fields=FIELDS,
    help="an OpenAI-compatible LLM answers the question and quotes the transcript (fallback: semantic.v1)"))
METHOD = register(Method(
    name="llm", version=2, evaluate=evaluate, fields=FIELDS,
    help="an OpenAI-compatible LLM answers the question and quotes the transcript (fallback: the semantic "
         "classifier, semantic.v3)"))
