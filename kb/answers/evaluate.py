"""Evaluating suggested answers: answered-correctly, wrong-answer and abstention rates, threshold sweeps."""

from __future__ import annotations

import statistics
from typing import Any

from kb.answers.model import Answer
from kb.text import normalize_ws


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


def evaluate_answers(answerer, queries: list[dict]) -> tuple[dict[str, Any], list[tuple[dict, Answer]]]:
    """The `deskbook eval answers` figures, and each query's answer (for threshold sweeps)."""
    from kb.errors import InputError

    if not queries:
        raise InputError("The query set is empty")
    answerer.answer(queries[0]["query"])  # warm the model, the index and the sentence cache
    results, lat = [], []
    for q in queries:
        a = answerer.answer(q["query"])
        lat.append(a.latency_ms)
        results.append((q, a))
    rows = [(q, a.abstained, a.citations[0].id if a.citations else None) for q, a in results]
    out = outcome_rates(rows)
    out["latency_ms"] = round(statistics.fmean(lat), 2)
    return out, results


def threshold_sweep(results: list[tuple[dict, Answer]], thresholds: list[float]) -> list[dict[str, Any]]:
    """The evaluation rates had the threshold been each of `thresholds` (the main source does not change)."""
    table = []
    for t in thresholds:
        rows = [(q, a.confidence < t or not a.evidence.get("main"), a.evidence.get("main")) for q, a in results]
        table.append({"threshold": t, **outcome_rates(rows)})
    return table


def normalized(text: str) -> str:
    """Whitespace-normalised text: how answer sentences are compared with their sources."""
    return normalize_ws(text)
