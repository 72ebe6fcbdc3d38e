"""Benchmark: the lexical side of a search, Deskbook's in-memory BM25 copy next to FTS5, bm25s and tantivy.

    pip install bm25s tantivy          # for this benchmark only: not dependencies of Deskbook
    python bench/bench_lexical.py [--size 100000] [--queries 200] [--db PATH]

Issue 14 asked to "move lexical search to a faster BM25 implementation such as bm25s or tantivy behind the
store's interface: measure before choosing". Deskbook keeps FTS5 as the index (it is in the one SQLite file,
updated in the same transaction as the documents) and, in long-running processes, an in-memory copy of it
(`kb/lexical_memory.py`, a sparse matrix of per-term BM25 parts with FTS5's own scores). This benchmark
puts the two libraries next to both, on the same chunks and the same analysed query terms:

- the chunks are the synthetic knowledge base of `bench_search.py` (sentences of the sample tickets, two
  questions and two answers per chunk), read back as the lexical index holds them: stemmed and stop-word
  free, title, heading and text;
- each query is a dev question with filler words (as `bench_load.py`), read and pruned by the searcher
  exactly as a hybrid search reads it; every engine gets the same terms and returns its best 50;
- bm25s (`method="robertson"`, k1 1.2, b 0.75, FTS5's constants) indexes the title four times, the heading
  twice and the text once, FTS5's column weights; tantivy indexes the three fields (whitespace tokenizer)
  and boosts the term queries 4 : 2 : 1.

It prints, per engine: build time, the resident memory the process gained while building (which counts a
build's temporaries that the allocator keeps), the arrays the index holds where they can be counted, query
p50 / p95 in ms, and how many of FTS5's top 10 it also returns in its top 10 (1.0: the same results).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

LIMIT = 50
FILLERS = ["please", "today", "again", "urgent", "asap", "help", "still", "now", "customer", "quickly", "order",
           "thanks", "really", "ok", "asked", "about"]


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def pct(values: list[float], p: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def queries(n: int) -> list[str]:
    base = [json.loads(x)["query"] for x in (ROOT / "corpus/eval/queries.jsonl").read_text().splitlines() if x.strip()]
    rng = random.Random(7)
    return [f"{base[i % len(base)]} {' '.join(rng.choice(FILLERS) for _ in range(1 + i % 3))}" for i in range(n)]


def timed(fn, items) -> tuple[list, list[float]]:
    out, ms = [], []
    for x in items:
        t = time.perf_counter()
        out.append(fn(x))
        ms.append((time.perf_counter() - t) * 1000)
    return out, ms


def overlap(a: list[int], b: list[int], k: int = 10) -> float:
    top = set(b[:k])
    return len(set(a[:k]) & top) / len(top) if top else 1.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=100_000, help="chunks in the synthetic knowledge base")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--db", help="an existing knowledge base instead of the synthetic one")
    ap.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "deskbook-bench"))
    args = ap.parse_args()

    import scipy.sparse  # noqa: F401 - imported before any engine's memory is measured

    from kb.config import load_config
    from kb.embed import get_embedder
    from kb.lexical_memory import MemoryLexical, store_generation
    from kb.search import NO_FILTERS, Searcher
    from kb.storage import open_store
    try:  # the same for the libraries compared
        import bm25s  # noqa: F401
        import tantivy  # noqa: F401
    except ImportError:
        pass

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    config = load_config(data_dir=str(workdir))
    embedder = get_embedder(config)
    if args.db:
        store = open_store(args.db)
    else:
        from bench_search import synthetic_store

        store = synthetic_store(workdir, args.size, embedder, min(2000, args.size), config)
    searcher = Searcher(store, config, embedder)
    texts = queries(args.queries)
    readings = [searcher.prune_common(searcher.parse(q).lexical) for q in texts]
    terms = [list(dict.fromkeys(t for r in q.readings() for t in r.terms)) for q in readings]
    n = store.count_chunks()
    print(f"{n} chunks, {len(texts)} queries, {statistics.fmean(len(t) for t in terms):.1f} terms a query "
          f"after pruning", file=sys.stderr)

    rows: list[dict] = []
    # FTS5, as a one-off CLI search runs it
    fts, ms = timed(lambda q: [i for i, _ in store.lexical_search(q, LIMIT, NO_FILTERS)], readings)
    rows.append({"engine": "FTS5 (SQLite, the index itself)", "build_s": 0.0, "mb": 0.0, "held": None, "ms": ms,
                 "agree": 1.0})

    gc.collect()
    before, t = rss_mb(), time.perf_counter()
    memory = MemoryLexical(store)
    matrix = memory.wait(store.generations(), timeout=600)
    build, added = time.perf_counter() - t, rss_mb() - before
    if matrix is None:
        sys.exit("the in-memory copy could not be built (see the log)")
    got, ms = timed(lambda q: [i for i, _ in matrix.search(q, LIMIT)], readings)
    rows.append({"engine": "Deskbook in-memory copy (kb/lexical_memory.py)", "build_s": build, "mb": added,
                 "held": matrix.nbytes / 1e6, "ms": ms, "agree": statistics.fmean(overlap(a, b) for a, b in zip(got, fts, strict=True))})

    ids, docs, fields = [], [], []
    with store.lexical_snapshot() as (get_meta, _vocab, snapshot):
        del get_meta
        for rowid, title, heading, text, _lang in snapshot:
            ids.append(int(rowid))
            fields.append((title or "", heading or "", text or ""))
    print(f"read {len(ids)} analysed rows (generation {store_generation(store.get_meta)})", file=sys.stderr)

    try:
        import bm25s
    except ImportError:
        print("bm25s is not installed: pip install bm25s", file=sys.stderr)
    else:
        docs = [(ti.split() * 4) + (he.split() * 2) + tx.split() for ti, he, tx in fields]
        gc.collect()
        before, t = rss_mb(), time.perf_counter()
        retriever = bm25s.BM25(k1=1.2, b=0.75, method="robertson")
        retriever.index(docs, show_progress=False)
        build, added = time.perf_counter() - t, rss_mb() - before
        del docs
        vocab = retriever.vocab_dict

        def bm25s_search(q: list[str]) -> list[int]:
            known = [w for w in q if w in vocab]
            if not known:
                return []
            res, _scores = retriever.retrieve([known], k=LIMIT, show_progress=False, n_threads=0)
            return [ids[int(i)] for i in res[0]]

        got, ms = timed(bm25s_search, terms)
        held = sum(a.nbytes for a in retriever.scores.values() if hasattr(a, "nbytes")) / 1e6
        rows.append({"engine": f"bm25s {bm25s.__version__} (robertson, fields repeated 4:2:1)", "build_s": build,
                     "mb": added, "held": held, "ms": ms,
                     "agree": statistics.fmean(overlap(a, b) for a, b in zip(got, fts, strict=True))})

    try:
        import tantivy
    except ImportError:
        print("tantivy is not installed: pip install tantivy", file=sys.stderr)
    else:
        sb = tantivy.SchemaBuilder()
        sb.add_integer_field("rowid", stored=True, indexed=False)
        for name in ("title", "heading", "text"):
            sb.add_text_field(name, tokenizer_name="whitespace", index_option="freq")
        schema = sb.build()
        gc.collect()
        before, t = rss_mb(), time.perf_counter()
        index = tantivy.Index(schema, path=None)
        writer = index.writer(heap_size=200_000_000, num_threads=1)
        for rowid, (ti, he, tx) in zip(ids, fields, strict=True):
            writer.add_document(tantivy.Document(rowid=rowid, title=ti, heading=he, text=tx))
        writer.commit()
        writer.wait_merging_threads()
        index.reload()
        searcher_t = index.searcher()
        build, added = time.perf_counter() - t, rss_mb() - before
        boosts = {"title": 4.0, "heading": 2.0, "text": 1.0}

        def tantivy_search(q: list[str]) -> list[int]:
            clauses = [(tantivy.Occur.Should, tantivy.Query.boost_query(tantivy.Query.term_query(schema, f, w), b))
                       for w in q for f, b in boosts.items()]
            if not clauses:
                return []
            hits = searcher_t.search(tantivy.Query.boolean_query(clauses), LIMIT).hits
            return [searcher_t.doc(addr)["rowid"][0] for _score, addr in hits]

        got, ms = timed(tantivy_search, terms)
        rows.append({"engine": "tantivy (3 fields, boosts 4:2:1)",
                     "build_s": build, "mb": added, "held": None, "ms": ms,
                     "agree": statistics.fmean(overlap(a, b) for a, b in zip(got, fts, strict=True))})

    print(f"\n{n} chunks, {len(texts)} queries (best {LIMIT} each), load average {os.getloadavg()[0]:.1f}\n")
    print("| engine | build s | resident memory added MB | arrays held MB | p50 ms | p95 ms | FTS5's top 10 found |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        held = "" if r["held"] is None else f"{r['held']:.0f}"
        print(f"| {r['engine']} | {r['build_s']:.1f} | {r['mb']:.0f} | {held} | {statistics.median(r['ms']):.2f} | "
              f"{pct(r['ms'], 95):.2f} | {r['agree']:.2f} |")


if __name__ == "__main__":
    main()
