"""Retrieval metrics (hit@k, MRR@k, nDCG@k, recall@k) over a labelled query set, and Cohen's kappa
(agreement of two graders: QA calibration and the QA dashboard)."""

from __future__ import annotations

import json
import math
import statistics
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from kb.errors import InputError


def load_queries(path: str | Path) -> list[dict]:
    """Lines of {"query": "...", "relevant": ["doc id", ...]}; a bad line is an error naming it."""
    out = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}:{n}: not valid JSON ({exc.msg})") from None
        if not isinstance(row, dict) or not isinstance(row.get("query"), str) or not row["query"].strip():
            raise InputError(f"{path}:{n}: each line needs a non-empty \"query\" string", field="query")
        rel = row.get("relevant", [])
        if not isinstance(rel, list) or not all(isinstance(r, str) for r in rel):
            raise InputError(f"{path}:{n}: \"relevant\" must be a list of document ids", field="relevant")
        out.append({"query": row["query"], "relevant": rel})
    if not out:
        raise InputError(f"{path}: no queries")
    return out


def ranking_metrics(ranked: list[str], relevant: set[str], k: int = 10) -> dict[str, float]:
    top = ranked[:k]
    gains = [1.0 if d in relevant else 0.0 for d in top]
    first = next((i for i, g in enumerate(gains) if g), None)
    dcg = sum(g / math.log2(i + 2) for i, g in enumerate(gains))
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(relevant), k)))
    return {
        "hit@1": float(any(gains[:1])),
        "hit@5": float(any(gains[:5])),
        f"hit@{k}": float(any(gains)),
        f"mrr@{k}": 1.0 / (first + 1) if first is not None else 0.0,
        f"ndcg@{k}": dcg / ideal if ideal else 0.0,
        f"recall@{k}": (sum(gains) / len(relevant)) if relevant else 0.0,
    }


def evaluate_search(searcher, queries: list[dict], *, modes=("hybrid", "dense", "lexical"), k: int = 10) -> dict:
    answerable = [q for q in queries if q["relevant"]]
    if not answerable:
        raise InputError("The query set has no query with relevant documents")
    searcher.search(answerable[0]["query"], k=1)  # warm the model and the index: latency is per query
    results = {}
    for mode in modes:
        rows, lat = [], []
        for q in answerable:
            t = time.perf_counter()
            hits = searcher.search(q["query"], k=k, mode=mode)
            lat.append((time.perf_counter() - t) * 1000)
            rows.append(ranking_metrics([h.id for h in hits], set(q["relevant"]), k))
        keys = rows[0].keys()
        r = {key: round(statistics.fmean(row[key] for row in rows), 4) for key in keys}
        r["queries"] = len(rows)
        r["latency_ms"] = round(statistics.fmean(lat), 2)
        r["latency_p50_ms"] = round(statistics.median(lat), 2)
        results[mode] = r
    return results


def cohen_kappa(a: Sequence[str], b: Sequence[str]) -> float | None:
    """Cohen's kappa of two raters over the same items; None when undefined (both constant and equal)."""
    if len(a) != len(b):
        raise ValueError("kappa needs two equally long label lists")
    n = len(a)
    if n == 0:
        return None
    po = sum(1 for x, y in zip(a, b, strict=True) if x == y) / n
    ca, cb = Counter(a), Counter(b)
    pe = sum(ca[k] * cb[k] for k in set(ca) | set(cb)) / (n * n)
    if pe >= 1.0:
        return None
    return (po - pe) / (1.0 - pe)
