"""Manager insights: what the knowledge base is missing.

- `content_gaps`: logged requests that failed (the answer abstained, the best match scored below
  `gap_score_threshold`, nothing was found, or it was marked not helpful and nothing helpful),
  grouped by meaning (`kb.insights.cluster`), each group with its size, the distinct agents
  who hit it, a weekly trend, representative queries (nearest the group's centroid) and the
  closest existing SOP section. Sorted by distinct agents, then size.

Ticket coverage (past tickets no SOP covers, as proposed SOP topics) is in `kb.insights.tickets`,
and builds on the pieces here (`SopVectors`, `weekly_trend`, the grouping of `kb.insights.cluster`).

SOP health (stale, near-duplicate and contradicting SOPs) is in `kb.insights.health`; the QA
dashboard in `kb.insights.qa`. Every report is a dataclass with `to_dict()` (JSON) and
`rows()` (flat rows for tables and CSV), so the command line and the web pages share them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from kb.insights.charts import Chart, bar_chart, line_chart
from kb.insights.cluster import Clustering, cluster_vectors, representatives, top_terms
from kb.insights.querylog import LogEntry, QueryLog, iso, parse_ts
from kb.scales import cosine_setting, store_model
from kb.storage import SearchFilters

MAX_MICRO = 2000  # k-means micro-clusters before average linkage (see kb.insights.cluster)
MAX_LISTED = 500  # distinct queries / ticket ids listed per group


# -- shared pieces -------------------------------------------------------------------------------
@dataclass
class SopMatch:
    id: str
    title: str
    heading: str
    similarity: float
    chunk_id: int | None = None


class SopVectors:
    """The SOP chunk vectors of a knowledge base, loaded once per report."""

    def __init__(self, store, *, include_archived: bool = True):
        ids = [int(c) for c in store.chunk_ids_where(SearchFilters.of(types=["sop"]))]
        self.ids, self.X = store.get_vectors(ids)
        info = store.chunk_docs([int(c) for c in self.ids])
        chunks = store.get_chunks_by_ids([int(c) for c in self.ids])
        keep = [i for i, c in enumerate(self.ids)
                if include_archived or str(info[int(c)].get("status", "")).lower() != "archived"]
        self.ids, self.X = self.ids[keep], self.X[keep]
        self.doc = [info[int(c)]["doc_id"] for c in self.ids]
        self.title = [info[int(c)]["title"] for c in self.ids]
        self.status = [info[int(c)].get("status", "") for c in self.ids]
        self.heading = [chunks[int(c)].heading for c in self.ids]
        self.text = [chunks[int(c)].text for c in self.ids]

    def __len__(self) -> int:
        return len(self.ids)

    def best(self, V: np.ndarray, batch: int = 4096) -> tuple[np.ndarray, np.ndarray]:
        """(best similarity, index of the best SOP chunk) for each row of V."""
        n = len(V)
        if not len(self) or not n:
            return np.full(n, -1.0, dtype=np.float32), np.full(n, -1, dtype=np.int64)
        sims = np.empty(n, dtype=np.float32)
        arg = np.empty(n, dtype=np.int64)
        for i in range(0, n, batch):
            S = V[i:i + batch] @ self.X.T
            a = S.argmax(axis=1)
            arg[i:i + batch] = a
            sims[i:i + batch] = S[np.arange(len(a)), a]
        return sims, arg

    def match(self, v: np.ndarray) -> SopMatch | None:
        return self.match_many(v[None, :])[0]

    def match_many(self, V: np.ndarray) -> list[SopMatch | None]:
        """The closest SOP section to each row of V (one matrix product for all)."""
        if not len(self) or not len(V):
            return [None] * len(V)
        sims, arg = self.best(np.ascontiguousarray(V, dtype=np.float32))
        return [SopMatch(self.doc[i], self.title[i], self.heading[i], round(float(s), 4), int(self.ids[i]))
                for s, i in zip(sims, arg, strict=True)]


def week_start(ts: str) -> str:
    d = parse_ts(ts).date()
    return (d - timedelta(days=d.weekday())).isoformat()


def weekly_trend(timestamps: list[str], since: str, until: str) -> list[dict[str, Any]]:
    """Counts per week (weeks start on Monday), every week of the window included."""
    counts = Counter(week_start(t) for t in timestamps)
    start = parse_ts(week_start(since)).date()
    end = parse_ts(until).date()
    out = []
    d = start
    while d <= end:
        out.append({"week": d.isoformat(), "count": counts.get(d.isoformat(), 0)})
        d += timedelta(days=7)
    return out


def window(days: int | None, now: str | datetime | None, default: int) -> tuple[str, str, int]:
    until = parse_ts(iso(now))
    n = int(default if days is None else days)
    since = until - timedelta(days=n) if n > 0 else datetime(1970, 1, 1, tzinfo=UTC)
    return iso(since), iso(until), n


def clustering_dict(c: Clustering) -> dict[str, Any]:
    return {"threshold": round(c.threshold, 4), "chosen_by": c.chosen_by,
            "silhouette": None if c.silhouette is None else round(c.silhouette, 4), "groups": len(c.sizes),
            "candidates": c.candidates}


# -- content gaps --------------------------------------------------------------------------------
@dataclass
class GapGroup:
    rank: int
    label: str
    terms: list[str]
    size: int  # failed requests in the group
    distinct_queries: int
    agents: int  # distinct agents (or users) who hit it
    reasons: dict[str, int]
    first_seen: str
    last_seen: str
    trend: list[dict[str, Any]]  # [{"week": "2026-11-16", "count": 4}]
    representative: list[dict[str, Any]]  # [{"query", "count", "similarity"}] nearest the centroid first
    closest_sop: SopMatch | None
    cohesion: float
    queries: list[str] = field(default_factory=list)  # distinct queries, most asked first (at most MAX_LISTED)


@dataclass
class GapReport:
    since: str
    until: str
    days: int
    logged: int
    failed: int
    reasons: dict[str, int]
    unscored: int  # requests without a similarity score (lexical-only): judged by outcome and feedback only
    groups: list[GapGroup]
    ungrouped: int  # failed requests in groups smaller than gap_min_cluster_size
    clustering: dict[str, Any]
    settings: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def rows(self) -> list[dict[str, Any]]:
        return [{"rank": g.rank, "label": g.label, "agents": g.agents, "size": g.size,
                 "distinct_queries": g.distinct_queries, "first_seen": g.first_seen, "last_seen": g.last_seen,
                 "abstained": g.reasons.get("abstained", 0), "low_score": g.reasons.get("low_score", 0),
                 "no_results": g.reasons.get("no_results", 0), "not_helpful": g.reasons.get("not_helpful", 0),
                 "closest_sop": g.closest_sop.id if g.closest_sop else "",
                 "closest_sop_heading": g.closest_sop.heading if g.closest_sop else "",
                 "closest_sop_similarity": g.closest_sop.similarity if g.closest_sop else None,
                 "representative": " | ".join(r["query"] for r in g.representative)} for g in self.groups]

    def charts(self, top: int = 5) -> list[Chart]:
        """Groups by distinct agents (bar) and the weekly trend of the top groups (line)."""
        return [bar_chart([(g.label, g.agents) for g in self.groups], title="Content gaps: distinct agents per topic",
                          value_label="agents"),
                line_chart({g.label: [(t["week"], t["count"]) for t in g.trend] for g in self.groups[:top]},
                           title="Content gaps: failed requests per week", y_label="requests")]


def failure_reasons(e: LogEntry, threshold: float) -> list[str]:
    """Why a logged request counts as failed (empty: it did not)."""
    out = []
    if e.abstained:
        out.append("abstained")
    if e.top_score is not None and e.top_score < threshold:
        out.append("low_score")
    if e.kind == "search" and not e.results:
        out.append("no_results")
    if e.not_helpful and not e.helpful:
        out.append("not_helpful")
    return out


def content_gaps(store, config, *, embedder=None, days: int | None = None, now: str | datetime | None = None,
                 min_size: int | None = None, n_representative: int = 5) -> GapReport:
    """Failed requests of the last `days` days grouped by meaning; see the module docstring."""
    since, until, days = window(days, now, config.gap_days)
    threshold = cosine_setting(config, "gap_score_threshold", store_model(store))
    min_size = int(config.gap_min_cluster_size if min_size is None else min_size)
    qlog = QueryLog(store, config)
    logged = qlog.count(since, until)
    unscored = qlog.count_unscored(since, until)
    failed: list[tuple[LogEntry, list[str]]] = []
    reasons: Counter = Counter()
    for e in qlog.entries(since, until, failed_below=threshold):
        r = failure_reasons(e, threshold)
        if r:
            failed.append((e, r))
            reasons.update(r)
    settings = {"gap_score_threshold": threshold, "gap_min_cluster_size": min_size,
                "cluster_similarity": float(config.cluster_similarity)}
    notes = []
    if not logged:
        notes.append("No requests were logged in this window: is query logging on (querylog_enabled), and do "
                     "the search and answer pages log?")
    if unscored:
        notes.append(f"{unscored} requests had no similarity score (lexical-only searches, answers logged without "
                     "one); they count as failed only when they abstained, found nothing or were marked not helpful.")
    empty = GapReport(since, until, days, logged, len(failed), dict(reasons), unscored, [], len(failed),
                      {}, settings, notes)
    if not failed:
        return empty

    # one vector per distinct (redacted) query
    texts: dict[str, str] = {}
    for e, _ in failed:
        texts.setdefault(e.query_hash, e.query)
    hashes = list(texts)
    if embedder is None:
        from kb.embed import get_embedder

        embedder = _LazyEmbedder(config, get_embedder)
    vecs = qlog.vectors(texts, embedder)
    X = np.vstack([vecs[h] for h in hashes]).astype(np.float32)
    clustering = cluster_vectors(X, similarity=float(config.cluster_similarity), max_micro=MAX_MICRO)
    row_of = {h: i for i, h in enumerate(hashes)}
    by_group: dict[int, list[tuple[LogEntry, list[str]]]] = {}
    for e, r in failed:
        by_group.setdefault(int(clustering.labels[row_of[e.query_hash]]), []).append((e, r))

    sops = SopVectors(store)
    kept = [g for g, items in by_group.items() if len(items) >= min_size]
    texts_of: dict[int, list[str]] = {}
    for h, g in zip(hashes, clustering.labels.tolist(), strict=True):
        texts_of.setdefault(g, []).append(texts[h])
    labels = top_terms([texts_of[g] for g in kept])
    closest = sops.match_many(clustering.centroids[kept]) if kept else []
    groups: list[GapGroup] = []
    for g, terms, sop in zip(kept, labels, closest, strict=True):
        items = by_group[g]
        counts = Counter(e.query_hash for e, _ in items)
        members = np.array([row_of[h] for h in counts], dtype=np.int64)
        centroid = clustering.centroids[g]
        reps = representatives(X, members, centroid, n_representative)
        gr: Counter = Counter()
        for _, r in items:
            gr.update(r)
        ts = [e.ts for e, _ in items]
        groups.append(GapGroup(
            rank=0, label=", ".join(terms[:3]) or texts[hashes[reps[0]]], terms=terms, size=len(items),
            distinct_queries=len(counts), agents=len({e.who for e, _ in items if e.who}), reasons=dict(gr),
            first_seen=min(ts), last_seen=max(ts), trend=weekly_trend(ts, since, until),
            representative=[{"query": texts[hashes[i]], "count": counts[hashes[i]],
                             "similarity": round(float(X[i] @ centroid), 4)} for i in reps],
            closest_sop=sop, cohesion=round(clustering.cohesion[g], 4),
            queries=[texts[h] for h, _ in counts.most_common(MAX_LISTED)]))
    groups.sort(key=lambda x: (-x.agents, -x.size, x.label))
    for i, g in enumerate(groups, 1):
        g.rank = i
    ungrouped = len(failed) - sum(g.size for g in groups)
    return GapReport(since, until, days, logged, len(failed), dict(reasons), unscored, groups, ungrouped,
                     clustering_dict(clustering), settings, notes)


class _LazyEmbedder:
    """Loads the embedding model only when a query vector is missing from the cache."""

    def __init__(self, config, factory):
        self.config, self.factory, self._e = config, factory, None

    @property
    def name(self) -> str:  # the name SentenceTransformerEmbedder records
        return "all-MiniLM-L6-v2" if self.config.model in ("", "default") else self.config.model

    def encode_queries(self, texts):
        if self._e is None:
            self._e = self.factory(self.config)
        return self._e.encode_queries(texts)

