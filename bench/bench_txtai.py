"""Benchmark: Deskbook and txtai side by side on the same rows, the same vectors and the same model.

txtai is not a dependency of Deskbook: install it in a throwaway virtual environment that sees this
project's packages, and run this script with that environment's Python:

    python -m venv /tmp/txtai-venv
    echo "$PWD/.venv/lib/python3.11/site-packages" > /tmp/txtai-venv/lib/python3.11/site-packages/deskbook.pth
    /tmp/txtai-venv/bin/pip install --no-deps txtai
    /tmp/txtai-venv/bin/python bench/bench_txtai.py --db /tmp/deskbook-bench/synthetic-100000.db

The knowledge base is bench_search.py's synthetic one. txtai indexes the very same chunk texts and
vectors (its `external` vector method hands it Deskbook's stored vectors; the query is encoded with
the same all-MiniLM-L6-v2 at search time), with FAISS and, for hybrid, its own BM25 index. Every
search is timed end to end, query encoding included, and reported as a ratio to one query encode
measured in the same run (the machine is shared: read the ratios).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def timed(fn, queries) -> list[float]:
    out = []
    for q in queries:
        t = time.perf_counter()
        fn(q)
        out.append((time.perf_counter() - t) * 1000)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", required=True)
    ap.add_argument("--queries", type=int, default=200)
    args = ap.parse_args()

    from txtai import Embeddings

    from kb.config import load_config
    from kb.embed import get_embedder
    from kb.search import Searcher
    from kb.storage import open_store

    config = load_config(db=args.db, data_dir=str(Path(args.db).parent))
    store = open_store(args.db, create=False)
    embedder = get_embedder(config)
    searcher = Searcher(store, config, embedder, resident=True)  # the web app's (in-memory lexical copy)
    if searcher.memory is not None:
        from kb.lexical_memory import store_generation

        searcher.memory.wait(store_generation(store.get_meta))
    base = [json.loads(x)["query"] for x in (ROOT / "corpus/eval/queries.jsonl").read_text().splitlines() if x.strip()]
    queries = [f"{q} {w}" for w in ("", "please", "today") for q in base][: args.queries]

    # the same rows for txtai: chunk texts with their stored vectors
    vec_of: dict[int, np.ndarray] = {}
    for ids, mat in store.iter_vectors():
        vec_of.update(zip(ids.tolist(), mat, strict=True))
    ids = sorted(vec_of)
    texts = {}
    for i in range(0, len(ids), 5000):
        texts.update({c: ch.text for c, ch in store.get_chunks_by_ids(ids[i:i + 5000]).items()})
    by_text = {texts[c]: vec_of[c] for c in ids}

    def transform(inputs):
        return np.vstack([by_text[t] if t in by_text else embedder.encode_queries([t])[0] for t in inputs])

    rows = [(c, texts[c], None) for c in ids]
    t = time.perf_counter()
    dense = Embeddings({"method": "external", "transform": transform, "backend": "faiss", "content": False})
    dense.index(rows)
    t_dense = time.perf_counter() - t
    t = time.perf_counter()
    hybrid = Embeddings({"method": "external", "transform": transform, "backend": "faiss", "content": False,
                         "hybrid": True})
    hybrid.index(rows)
    t_hybrid = time.perf_counter() - t

    searcher.search(queries[0], k=10)
    dense.search(queries[0], 10)
    hybrid.search(queries[0], 10)
    fns = {
        "query encode (one query)": lambda q: embedder.encode_queries([q]),
        "deskbook dense": lambda q: searcher.search(q, k=10, mode="dense", snippets=False),
        "txtai dense": lambda q: dense.search(q, 10),
        "deskbook hybrid": lambda q: searcher.search(q, k=10, mode="hybrid", snippets=False),
        "txtai hybrid (BM25 + dense)": lambda q: hybrid.search(q, 10),
        "deskbook lexical": lambda q: searcher.search(q, k=10, mode="lexical", snippets=False),
        "deskbook hybrid, with snippets": lambda q: searcher.search(q, k=10, mode="hybrid"),
    }
    # Interleaved query by query, in a rotating order: on a shared machine the load drifts during a
    # run, and timing each row's 200 queries one row after the other would measure the drift.
    runs: dict[str, list[float]] = {name: [] for name in fns}
    names = list(fns)
    for i, q in enumerate(queries):
        for name in names[i % len(names):] + names[:i % len(names)]:
            runs[name].extend(timed(fns[name], [q]))
    enc = statistics.median(runs["query encode (one query)"])
    load = os.getloadavg()[0]
    print(f"\n## Deskbook and txtai at {len(ids):,} chunks ({len(queries)} queries, k=10, end to end with the "
          f"query encode; Deskbook index: {searcher.index.describe().get('kind')}; txtai indexed in "
          f"{t_dense:.0f} s dense, {t_hybrid:.0f} s hybrid; load average {load:.1f})\n")
    print("| what | p50 ms | p95 ms | p50 / encode | p95 / encode |")
    print("|---|---:|---:|---:|---:|")
    for name, lat in runs.items():
        print(f"| {name} | {statistics.median(lat):.2f} | {pct(lat, 95):.2f} | {statistics.median(lat) / enc:.2f} | "
              f"{pct(lat, 95) / enc:.2f} |")

    # What the speed buys: recall@10 of each dense index against an exact scan of the same vectors.
    mat = np.vstack([vec_of[c] for c in ids]).astype(np.float32)
    id_arr = np.asarray(ids)
    got = {"deskbook dense (FAISS index)": [], "txtai dense (FAISS index)": []}
    for q in queries:
        qv = embedder.encode_queries([q])[0]
        exact = set(id_arr[np.argsort(-(mat @ qv))[:10]].tolist())
        mine = {int(c) for c, _ in searcher.index.search(qv, 10)}
        theirs = {int(r[0]) for r in dense.search(q, 10)}
        got["deskbook dense (FAISS index)"].append(len(mine & exact) / 10)
        got["txtai dense (FAISS index)"].append(len(theirs & exact) / 10)
    print("\n| dense index | recall@10 against an exact scan |")
    print("|---|---:|")
    for name, r in got.items():
        print(f"| {name} | {np.mean(r):.3f} |")


if __name__ == "__main__":
    main()
