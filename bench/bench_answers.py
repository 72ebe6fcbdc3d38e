"""Benchmark and calibration of suggested answers (not a test; prints Markdown tables).

    python bench/bench_answers.py latency [--sizes 100000] [--queries 200] [--cold] [--workdir DIR]
    python bench/bench_answers.py calibrate [--db PATH] [--check-holdout]

latency: answer latency p50/p95 next to plain search latency (both end to end: query encode
included), measured in the same run over the same queries, on the sample corpus and on
synthetic knowledge bases of N chunks (the sample corpus plus synthetic tickets made by
recombining sentences of the sample tickets). Only `--embed` synthetic texts are embedded with
the real model; the other vectors are those with Gaussian noise (renormalised), since embedding
100k texts takes a long time on 2 cores. FTS, FAISS and the answer pipeline see realistic sizes.
Knowledge bases are built in --workdir and reused by later runs.

calibrate: fits the confidence model (kb.answers.CONFIDENCE_MODEL) on corpus/eval/queries.jsonl
plus corpus/eval/out_of_scope.jsonl, prints the coefficients, a leave-one-out estimate, the
threshold trade-off table on those sets, and the same table on queries_holdout.jsonl, which is
only checked, never fitted on.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kb.answers import Answerer, VectorCache, confidence, evaluate_answers, threshold_sweep  # noqa: E402
from kb.config import load_config  # noqa: E402
from kb.embed import get_embedder  # noqa: E402
from kb.evaluate import load_queries  # noqa: E402
from kb.models import Chunk, Document  # noqa: E402
from kb.search import Searcher  # noqa: E402
from kb.storage import open_store  # noqa: E402
from kb.text import split_sentences  # noqa: E402

EVAL = ROOT / "corpus" / "eval"
FEATURES = ("unit", "margin", "coverage")
THRESHOLDS = [0.0, 0.1, 0.2, 0.3, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.9]


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


# -- knowledge bases ------------------------------------------------------------------------------
def corpus_kb(workdir: Path, config, embedder):
    from indexer.pipeline import index_paths

    db = workdir / "corpus.db"
    store = open_store(db)
    if not store.count_chunks():
        index_paths(store, embedder, config, [ROOT / "corpus" / "sops", ROOT / "corpus" / "tickets"], progress=True)
    return store


def synthetic_kb(workdir: Path, n: int, embedder, n_embed: int, config):
    """The sample corpus plus synthetic tickets up to `n` chunks (built once, then reused)."""
    db = workdir / f"answers-{n}.db"
    if not db.exists():
        src = corpus_kb(workdir, config, embedder)
        src.close()
        for suffix in ("", "-wal", "-shm"):
            p = Path(str(workdir / "corpus.db") + suffix)
            if p.exists():
                shutil.copy(p, str(db) + suffix)
    store = open_store(db)
    have = store.count_chunks()
    if have >= n:
        return store
    rng = random.Random(42)
    src = [json.loads(x) for x in (ROOT / "corpus" / "tickets" / "tickets_2025.jsonl").read_text().splitlines()
           if x.strip()]
    qs = [s for t in src for s in split_sentences(t["question"])]
    ans = [s for t in src for s in split_sentences(t["answer"])]
    todo = n - have
    texts = [(f"SYN-{i}", " ".join(rng.sample(qs, 2)), " ".join(rng.sample(ans, 2))) for i in range(todo)]
    k = min(n_embed, todo)
    base = embedder.encode_documents([f"{q}\n{a}" for _, q, a in texts[:k]], progress=True)
    nrng = np.random.default_rng(0)
    vecs = np.empty((todo, base.shape[1]), dtype=np.float32)
    vecs[:k] = base
    for i in range(k, todo):
        v = base[i % k] + nrng.normal(0, 0.35 / np.sqrt(base.shape[1]) * 4, base.shape[1])
        vecs[i] = v / np.linalg.norm(v)
    for start in range(0, todo, 2000):
        with store.transaction():
            for i in range(start, min(todo, start + 2000)):
                tid, q, a = texts[i]
                body = f"Question:\n{q}\n\nResolution:\n{a}"
                doc = Document(id=tid, type="ticket", title=q[:60], body=body, tags=["synthetic"],
                               metadata={"question": q, "answer": a})
                store.save_document(doc, [Chunk(tid, 0, "", body, 0, len(body), "ticket")], vecs[i:i + 1], by="bench")
        print(f"\rwriting synthetic tickets: {min(todo, start + 2000)}/{todo}", end="", file=sys.stderr)
    print(file=sys.stderr)
    return store


# -- latency --------------------------------------------------------------------------------------
def cold_warm_up(store, config, embedder) -> tuple[int, float]:
    """Seconds to split and embed every SOP sentence and step with an empty cache (a first start)."""
    answerer = Answerer(Searcher(store, config, embedder), config, cache=VectorCache(None, embedder.name))
    t = time.perf_counter()
    n = answerer.warm()
    return n, time.perf_counter() - t


def bench_latency(store, config, embedder, queries: list[str]) -> dict:
    searcher = Searcher(store, config, embedder)
    searcher.index.rebuild()
    answerer = Answerer(searcher, config)
    t = time.perf_counter()
    n_units = answerer.warm()  # from <db>.answers.npz when an earlier run left it
    warm_s = time.perf_counter() - t
    for q in queries[:5]:  # warm the model, FAISS and the caches
        searcher.search(q, k=10)
        answerer.answer(q)
    search, answer = [], []
    for i, q in enumerate(queries):
        # interleaved, so both see the same machine load; the order alternates, so neither always
        # finds the pages of the same query warm in the SQLite and OS caches after the other
        pair = [(lambda q=q: searcher.search(q, k=10), search), (lambda q=q: answerer.answer(q), answer)]
        for fn, out in (pair if i % 2 else pair[::-1]):
            t = time.perf_counter()
            fn()
            out.append((time.perf_counter() - t) * 1000)
    return {"n": store.count_chunks(), "search": search, "answer": answer, "warm_s": warm_s, "units": n_units}


def cmd_latency(args) -> None:
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    config = load_config(data_dir=str(workdir))
    embedder = get_embedder(config)
    queries = [q["query"] for q in load_queries(EVAL / "queries.jsonl")]
    queries = (queries * (args.queries // len(queries) + 1))[: args.queries]
    stores = [("sample corpus", corpus_kb(workdir, config, embedder))]
    for n in args.sizes:
        stores.append((f"{n:,} chunks", synthetic_kb(workdir, n, embedder, min(args.embed, n), config)))
    print(f"\n## Answer vs search latency ({len(queries)} queries, end to end incl. query encode, same run)\n")
    print("| knowledge base | chunks | search p50 ms | search p95 ms | answer p50 ms | answer p95 ms | "
          "answer/search p50 | answer/search p95 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, store in stores:
        r = bench_latency(store, config, embedder, queries)
        s50, a50 = statistics.median(r["search"]), statistics.median(r["answer"])
        s95, a95 = pct(r["search"], 95), pct(r["answer"], 95)
        print(f"| {name} | {r['n']:,} | {s50:.1f} | {s95:.1f} | {a50:.1f} | {a95:.1f} | {a50 / s50:.2f} | "
              f"{a95 / s95:.2f} |")
    if args.cold:
        n, secs = cold_warm_up(stores[0][1], config, embedder)
        print(f"\nFirst start with an empty sentence cache: {n} SOP sentences and steps split and embedded in "
              f"{secs:.1f} s (then kept in <db>.answers.npz).")


# -- calibration ----------------------------------------------------------------------------------
def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0, iters: int = 4000) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression by gradient descent on standardised features."""
    mu, sd = x.mean(0), x.std(0) + 1e-9
    z = (x - mu) / sd
    w, b = np.zeros(z.shape[1]), 0.0
    for _ in range(iters):
        p = 1 / (1 + np.exp(-(z @ w + b)))
        w -= 0.5 * (z.T @ (p - y) / len(y) + l2 * w / len(y))
        b -= 0.5 * float((p - y).mean())
    return w / sd, float(b - (mu / sd) @ w)


def _xy(results) -> tuple[np.ndarray, np.ndarray]:
    x = np.array([[float(a.evidence.get(f, 0.0)) for f in FEATURES] for _, a in results])
    y = np.array([1.0 if q["relevant"] and a.evidence.get("main") in q["relevant"] else 0.0 for q, a in results])
    return x, y


def _table(rows: list[dict], answerable_only: bool = False) -> None:
    head = "| threshold | answered correctly | wrong answer | abstained (answerable) |"
    print(head + ("" if answerable_only else " correct abstention (out of scope) |"))
    print("|---:|---:|---:|---:|" + ("" if answerable_only else "---:|"))
    for r in rows:
        line = (f"| {r['threshold']:.2f} | {r['answered_correctly']:.3f} | {r['wrong_answer']:.3f} | "
                f"{r['abstained_answerable']:.3f} |")
        print(line + ("" if answerable_only else f" {r['correct_abstention']:.3f} |"))


def cmd_calibrate(args) -> None:
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    config = load_config(data_dir=str(workdir), answer_threshold=0.0)
    embedder = get_embedder(config)
    store = open_store(args.db) if args.db else corpus_kb(workdir, config, embedder)
    answerer = Answerer(Searcher(store, config, embedder), config)
    answerer.warm()
    fit_q = load_queries(EVAL / "queries.jsonl") + load_queries(EVAL / "out_of_scope.jsonl")
    _, fit_res = evaluate_answers(answerer, fit_q)
    x, y = _xy(fit_res)
    w, b = fit_logistic(x, y)
    model = {"bias": round(b, 3), **{f: round(float(v), 3) for f, v in zip(FEATURES, w, strict=True)}}
    # leave-one-out: how well the model ranks questions it was not fitted on
    loo = []
    for i in range(len(y)):
        m = np.arange(len(y)) != i
        wi, bi = fit_logistic(x[m], y[m], iters=1500)
        loo.append(1 / (1 + np.exp(-(x[i] @ wi + bi))))
    loo = np.array(loo)
    pos, neg = loo[y == 1], loo[y == 0]
    auc = float(np.mean([(p > n) + 0.5 * (p == n) for p in pos for n in neg]))
    print(f"CONFIDENCE_MODEL = {model}")
    print(f"fitted on {len(y)} questions ({int(y.sum())} with the right main SOP); leave-one-out AUC {auc:.3f}")

    def rescore(results):
        for _, a in results:
            a.confidence = round(confidence(a.evidence, model), 4)
        return results

    print("\n### Dev queries + out-of-scope questions (fitted on these)\n")
    _table(threshold_sweep(rescore(fit_res), THRESHOLDS))
    if not args.check_holdout:
        return
    _, hold = evaluate_answers(answerer, load_queries(EVAL / "queries_holdout.jsonl"))
    print("\n### Holdout queries (checked only)\n")
    _table(threshold_sweep(rescore(hold), THRESHOLDS), answerable_only=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    lat = sub.add_parser("latency")
    lat.add_argument("--sizes", type=int, nargs="*", default=[100000])
    lat.add_argument("--queries", type=int, default=200)
    lat.add_argument("--embed", type=int, default=3000, help="synthetic texts embedded for real per knowledge base")
    lat.add_argument("--cold", action="store_true", help="also time a first start with an empty sentence cache")
    cal = sub.add_parser("calibrate")
    cal.add_argument("--db", default=None, help="an indexed corpus (default: build one in --workdir)")
    cal.add_argument("--check-holdout", action="store_true", help="also print the table on queries_holdout.jsonl")
    for p in (lat, cal):
        p.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "deskbook-bench-answers"))
    args = ap.parse_args()
    {"latency": cmd_latency, "calibrate": cmd_calibrate}[args.cmd](args)


if __name__ == "__main__":
    main()
