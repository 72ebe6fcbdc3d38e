"""Ticket coverage: past tickets no SOP covers, grouped into proposed SOP topics.

Each ticket's best SOP match is the highest cosine between its chunk vectors and every SOP chunk.
Tickets below `ticket_coverage_threshold` + a margin (0.1 with all-MiniLM-L6-v2; `kb.scales`) are grouped by meaning
(`kb.insights.cluster`), and a group whose members' median best-SOP similarity is below
`ticket_coverage_threshold` is a proposed SOP topic, with its representative tickets, their
resolutions and a Markdown draft to start from. The group decides, not each ticket: a ticket
that shares a word with an unrelated SOP ("gift wrap" and the gift-card SOP) still joins its topic.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from kb.insights.charts import Chart, bar_chart
from kb.insights.cluster import cluster_vectors, group_sums, representatives, top_terms
from kb.insights.gaps import (
    MAX_LISTED,
    MAX_MICRO,
    SopMatch,
    SopVectors,
    clustering_dict,
    weekly_trend,
    window,
)
from kb.insights.querylog import iso
from kb.scales import cosine_setting, packaged_value, store_model


@dataclass
class TicketGroup:
    rank: int
    label: str
    terms: list[str]
    size: int
    first_seen: str
    last_seen: str
    trend: list[dict[str, Any]]
    tickets: list[dict[str, Any]]  # representative: id, subject, question, resolution, best_sop, similarity
    closest_sop: SopMatch | None
    cohesion: float
    median_best_sop_similarity: float  # the group is uncovered when this is below ticket_coverage_threshold
    draft: str  # Markdown: a starting point for a new SOP
    ticket_ids: list[str] = field(default_factory=list)


@dataclass
class TicketCoverageReport:
    tickets: int
    weak: int  # tickets whose own best SOP similarity is below the threshold
    threshold: float
    groups: list[TicketGroup]
    candidates: int  # tickets below threshold + the model's margin (kb.scales), which were grouped
    clustering: dict[str, Any]
    since: str = ""
    until: str = ""
    days: int = 0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def rows(self) -> list[dict[str, Any]]:
        return [{"rank": g.rank, "label": g.label, "tickets": g.size, "first_seen": g.first_seen,
                 "last_seen": g.last_seen, "median_best_sop_similarity": g.median_best_sop_similarity,
                 "closest_sop": g.closest_sop.id if g.closest_sop else "",
                 "closest_sop_similarity": g.closest_sop.similarity if g.closest_sop else None,
                 "representative": " | ".join(f"{t['id']}: {t['subject']}" for t in g.tickets)}
                for g in self.groups]

    def charts(self) -> list[Chart]:
        return [bar_chart([(g.label, g.size) for g in self.groups], title="Uncovered tickets per proposed topic",
                          value_label="tickets")]


def _ticket_rows(store, since: str | None) -> dict[str, dict[str, Any]]:
    """ticket id -> {title, created_at, chunk ids}, tickets created since `since` (all when None)."""
    out: dict[str, dict[str, Any]] = {}
    for doc_id, title, created, cid in store.ticket_chunks():
        if since and created and (_safe_iso(created) or since) < since:
            continue
        t = out.setdefault(doc_id, {"title": title, "created_at": created, "chunks": []})
        t["chunks"].append(cid)
    return out


def _safe_iso(value: str) -> str:
    """A ticket's created_at as a log-style timestamp, or '' when it cannot be read."""
    if not value:
        return ""
    try:
        return iso(value)
    except Exception:  # noqa: BLE001 - free-form dates in imported tickets
        return ""


def _short(text: str, n: int) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= n else text[: n - 1].rsplit(" ", 1)[0] + "…"


def draft_sop(label: str, terms: list[str], tickets: list[dict[str, Any]]) -> str:
    """A Markdown starting point for an SOP on a topic the tickets show is missing."""
    title = label[:1].upper() + label[1:] if label else "New procedure"
    lines = ["---", f"title: {title} (draft)", "status: draft", f"tags: [{', '.join(terms[:4])}]", "---",
             f"# {title}", "", "## Purpose",
             "Drafted from past tickets that no SOP covers. Check each point, then write the procedure.", "",
             "## What customers ask"]
    lines += [f"- {t['subject'] or _short(t['question'], 120)} ({t['id']})" for t in tickets]
    lines += ["", "## What agents did (past resolutions)"]
    lines += [f"- {_short(t['resolution'], 300)} ({t['id']})" for t in tickets if t["resolution"]]
    lines += ["", "## Procedure", "1. ", "", "## Escalation", "- ", ""]
    return "\n".join(lines)


def ticket_coverage(store, config, *, days: int | None = None, now: str | datetime | None = None,
                    min_size: int | None = None, n_representative: int = 5) -> TicketCoverageReport:
    """Tickets with no close SOP, grouped into proposed SOP topics; see the module docstring."""
    model = store_model(store)
    threshold = cosine_setting(config, "ticket_coverage_threshold", model)
    margin = packaged_value("ticket_candidate_margin", model)  # tickets this far above it are grouped too
    min_size = int(config.gap_min_cluster_size if min_size is None else min_size)
    since, until, days = window(days, now, 0)
    tickets = _ticket_rows(store, since if days > 0 else None)
    sops = SopVectors(store)
    notes = []
    if not len(sops):
        notes.append("The knowledge base has no SOPs with vectors: every ticket is uncovered.")
    chunk_owner = {c: tid for tid, t in tickets.items() for c in t["chunks"]}
    order = list(tickets)
    pos = {tid: i for i, tid in enumerate(order)}
    dim = store.vector_dim() or 0
    sums = np.zeros((len(order), dim), dtype=np.float32)
    best = np.full(len(order), -1.0, dtype=np.float32)
    best_arg = np.full(len(order), -1, dtype=np.int64)
    for ids, mat in store.iter_vectors(batch=8192):
        sel = [i for i, c in enumerate(ids) if int(c) in chunk_owner]
        if not sel:
            continue
        V = mat[sel]
        rows = np.array([pos[chunk_owner[int(ids[i])]] for i in sel], dtype=np.int64)
        uniq = np.unique(rows)
        sums[uniq] += group_sums(V, np.searchsorted(uniq, rows), len(uniq)).astype(np.float32)
        s, a = sops.best(V)
        for r, si, ai in zip(rows, s, a, strict=True):
            if si > best[r]:
                best[r], best_arg[r] = si, ai
    weak = int((best < threshold).sum())
    # Candidates: tickets below the threshold plus a margin; a group is uncovered when the median
    # of its members' best SOP similarity is below the threshold (a group decides, not each ticket).
    cand_idx = np.where(best < threshold + margin)[0]
    if not len(cand_idx):
        return TicketCoverageReport(len(order), weak, threshold, [], 0, {}, since, until, days, notes)
    W = sums[cand_idx]
    W /= np.maximum(np.linalg.norm(W, axis=1, keepdims=True), 1e-12)
    clustering = cluster_vectors(W, similarity=float(config.cluster_similarity), max_micro=MAX_MICRO)
    members_of = {g: np.where(clustering.labels == g)[0] for g, size in enumerate(clustering.sizes)
                  if size >= min_size}
    kept = [g for g, m in members_of.items() if float(np.median(best[cand_idx[m]])) < threshold]
    cand_ids = [order[i] for i in cand_idx]
    titles = top_terms([[tickets[cand_ids[i]]["title"] for i in members_of[g]] for g in kept])
    closest = sops.match_many(clustering.centroids[kept]) if kept else []
    groups: list[TicketGroup] = []
    for g, terms, sop in zip(kept, titles, closest, strict=True):
        members = members_of[g]
        centroid = clustering.centroids[g]
        reps = representatives(W, members, centroid, n_representative)
        shown = []
        for i in reps:
            tid = cand_ids[i]
            doc = store.get_document(tid)
            j = cand_idx[i]
            shown.append({"id": tid, "subject": doc.title, "question": _short(doc.metadata.get("question", ""), 400),
                          "resolution": _short(doc.metadata.get("answer", ""), 600),
                          "created_at": tickets[tid]["created_at"],
                          "best_sop": sops.doc[best_arg[j]] if best_arg[j] >= 0 else "",
                          "best_sop_similarity": round(float(best[j]), 4),
                          "similarity": round(float(W[i] @ centroid), 4)})
        created = sorted(c for c in (_safe_iso(tickets[cand_ids[i]]["created_at"]) for i in members) if c)
        label = ", ".join(terms[:3]) or shown[0]["subject"]
        groups.append(TicketGroup(
            rank=0, label=label, terms=terms, size=len(members), first_seen=created[0] if created else "",
            last_seen=created[-1] if created else "",
            trend=weekly_trend(created, since if days > 0 else created[0], until) if created else [],
            tickets=shown, closest_sop=sop, cohesion=round(clustering.cohesion[g], 4),
            median_best_sop_similarity=round(float(np.median(best[cand_idx[members]])), 4),
            draft=draft_sop(label, terms, shown), ticket_ids=sorted(cand_ids[i] for i in members)[:MAX_LISTED]))
    groups.sort(key=lambda x: (-x.size, x.label))
    for i, g in enumerate(groups, 1):
        g.rank = i
    return TicketCoverageReport(len(order), weak, threshold, groups, len(cand_idx), clustering_dict(clustering),
                                since, until, days, notes)


