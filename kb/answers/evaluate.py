"""Evaluating suggested answers: answered-correctly, wrong-answer and abstention rates, threshold sweeps,
and the reliability table (confidence bucket against observed accuracy).

Answers are judged as agents get them: from the SOPs of the statuses asked for (published by
default). A question whose relevant SOPs are all drafts or archived has no answer an agent can be
given: it counts as unanswerable (abstaining is right), and `relabelled` says how many there were.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from kb.answers.model import Answer
from kb.models import AGENT_STATUSES
from kb.text import normalize_ws

RELIABILITY_BUCKETS = (0.0, 0.2, 0.4, 0.55, 0.7, 0.8, 0.9, 1.0001)


def outcome_rates(rows: list[tuple[dict, bool, str | None]]) -> dict[str, Any]:
    """Rates from (query row, abstained, first citation id) triples."""
    ans = [r for r in rows if r[0]["relevant"]]
    una = [r for r in rows if not r[0]["relevant"]]

    def rate(n: int, d: int) -> float:
        return round(n / d, 4) if d else 0.0

    return {
        "answered_correctly": rate(sum(1 for q, a, c in ans if not a and c in q["relevant"]), len(ans)),
        "wrong_answer": rate(sum(1 for q, a, c in ans if not a and c not in q["relevant"]), len(ans)),
        "abstained_answerable": rate(sum(1 for _, a, _ in ans if a), len(ans)),
        "correct_abstention": rate(sum(1 for _, a, _ in una if a), len(una)),
        "n_answerable": len(ans),
        "n_unanswerable": len(una),
    }


def visible_relevant(store, queries: list[dict], statuses: Sequence[str] = AGENT_STATUSES) -> tuple[list[dict], int]:
    """The queries with `relevant` cut to documents an agent is given (SOPs of `statuses`, every
    ticket), and how many answerable queries became unanswerable that way."""
    if not statuses:
        return queries, 0
    wanted = set(statuses) | ({""} if "published" in statuses else set())
    seen: dict[str, bool] = {}

    def visible(doc_id: str) -> bool:
        if doc_id not in seen:
            try:
                d = store.get_document(doc_id)
            except Exception:  # noqa: BLE001 - a labelled id that is not in this knowledge base
                seen[doc_id] = False
            else:
                seen[doc_id] = d.type != "sop" or (d.status or "").lower() in wanted
        return seen[doc_id]

    out, n = [], 0
    for q in queries:
        rel = [d for d in q["relevant"] if visible(d)]
        if q["relevant"] and not rel:
            n += 1
        out.append({**q, "relevant": rel, "labelled": list(q["relevant"])})
    return out, n


def evaluate_answers(answerer, queries: list[dict], statuses: Sequence[str] | None = AGENT_STATUSES
                     ) -> tuple[dict[str, Any], list[tuple[dict, Answer]]]:
    """The `deskbook eval answers` figures, and each query's answer (for threshold sweeps)."""
    from kb.errors import InputError

    if not queries:
        raise InputError("The query set is empty")
    statuses = tuple(statuses or ())
    queries, relabelled = visible_relevant(answerer.store, queries, statuses)
    answerer.answer(queries[0]["query"], statuses=statuses)  # warm the model, the index and the sentence cache
    results, lat = [], []
    for q in queries:
        a = answerer.answer(q["query"], statuses=statuses)
        lat.append(a.latency_ms)
        results.append((q, a))
    rows = [(q, a.abstained, a.citations[0].id if a.citations else None) for q, a in results]
    out = outcome_rates(rows)
    out["latency_ms"] = round(statistics.fmean(lat), 2)
    out["relabelled"] = relabelled
    return out, results


def threshold_sweep(results: list[tuple[dict, Answer]], thresholds: list[float]) -> list[dict[str, Any]]:
    """The evaluation rates had the threshold been each of `thresholds` (the main source does not change)."""
    table = []
    for t in thresholds:
        rows = [(q, a.confidence < t or not a.evidence.get("main"), a.evidence.get("main")) for q, a in results]
        table.append({"threshold": t, **outcome_rates(rows)})
    return table


def reliability(results: list[tuple[dict, Answer]], buckets: Sequence[float] = RELIABILITY_BUCKETS
                ) -> list[dict[str, Any]]:
    """Confidence bucket against observed accuracy: in each bucket, how often the main source was a
    relevant one (a question with none relevant is never right). Calibrated: the two columns agree."""
    table = []
    for lo, hi in zip(buckets, buckets[1:], strict=False):
        inside = [(q, a) for q, a in results if lo <= a.confidence < hi]
        right = sum(1 for q, a in inside if a.evidence.get("main") in q["relevant"])
        table.append({"low": lo, "high": min(hi, 1.0), "n": len(inside),
                      "mean_confidence": round(statistics.fmean(a.confidence for _, a in inside), 3) if inside
                      else None, "accuracy": round(right / len(inside), 3) if inside else None})
    return table


def normalized(text: str) -> str:
    """Whitespace-normalised text: how answer sentences are compared with their sources."""
    return normalize_ws(text)
