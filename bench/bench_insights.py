"""Benchmark: the content-gap and ticket-coverage reports at scale (not a test; prints a table and JSON).

    python bench/bench_insights.py [--queries 100000] [--tickets 100000] [--workdir /tmp/deskbook-bench-insights]
    python bench/bench_insights.py compare-clustering    # our grouping vs k-means alone, real embeddings

Setup (timed separately, not part of the figures): the sample corpus SOPs indexed with the real
model; `--tickets` synthetic tickets and `--queries` logged requests written to the database.

Vectors: embedding 100k queries and 100k tickets with the real model would take hours on 2
cores, so the bulk vectors are SYNTHETIC, with a realistic cosine scale (all-MiniLM-L6-v2):
covered tickets and queries are SOP chunk vectors plus noise (cosine to their SOP ~0.65),
planted uncovered topics are random directions plus the same noise, and one-offs are random.
The raw cost of embedding is measured on real texts in the same run (`encode_queries` on
`--embed-sample` logged-query texts, `encode_documents` on ticket texts) and extrapolated to the
bench sizes, so the report's own time can be read next to it.

Reported: wall time of `content_gaps` and `ticket_coverage` (median of `--repeat` runs), peak
Python memory of one more run under tracemalloc (numpy buffers included), the process's peak RSS
(the embedding model included), and
how well the planted topics were recovered (each planted topic's share in its best group, and
that group's purity).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import sys
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from indexer.pipeline import index_paths  # noqa: E402
from kb.config import load_config  # noqa: E402
from kb.embed import get_embedder  # noqa: E402
from kb.insights.gaps import SopVectors, content_gaps  # noqa: E402
from kb.insights.querylog import QueryLog, iso  # noqa: E402
from kb.insights.tickets import ticket_coverage  # noqa: E402
from kb.models import Chunk, Document, content_hash  # noqa: E402
from kb.storage import open_store  # noqa: E402

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
NOISE = 0.06  # per-dimension Gaussian noise: cosine to the centre ~ 1/sqrt(1 + 384 * 0.06^2) = 0.65


def noisy(center: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    X = center[None, :] + NOISE * rng.standard_normal((n, center.shape[0])).astype(np.float32)
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    X = rng.standard_normal((n, dim)).astype(np.float32)
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def synth_vectors(sop_X: np.ndarray, n: int, planted: int, planted_share: float, oneoff_share: float,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(vectors, topic): topic -1 = covered (near an SOP chunk), -2 = one-off, 0..planted-1 = uncovered."""
    dim = sop_X.shape[1]
    centers = unit(rng, planted, dim)
    n_planted = int(n * planted_share)
    n_oneoff = int(n * oneoff_share)
    n_cov = n - n_planted - n_oneoff
    parts, topics = [], []
    picks = rng.integers(0, len(sop_X), n_cov)
    for s in np.unique(picks):
        k = int((picks == s).sum())
        parts.append(noisy(sop_X[s], k, rng))
        topics.append(np.full(k, -1))
    sizes = rng.multinomial(n_planted, np.ones(planted) / planted)
    for t, k in enumerate(sizes):
        parts.append(noisy(centers[t], int(k), rng))
        topics.append(np.full(int(k), t))
    parts.append(unit(rng, n_oneoff, dim))
    topics.append(np.full(n_oneoff, -2))
    X = np.vstack(parts).astype(np.float32)
    topic = np.concatenate(topics)
    order = rng.permutation(n)
    return X[order], topic[order]


def measure(fn, repeat: int):
    """(result, median seconds of `repeat` plain runs, peak traced bytes of one more run under tracemalloc).

    Times are taken without tracemalloc, which slows Python allocations several-fold.
    """
    times = []
    out = None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return out, statistics.median(times), peak


def recovery(groups_members: list[set], topic_of: dict, planted: int) -> dict:
    """Per planted topic: the share of its items in its best group, and that group's purity."""
    shares, purities = [], []
    for t in range(planted):
        total = sum(1 for v in topic_of.values() if v == t)
        if not total:
            continue
        best = max(groups_members, key=lambda g: sum(1 for x in g if topic_of.get(x) == t), default=set())
        hit = sum(1 for x in best if topic_of.get(x) == t)
        shares.append(hit / total)
        purities.append(hit / len(best) if best else 0.0)
    return {"planted_topics": planted, "median_share_in_best_group": round(statistics.median(shares), 3),
            "min_share": round(min(shares), 3), "median_purity": round(statistics.median(purities), 3),
            "min_purity": round(min(purities), 3)}


def compare_clustering() -> None:
    """Our grouping against FAISS k-means alone (k by silhouette), on the test phrasings with real embeddings.

    Items: the planted gift-wrap and discount phrasings of tests/test_insights.py, its one-off
    questions, and the 110 answerable sample queries (corpus/eval) as the background of other topics.
    """
    import faiss

    from kb.insights.cluster import cluster_vectors, silhouette
    from tests.test_insights import DISCOUNTS, GIFT_WRAP, ONE_OFFS

    background = [json.loads(line)["query"] for name in ("queries.jsonl", "queries_holdout.jsonl")
                  for line in (ROOT / "corpus" / "eval" / name).read_text().splitlines()]
    texts = GIFT_WRAP + DISCOUNTS + ONE_OFFS + background
    truth = np.array(["gift"] * len(GIFT_WRAP) + ["discount"] * len(DISCOUNTS) + ["other"] * (len(texts) - 30))
    X = get_embedder(load_config()).encode_queries(texts)
    D = 1.0 - X.astype(np.float64) @ X.T.astype(np.float64)

    def describe(labels):
        out = {}
        for t in ("gift", "discount"):
            best = np.bincount(labels[truth == t]).argmax()
            out[t] = f"{int((labels[truth == t] == best).sum())}/{int((truth == t).sum())} in a group of " \
                     f"{int((labels == best).sum())}"
        return out

    rows = []
    for k in (5, 10, 20, 30, 40, 60, 80):
        km = faiss.Kmeans(X.shape[1], k, niter=25, seed=1, spherical=True, min_points_per_centroid=1, nredo=3)
        km.train(X)
        lab = km.index.search(X, 1)[1].ravel()
        rows.append({"method": f"k-means k={k}", "silhouette": round(silhouette(D, lab) or 0, 3), **describe(lab)})
    c = cluster_vectors(X)
    rows.append({"method": f"deskbook (cut {c.threshold:.3f}, {len(c.sizes)} groups)",
                 "silhouette": round(c.silhouette or 0, 3), **describe(c.labels)})
    print(f"{len(texts)} texts: {len(GIFT_WRAP)} gift-wrap, {len(DISCOUNTS)} discount, {len(texts) - 30} others\n")
    print("| method | silhouette | gift-wrap phrasings | discount phrasings |\n|---|---:|---|---|")
    for r in rows:
        print(f"| {r['method']} | {r['silhouette']} | {r['gift']} | {r['discount']} |")


def main() -> None:
    if sys.argv[1:2] == ["compare-clustering"]:
        compare_clustering()
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--queries", type=int, default=100_000)
    ap.add_argument("--tickets", type=int, default=100_000)
    ap.add_argument("--distinct", type=float, default=0.4, help="distinct query texts / logged requests")
    ap.add_argument("--failed", type=float, default=0.25, help="share of logged requests that fail")
    ap.add_argument("--planted", type=int, default=20, help="uncovered topics planted in queries and tickets")
    ap.add_argument("--embed-sample", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workdir", default="/tmp/deskbook-bench-insights")
    ap.add_argument("--json", dest="json_out", default=None, help="also write the results here")
    ap.add_argument("--reuse", action="store_true", help="keep the database of a previous run with the same sizes "
                    "(the synthetic data is deterministic)")
    args = ap.parse_args()

    rng = np.random.default_rng(0)
    rng_dates = np.random.default_rng(1)
    prng = random.Random(0)
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    reuse = args.reuse and (work / "bench.db").exists()
    if not reuse:
        for f in work.glob("bench.db*"):
            f.unlink()
    config = load_config(data_dir=str(work), db=str(work / "bench.db"), querylog_redact_names=False)
    embedder = get_embedder(config)
    store = open_store(config.database)

    # -- setup ----------------------------------------------------------------------------------
    t0 = time.perf_counter()
    if not reuse:
        index_paths(store, embedder, config, [ROOT / "corpus" / "sops"], progress=False)
    sops = SopVectors(store)
    sample_tickets = [json.loads(line) for line in (ROOT / "corpus" / "tickets" / "tickets_2025.jsonl")
                      .read_text(encoding="utf-8").splitlines()]
    T, t_topic = synth_vectors(sops.X, args.tickets, args.planted, 0.05, 0.10, rng)
    with store.transaction():
        for i in range(0 if reuse else args.tickets):
            src = sample_tickets[i % len(sample_tickets)]
            created = (NOW - timedelta(days=int(rng_dates.integers(0, 720)))).isoformat()
            q, a = src["question"], src["answer"]
            doc = Document(id=f"SYN-{i}", type="ticket", title=f"{src['subject']} #{i}",
                           body=f"Question:\n{q}\n\nResolution:\n{a}", source_path="",
                           metadata={"question": q, "answer": a, "subject": src["subject"], "created_at": created})
            ch = Chunk(doc_id=doc.id, ord=0, heading="", text=doc.body[:400], kind="text")
            store.save_document(doc, [ch], T[i:i + 1], by="bench")
    ticket_setup = time.perf_counter() - t0

    t0 = time.perf_counter()
    n_distinct = max(1, int(args.queries * args.distinct))
    rng = np.random.default_rng(2)  # queries: independent of the ticket setup, so --reuse regenerates them
    Q, q_topic = synth_vectors(sops.X, n_distinct, args.planted, 0.10, 0.10, rng)
    texts = [f"synthetic query {i} about topic {q_topic[i]}" for i in range(n_distinct)]
    qlog = QueryLog(store, config)
    agents = [f"agent-{k}" for k in range(200)]
    entries = []
    for _ in range(args.queries):
        i = int(rng.integers(0, n_distinct))
        uncovered = q_topic[i] != -1
        fails = prng.random() < (0.9 if uncovered else args.failed * 0.5)
        entries.append((i, fails))
    db = store.db
    if reuse:
        entries = []
    with store.transaction():
        rows = []
        for i, fails in entries:
            red = texts[i]
            h = content_hash(red.lower())
            ts = iso(NOW - timedelta(days=int(rng.integers(0, 89)), minutes=int(rng.integers(0, 1440))))
            top = 0.2 if fails else 0.6
            results = json.dumps([{"id": "sop-refunds", "type": "sop", "score": 0.03, "dense_score": top}])
            rows.append((ts, "search", red, h, "hybrid", "", prng.choice(agents), results, top, 0, None, 0))
        db.executemany("INSERT INTO query_log(ts, kind, query, query_hash, mode, user_id, agent, results, top_score, "
                       "abstained, confidence, redactions) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    if not reuse:
        qlog.put_vectors({content_hash(texts[i].lower()): Q[i] for i in range(n_distinct)}, model=embedder.name)
    query_setup = time.perf_counter() - t0

    # logging cost per request, as the search page pays it (redaction with and without names),
    # measured in a scratch database so that the benchmark's log stays as generated
    scratch = open_store(work / "bench-logging.db")
    plain = QueryLog(scratch, config)
    named = QueryLog(scratch, config.with_overrides(querylog_redact_names=True))
    named.log("warm up, Sarah Jones", [], ts=NOW)
    costs = {}
    for name, ql in (("patterns", plain), ("patterns_and_names", named)):
        t = time.perf_counter()
        for k in range(200):
            ql.log(f"my name is Sarah Jones, order {k} is late, card 4111 1111 1111 1111", [], agent="x", ts=NOW)
        costs[name] = round((time.perf_counter() - t) / 200 * 1000, 2)
    scratch.close()
    for f in work.glob("bench-logging.db*"):
        f.unlink()

    # -- the raw cost of embedding, on real texts ------------------------------------------------
    eval_q = [json.loads(line)["query"] for line in (ROOT / "corpus" / "eval" / "queries.jsonl").read_text()
              .splitlines()]
    qtexts = [eval_q[k % len(eval_q)] + ("" if k < len(eval_q) else f" {k}") for k in range(args.embed_sample)]
    embedder.encode_queries(qtexts[:16])
    t = time.perf_counter()
    embedder.encode_queries(qtexts)
    q_per_s = len(qtexts) / (time.perf_counter() - t)
    ttexts = [f"{s['subject']}\nQuestion:\n{s['question']}\n\nResolution:\n{s['answer']}"
              for s in sample_tickets[: args.embed_sample]]
    t = time.perf_counter()
    embedder.encode_documents(ttexts)
    d_per_s = len(ttexts) / (time.perf_counter() - t)

    # -- the reports ----------------------------------------------------------------------------
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    gaps, gaps_s, gaps_peak = measure(lambda: content_gaps(store, config, now=NOW), args.repeat)
    tickets, tickets_s, tickets_peak = measure(lambda: ticket_coverage(store, config, now=NOW), args.repeat)
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    q_topic_of = {texts[i]: int(q_topic[i]) for i in range(n_distinct) if q_topic[i] >= 0}
    gap_rec = recovery([set(g.queries) for g in gaps.groups], q_topic_of, args.planted)
    t_topic_of = {f"SYN-{i}": int(t_topic[i]) for i in range(args.tickets) if t_topic[i] >= 0}
    ticket_rec = recovery([set(g.ticket_ids) for g in tickets.groups], t_topic_of, args.planted)

    out = {
        "sizes": {"logged_queries": args.queries, "distinct_queries": n_distinct, "tickets": args.tickets,
                  "sop_chunks": len(sops), "planted_topics": args.planted},
        "vectors": "synthetic (SOP chunk vectors + noise, cosine ~0.65; planted topics; one-offs); see docstring",
        "setup_s": {"tickets": round(ticket_setup, 1), "query_log": round(query_setup, 1)},
        "logging_ms_per_request": costs,
        "embedding": {"queries_per_s": round(q_per_s, 1), "ticket_texts_per_s": round(d_per_s, 1),
                      "estimated_s_to_embed_distinct_queries": round(n_distinct / q_per_s, 1),
                      "estimated_s_to_embed_tickets": round(args.tickets / d_per_s, 1)},
        "gaps": {"median_s": round(gaps_s, 2), "peak_traced_mb": round(gaps_peak / 2**20, 1),
                 "failed_requests": gaps.failed, "groups": len(gaps.groups),
                 "clustering": {k: v for k, v in gaps.clustering.items() if k != "candidates"}, **gap_rec},
        "tickets": {"median_s": round(tickets_s, 2), "peak_traced_mb": round(tickets_peak / 2**20, 1),
                    "weak_tickets": tickets.weak, "candidates": tickets.candidates, "groups": len(tickets.groups),
                    "clustering": {k: v for k, v in tickets.clustering.items() if k != "candidates"}, **ticket_rec},
        "process_peak_rss_mb": {"before_reports": round(rss0 / 1024, 1), "after_reports": round(rss1 / 1024, 1)},
    }
    print(json.dumps(out, indent=2))
    print(f"\n| report | size | median time | peak traced memory | raw embedding cost (estimated) |\n|---|---|---:|---:|---:|\n"
          f"| gaps | {args.queries:,} logged, {gaps.failed:,} failed, {n_distinct:,} distinct | {gaps_s:.2f} s | "
          f"{gaps_peak / 2**20:.0f} MB | {n_distinct / q_per_s:,.0f} s for {n_distinct:,} queries |\n"
          f"| tickets | {args.tickets:,} tickets, {tickets.candidates:,} grouped | {tickets_s:.2f} s | "
          f"{tickets_peak / 2**20:.0f} MB | {args.tickets / d_per_s:,.0f} s for {args.tickets:,} tickets |")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
