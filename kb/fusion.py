"""Hybrid fusion: one ranking from the lexical list (BM25) and the dense list (cosine similarity).

Plain reciprocal rank fusion (`rrf`) throws the scores away: a lexical list that matched a few stray
words ranks its first chunk as high as a dense list that is sure of its first. On ticket-like data
where dense search is the stronger input, that pulled the right answer down (hybrid lost to dense
alone). `agreement` fusion uses the scores and how much the two lists agree:

- every candidate (the union of both lists) gets its cosine similarity, also those only lexical
  search found (their stored vectors), normalised against the dense list: 1 for the best chunk,
  0 for the `depth`-th; the BM25 score is normalised by the best BM25 score of the query;
- the lexical side's weight grows with the agreement of the two lists: the share of the lexical
  top `agree_k` that dense search also ranks in its top `agree_k` (and none when the lexical list
  is empty, as for a question in another language than the documents);
- fused = dense_z + w * lexical_z (standard scores over each list's top `depth`; a chunk missing from
  the lexical list gets that list's lowest score), shifted so that the lowest candidate scores 0;
- when the dense list is weak (its best cosine is under the weak-match threshold: nothing is close in
  meaning), the lexical weight is at least `w_weak`: a product code, an error number or a name then
  decides, as it should.

`with_prior` then applies the type prior (`ticket_weight`) to the fused score.

The parameters were chosen on the dev queries and constructed dev data and confirmed on held-out
queries (bench/bench_fusion.py, docs/search.md). `fuse` is a pure function, tested on constructed
lists where one side is right and the other noise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

FUSIONS = ("agreement", "rrf")


@dataclass(frozen=True)
class FusionParams:
    method: str = "agreement"
    norm: str = "z"  # how each list's scores are put on one scale: "z" (standard scores) or "minmax"
    w_min: float = 0.5  # lexical weight when the lists share nothing
    w_max: float = 0.7  # lexical weight when they agree completely
    agree_k: int = 5
    w_weak: float = 1.5  # lexical weight when the dense list is weak (its best is under the weak-match threshold)
    depth: int = 50  # the dense rank whose cosine normalises to 0
    rrf_k: float = 60.0


def agreement(lex: Sequence[tuple[int, float]], den: Sequence[tuple[int, float]], k: int) -> float:
    """Share of the lexical top-k that is also in the dense top-k (0 when either list is empty)."""
    if not lex or not den:
        return 0.0
    top_lex = [c for c, _ in lex[:k]]
    top_den = {c for c, _ in den[:k]}
    return sum(1 for c in top_lex if c in top_den) / min(k, len(top_lex))


def fuse(lex: Sequence[tuple[int, float]], den: Sequence[tuple[int, float]], cosines: Mapping[int, float],
         params: FusionParams = FusionParams(), *, weak_below: float | None = None) -> dict[int, float]:
    """Fused score per candidate chunk (higher is better).

    `lex`, `den`: (chunk id, score) best first; `cosines`: the cosine similarity of candidates that only
    the lexical list holds (missing ones count as the dense floor). `weak_below`: the model's weak-match
    threshold: when the best cosine is under it, nothing is close in meaning and the exact word matches
    weigh `w_weak` (a product code, an error number, a name)."""
    if params.method == "rrf":
        return rrf(lex, den, params.rrf_k)
    if not den:  # no dense list (no vectors yet): the lexical order, scaled to [0, 1]
        top = max((s for _, s in lex), default=0.0)
        return {c: (s / top if top > 0 else 0.0) for c, s in lex}
    depth = min(len(den), max(2, params.depth))
    w = params.w_min + (params.w_max - params.w_min) * agreement(lex, den, params.agree_k) if lex else 0.0
    if lex and weak_below is not None and den[0][1] < weak_below:
        w = max(w, params.w_weak)
    dense = dict(den)
    cos = {c: dense.get(c, cosines.get(c)) for c in dense.keys() | {c for c, _ in lex}}
    floor = den[depth - 1][1]
    d_norm = _normaliser([s for _, s in den[:depth]], params.norm)
    l_norm = _normaliser([s for _, s in lex[:depth]], params.norm) if lex else None
    lex_score = dict(lex)
    l_floor = l_norm(min(lex_score.values())) if l_norm else 0.0
    out: dict[int, float] = {}
    for c, v in cos.items():
        d = d_norm(v if v is not None else floor)
        ls = l_norm(lex_score[c]) if (l_norm and c in lex_score) else l_floor
        out[c] = d + w * ls
    if params.norm == "z" and out:  # standard scores are signed: shift so that the lowest candidate is 0
        low = min(out.values())
        out = {c: v - low for c, v in out.items()}
    return out


def _normaliser(values: Sequence[float], norm: str):
    """A function putting a list's scores on a common scale: standard scores (z) or [0, 1] (minmax)."""
    hi, lo = max(values), min(values)
    if norm == "minmax" or len(values) < 3:
        span = max(hi - lo, 1e-9)
        return lambda x: (x - lo) / span
    n = len(values)
    mean = sum(values) / n
    sd = max((sum((v - mean) ** 2 for v in values) / n) ** 0.5, 1e-6, 1e-3 * abs(mean))
    return lambda x: (x - mean) / sd


def with_prior(scores: Mapping[int, float], weight: Mapping[int, float]) -> dict[int, float]:
    """The final hybrid score: the fused score (>= 0 for both fusions) times the chunk's type weight
    (`ticket_weight` for past tickets, 1 for SOPs). At 0.5 a past ticket comes first only when it
    matches about twice as well as the best SOP: a ticket that is plainly the answer to a question no
    SOP covers is not buried under unrelated SOPs."""
    return {c: v * weight.get(c, 1.0) for c, v in scores.items()}


def rrf(lex: Sequence[tuple[int, float]], den: Sequence[tuple[int, float]], k: float = 60.0) -> dict[int, float]:
    """Reciprocal rank fusion: sum of 1 / (k + rank) over the lists a chunk is in."""
    out: dict[int, float] = {}
    for lst in (lex, den):
        for r, (c, _) in enumerate(lst, 1):
            out[c] = out.get(c, 0.0) + 1.0 / (k + r)
    return out
