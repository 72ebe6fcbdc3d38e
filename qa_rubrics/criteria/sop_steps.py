"""`sop_steps`: the agent followed the numbered procedure of the SOP that applies to the call.

The SOP is the one named by `sop:`, or else the best SOP found by searching the knowledge base
with each of the customer's first two substantive turns (numbers, e-mails and quotes removed);
the SOP with the highest cosine similarity to one of them must reach `qa_sop_min_similarity`,
otherwise the criterion is N/A ("no procedure identified"); a searched SOP of which the agent said
no step at all is N/A too (the call was more likely about something else), never a fail. SOPs within 0.05 of the best
are candidates too (a customer's words often fit two procedures); the one whose steps the
agent's words follow best is taken.

Each numbered step of the SOP's procedure (`kb.structure.procedure_steps`) is looked for in the
agent's sentences: the cosine similarity of the step (its main sentence, each sub-step and
each quoted "Say: ..." line) to the sentence, plus a bonus for the step's content words that
the sentence uses. The score is the fraction of steps evidenced; the criterion passes at
`min_fraction`. Steps that only happen in internal tools ("Add a note", "Tag the ticket") cannot
be heard in a conversation and are left out of the fraction. The result names the SOP, its
version and each step found or missing.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np

from kb.text import content_terms, stem
from qa_rubrics.criteria import Evidence, FieldSpec, Method, Outcome, register

if TYPE_CHECKING:  # pragma: no cover
    from qa_rubrics.rubric import Check
    from qa_rubrics.score import EvalContext

KEYWORD_WEIGHT = 0.2
TIE_MARGIN = 0.05  # SOPs this close to the best match are candidates too
MAX_CANDIDATES = 3
SEARCH_TURNS = 2  # the customer's first substantive turns say what the call is about
_BACK_OFFICE = re.compile(r"^\W*(?:add|write|leave|make)\s+(?:a\s+|an\s+)?(?:internal\s+)?(?:note|notes)\b"
                          r"|^\W*(?:note|tag|log|record)\s+(?:the|what|that|it|a|an|your|in|on|with|any|how)\b", re.I)
_GENERIC = frozenset("""customer agent step check confirm make sure ask tell give open click follow go use see
sop procedure team case contact order""".split())


def _plain(text: str) -> str:
    text = re.sub(r"[*_`]+", "", text)
    return re.sub(r"\s+", " ", text).strip()


def step_parts(text: str, sub_steps: list[str]) -> list[str]:
    """The pieces of a step that an agent might say: its first sentences, sub-steps, quoted lines."""
    text = _plain(text)
    parts = []
    for quoted in re.findall(r"[\"“]([^\"”]{12,})[\"”]", text):
        parts.append(quoted)
    first = re.split(r"(?<=[.!?])\s+", text)
    parts.extend(s for s in first[:3] if len(s.split()) >= 3)
    parts.extend(_plain(s) for s in sub_steps if len(s.split()) >= 3)
    return list(dict.fromkeys(parts)) or [text]


def observable(text: str) -> bool:
    return not _BACK_OFFICE.search(_plain(text))


def _candidates(check: Check, ctx: EvalContext) -> tuple[list[tuple[str, float]], dict, str | None]:
    """([(SOP id, similarity)], info, problem): the SOPs that may apply to the call."""
    scorer = ctx.scorer
    sop_id = check.params.get("sop")
    if sop_id:
        if not scorer.store.has_document(sop_id):
            return [], {}, f"SOP '{sop_id}' is not in the knowledge base"
        return [(sop_id, 1.0)], {"found_by": "rubric"}, None
    conv = ctx.conv
    cust = [i for i, t in enumerate(conv.turns) if t.speaker == "customer" and len(t.text.split()) >= 5]
    queries = [q for q in (search_text(conv.turns[i].text) for i in cust[:SEARCH_TURNS]) if len(q.split()) >= 3]
    if not queries:
        return [], {}, "no customer turns to find the SOP from"
    ranked = scorer.find_sops(queries)
    if not ranked:
        return [], {}, "no SOP found for what the customer asked"
    min_sim = scorer.cosine_setting("qa_sop_min_similarity")
    best_id, best_sim = ranked[0]
    info = {"found_by": "search", "search_similarity": round(best_sim, 4)}
    if best_sim < min_sim:
        return [], {**info, "best_sop": best_id}, (f"no SOP clearly applies (best: {best_id}, similarity "
                                                   f"{best_sim:.2f} < {min_sim:.2f})")
    close = [(d, sim) for d, sim in ranked if sim >= min_sim and sim >= best_sim - TIE_MARGIN][:MAX_CANDIDATES]
    return close, info, None


def search_text(text: str) -> str:
    """A customer's turn as a search query: no quotes (they would mean exact phrases), numbers, e-mails."""
    from qa_rubrics.conversation import clean_text

    t = clean_text(text).replace('"', " ").replace("“", " ").replace("”", " ")
    t = re.sub(r"\b[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}\b", " ", t)  # UK postcodes
    t = re.sub(r"\S*\d\S*", " ", t)
    return re.sub(r"\s+", " ", t).strip()


def _match(doc, check: Check, ctx: EvalContext) -> dict:
    """Each step of `doc` looked for in the agent's sentences."""
    scorer = ctx.scorer
    steps, step_vecs, terms_per_step = scorer.sop_steps(doc)
    counted = [i for i, st in enumerate(steps) if observable(st.text)]
    conv = ctx.conv
    units = conv.unit_indices(conv.turn_indices(check.speaker, check.window))
    threshold = check.threshold if check.threshold is not None else scorer.default_threshold(check)
    V = conv.vectors(scorer.embedder, units) if units else None
    unit_stems = [{stem(w) for w in content_terms(conv.units[u].text)} for u in units]
    rows, evidence = [], []
    for i, step in enumerate(steps):
        row = {"number": step.number, "text": _plain(step.text)[:200], "counted": i in counted, "found": False}
        if V is not None:
            sims = (V @ step_vecs[i].T).max(axis=1)
            terms = terms_per_step[i]
            overlap = np.array([len(terms & us) / len(terms) if terms else 0.0 for us in unit_stems])
            total = sims + KEYWORD_WEIGHT * overlap
            k = int(total.argmax())
            row["similarity"] = round(float(total[k]), 4)
            if total[k] >= threshold:
                u = conv.units[units[k]]
                row.update(found=True, turn=u.turn)
                if i in counted:
                    evidence.append(Evidence(u.turn, conv.turns[u.turn].speaker, u.start, u.end,
                                             f"step {step.number}: {_plain(step.text)[:120]}",
                                             similarity=float(total[k])))
        rows.append(row)
    found = sum(1 for r in rows if r["counted"] and r["found"])
    return {"doc": doc, "steps": rows, "evidence": evidence, "found": found, "counted": len(counted),
            "fraction": found / len(counted) if counted else 0.0}


def evaluate(check: Check, ctx: EvalContext) -> Outcome:
    scorer = ctx.scorer
    if scorer.store is None:
        return Outcome("na", 0.0, 1.0, reason="no knowledge base to read SOPs from (give --db)")
    candidates, info, problem = _candidates(check, ctx)
    if not candidates:
        return Outcome("na", 0.0, 0.6 if info.get("found_by") == "search" else 1.0,
                       reason=f"no procedure identified: {problem}" if info.get("found_by") == "search" else problem,
                       detail=info)
    # Several SOPs may fit what the customer said about equally well: the one the agent's
    # words follow best is the one that applies.
    matches = []
    for doc_id, sim in candidates:
        m = _match(scorer.store.get_document(doc_id), check, ctx)
        if m["counted"]:
            matches.append((m["fraction"], sim, m))
    if not matches:
        return Outcome("na", 0.0, 1.0, reason=f"{candidates[0][0]} has no numbered procedure steps that can be heard "
                                              "in a call", detail=info)
    fraction, sim, m = max(matches, key=lambda x: (x[0], x[1]))
    doc = m["doc"]
    if info.get("found_by") == "search" and m["found"] == 0:
        # the customer's words pointed at this SOP, but the agent said nothing of any of its steps:
        # more likely another matter than a procedure ignored from start to end
        return Outcome("na", 0.0, 0.6, reason=f"no procedure identified: the closest SOP is {doc.id}, but none of "
                                               "its steps was heard", detail={**info, "closest_sop": doc.id})
    min_fraction = float(check.params.get("min_fraction", 0.6))
    detail = {"sop": doc.id, "sop_version": doc.version, "title": doc.title, **info,
              "steps": m["steps"], "found": m["found"], "counted": m["counted"], "fraction": round(fraction, 4),
              "min_fraction": min_fraction}
    if info.get("found_by") == "search":
        detail["search_similarity"] = round(sim, 4)
        if len(candidates) > 1:
            detail["candidates"] = [{"sop": d, "similarity": round(s, 4)} for d, s in candidates]
    conf = 0.5 + 0.5 * min(1.0, abs(fraction - min_fraction) / 0.3)
    if info.get("found_by") == "search":  # less sure when the SOP itself was a guess
        span = scorer.packaged_value("qa_sop_confidence_span")  # the model's own scale (kb.scales)
        conf = min(conf, 0.5 + 0.5 * min(1.0, 0.2 + (sim - scorer.cosine_setting("qa_sop_min_similarity")) / span))
    evidence = sorted(m["evidence"], key=lambda e: e.position())
    verdict = "pass" if fraction >= min_fraction else "fail"
    return Outcome(verdict, fraction, conf, evidence, detail=detail, raw=fraction,
                   reason=f"{m['found']} of {m['counted']} steps of {doc.id} v{doc.version} evidenced "
                          f"({fraction:.0%}; pass at {min_fraction:.0%})")


def step_terms(text: str) -> set[str]:
    return {stem(w) for w in content_terms(_plain(text)) if w not in _GENERIC and len(w) > 2}


METHOD = register(Method(
    name="sop_steps", version=1, evaluate=evaluate, default_threshold=0.5,
    fields=(FieldSpec("sop", "sop", help="the id of the SOP; without it, found from the customer's turns"),
            FieldSpec("min_fraction", "ratio", help="fraction of steps that must be evidenced (default 0.6)")),
    help="the steps of the SOP that applies were followed"))
