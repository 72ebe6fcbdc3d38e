"""Benchmark: indexing throughput and search latency (not a test; prints tables).

    python bench/bench_search.py [--sizes 10000 100000] [--queries 200] [--workdir /tmp/deskbook-bench]

1. Indexing: `deskbook index` on corpus/ (chunks per second) next to the raw `model.encode`
   throughput on the same chunk texts, in the same run: the pipeline's overhead as a ratio.
2. Search latency p50/p95 per mode at each size, end to end (the query is encoded by the search, as
   in real use), as ratios to one query encode measured in the same run; and a brute-force numpy
   scan of the same vectors (retrieval only, the baseline). The searcher is the web app's (an in-memory
   copy of the lexical index, kb.lexical_memory); the rows marked FTS5 are the same searches without
   it, as a one-off CLI search runs them.
3. A cold `deskbook search` from the shell against a cold Python that imports the model and encodes
   one query (subprocesses, median of --cold runs).

Synthetic knowledge bases: tickets made by recombining sentences of the sample tickets. Only the
first `--embed` texts are embedded with the real model; the rest of the vectors are those
vectors with Gaussian noise (renormalised), since embedding 100k texts takes ~10 minutes on 2
cores. FTS and FAISS see realistic sizes either way.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from indexer.pipeline import index_paths  # noqa: E402
from kb.config import load_config  # noqa: E402
from kb.embed import DOCUMENT_BATCH, get_embedder  # noqa: E402
from kb.lexical_memory import store_generation  # noqa: E402
from kb.models import AGENT_STATUSES, Chunk, Document  # noqa: E402
from kb.search import Searcher  # noqa: E402
from kb.storage import open_store  # noqa: E402
from kb.text import split_sentences  # noqa: E402


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def bench_indexing(workdir: Path, config, embedder) -> dict:
    db = workdir / "index-bench.db"
    for f in workdir.glob("index-bench.db*"):
        f.unlink()
    store = open_store(db)
    embedder.encode_documents(["warm up the model"] * 8)  # the first batch pays one-time setup: not the pipeline's
    t = time.perf_counter()
    report = index_paths(store, embedder, config, [ROOT / "corpus" / "sops", ROOT / "corpus" / "tickets"],
                         progress=False)
    pipeline_s = time.perf_counter() - t
    t = time.perf_counter()
    index_paths(store, embedder, config, [ROOT / "corpus" / "sops", ROOT / "corpus" / "tickets"], progress=False)
    unchanged_s = time.perf_counter() - t
    texts = []
    for d in store.list_documents():
        texts.extend(c.embed_text(d.title) for c in store.get_chunks(d.id))
    # the raw encode at the batch size the indexer encodes with (DOCUMENT_BATCH): on 2 cores, batches of
    # 64 encoded these chunks 15-25% slower than batches of 16, which made the pipeline look faster.
    # Twice: plain float32 `model.encode` (the goal's baseline), and in the indexer's own precision
    # (bfloat16 where the CPU has it: `embedding_precision`), which is what the pipeline's overhead is.
    t = time.perf_counter()
    embedder.model.encode(texts, batch_size=DOCUMENT_BATCH, normalize_embeddings=True)
    encode_s = time.perf_counter() - t
    own_s = encode_s
    if getattr(embedder, "bf16", False):
        with embedder._precision():
            t = time.perf_counter()
            embedder.model.encode(texts, batch_size=DOCUMENT_BATCH, normalize_embeddings=True)
            own_s = time.perf_counter() - t
    return {"chunks": len(texts), "pipeline_chunks_per_s": len(texts) / pipeline_s,
            "encode_chunks_per_s": len(texts) / encode_s, "overhead_ratio": pipeline_s / encode_s,
            "pipeline_s": pipeline_s, "encode_s": encode_s, "own_s": own_s, "own_ratio": pipeline_s / own_s,
            "documents": report.added, "unchanged_s": unchanged_s}


def synthetic_store(workdir: Path, n: int, embedder, n_embed: int, config) -> tuple:
    db = workdir / f"synthetic-{n}.db"
    store = open_store(db)
    if store.count_chunks() >= n:
        return store
    rng = random.Random(42)
    src = [json.loads(x) for x in (ROOT / "corpus" / "tickets" / "tickets_2025.jsonl").read_text().splitlines()
           if x.strip()]
    qs = [s for t in src for s in split_sentences(t["question"])]
    ans = [s for t in src for s in split_sentences(t["answer"])]
    texts = []
    for i in range(n):
        q = " ".join(rng.sample(qs, 2))
        a = " ".join(rng.sample(ans, 2))
        texts.append((f"SYN-{i}", q, a))
    base = embedder.encode_documents([f"{q}\n{a}" for _, q, a in texts[:n_embed]], progress=True)
    vecs = np.empty((n, base.shape[1]), dtype=np.float32)
    vecs[:n_embed] = base
    nrng = np.random.default_rng(0)
    for i in range(n_embed, n):
        v = base[i % n_embed] + nrng.normal(0, 0.35 / np.sqrt(base.shape[1]) * 4, base.shape[1])
        vecs[i] = v / np.linalg.norm(v)
    store.set_meta("model", embedder.name)
    t = time.perf_counter()
    for start in range(0, n, 2000):
        with store.transaction():
            for i in range(start, min(n, start + 2000)):
                tid, q, a = texts[i]
                body = f"Question:\n{q}\n\nResolution:\n{a}\n"
                doc = Document(id=tid, type="ticket", title=q[:60], body=body, tags=["synthetic"])
                store.save_document(doc, [Chunk(tid, 0, "", body.strip(), 0, len(body.strip()), "ticket")],
                                    vecs[i:i + 1], by="bench")
        print(f"\rwriting synthetic KB: {min(n, start + 2000)}/{n}", end="", file=sys.stderr)
    print(f"  ({time.perf_counter() - t:.0f} s)", file=sys.stderr)
    return store


def bench_search(store, config, embedder, queries: list[str]) -> dict:
    searcher = Searcher(store, config, embedder, resident=True)  # as in the web app
    t = time.perf_counter()
    searcher.index.refresh()  # loads the FAISS file, or builds it the first time
    meta = searcher.index.describe()
    build_s = time.perf_counter() - t
    t = time.perf_counter()
    copy = searcher.memory.wait(store_generation(store.get_meta)) if searcher.memory is not None else None
    copy_s, copy_mb = time.perf_counter() - t, (copy.nbytes / 1e6 if copy is not None else 0.0)
    searcher.search(queries[0], k=10)  # load lingua, the FAISS file and the caches once
    searcher.search(queries[0], k=10, sop_statuses=AGENT_STATUSES)
    enc, enc_torch = [], []
    for q in queries:
        t = time.perf_counter()
        embedder.encode_queries([q])
        enc.append((time.perf_counter() - t) * 1000)
        if getattr(embedder, "_onnx", None) is not None:  # the same query through torch, for the ratio
            t = time.perf_counter()
            embedder.model.encode([q], normalize_embeddings=True)
            enc_torch.append((time.perf_counter() - t) * 1000)
    all_vecs = np.vstack([m for _, m in store.iter_vectors()])
    rows = {}
    for mode in ("lexical", "dense", "hybrid"):
        lat = []
        for q in queries:
            t = time.perf_counter()
            searcher.search(q, k=10, mode=mode)
            lat.append((time.perf_counter() - t) * 1000)
        rows[mode] = lat
    lat = []
    for q in queries:  # what agents run: published SOPs only (and every ticket)
        t = time.perf_counter()
        searcher.search(q, k=10, mode="hybrid", sop_statuses=AGENT_STATUSES)
        lat.append((time.perf_counter() - t) * 1000)
    rows["hybrid, agents' filter (published SOPs, every ticket)"] = lat
    memory, searcher.memory = searcher.memory, None  # as a CLI search: FTS5 answers the lexical side
    for mode in ("lexical", "hybrid"):
        lat = []
        for q in queries:
            t = time.perf_counter()
            searcher.search(q, k=10, mode=mode)
            lat.append((time.perf_counter() - t) * 1000)
        rows[f"{mode}, lexical side in FTS5 (no in-memory copy)"] = lat
    searcher.memory = memory
    qvecs = embedder.encode_queries(queries)
    lat = []
    for v in qvecs:
        t = time.perf_counter()
        s = all_vecs @ v
        top = np.argpartition(-s, 10)[:10]
        top[np.argsort(-s[top])]
        lat.append((time.perf_counter() - t) * 1000)
    rows["numpy scan of the vectors (retrieval only)"] = lat
    return {"index": meta["kind"], "build_s": build_s, "copy_s": copy_s, "copy_mb": copy_mb, "encode_ms": enc, "encode_torch_ms": enc_torch, "rows": rows,
            "n": store.count_chunks()}


def bench_cold(db: Path, runs: int) -> dict:
    """Wall time of a cold `deskbook search` and of a cold import-the-model-and-encode-one-query, for each
    of the first `runs` dev questions (a fixed set; one query would measure whatever its language
    detection needs: most queries are read by lingua's quick detector, some need the full one)."""
    import subprocess

    env = {**__import__("os").environ, "HF_HUB_OFFLINE": "1"}
    questions = [json.loads(x)["query"] for x in (ROOT / "corpus/eval/queries.jsonl").read_text().splitlines()
                 if x.strip()][:runs]
    out: dict[str, list[float]] = {"search": [], "encode": [], "search, torch": [], "encode, torch": []}
    torch_env = {**env, "DESKBOOK_QUERY_ENCODER": "torch"}  # as before kb.embed_onnx: torch for the query
    for q in questions:
        search_cmd = [sys.executable, "-c", "from kb.cli import main; main()", "search", q, "--db", str(db),
                      "--k", "5"]
        encode_cmd = [sys.executable, "-c", "import sys; from kb.config import load_config; "
                      "from kb.embed import get_embedder; get_embedder(load_config()).encode_queries([sys.argv[1]])", q]
        for name, cmd, e in (("search", search_cmd, env), ("encode", encode_cmd, env),
                             ("search, torch", search_cmd, torch_env), ("encode, torch", encode_cmd, torch_env)):
            t = time.perf_counter()
            subprocess.run(cmd, env=e, cwd=str(ROOT), check=True, capture_output=True)
            out[name].append(time.perf_counter() - t)
    out["questions"] = questions
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10000, 100000])
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--embed", type=int, default=10000, help="texts embedded for real per synthetic KB")
    ap.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "deskbook-bench"))
    ap.add_argument("--skip-indexing", action="store_true")
    ap.add_argument("--cold", type=int, default=5, help="cold-start runs of each command, one dev question each "
                    "(0 = skip)")
    ap.add_argument("--cold-db", default="", help="knowledge base of the cold runs (default: corpus/ indexed)")
    args = ap.parse_args()
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    config = load_config(data_dir=str(workdir))
    embedder = get_embedder(config)
    queries = [json.loads(x)["query"] for x in (ROOT / "corpus" / "eval" / "queries.jsonl").read_text().splitlines()
               if x.strip()]
    queries = (queries * (args.queries // len(queries) + 1))[: args.queries]

    if not args.skip_indexing:
        # With ticket redaction (the default: the name model reads every ticket field, work the raw
        # encode does not do) and without it (the pipeline's own cost around the encode).
        r = bench_indexing(workdir, config, embedder)
        plain = bench_indexing(workdir, config.with_overrides(redact_pii=False), embedder)
        own = "bfloat16" if getattr(embedder, "bf16", False) else "float32"
        print(f"\n## Indexing throughput (corpus/: SOPs + tickets; document batches in {own})\n")
        print("| what | chunks | seconds | chunks/s | of the raw float32 encode's | of the raw encode's in "
              "the indexer's precision |")
        print("|---|---:|---:|---:|---:|---:|")
        for name, x in (("deskbook index (read, redact, chunk, embed, store, FAISS)", r),
                        ("deskbook index, redact_pii = false", plain)):
            print(f"| {name} | {x['chunks']} | {x['pipeline_s']:.1f} | {x['pipeline_chunks_per_s']:.1f} | "
                  f"{1 / x['overhead_ratio']:.2f} | {1 / x['own_ratio']:.2f} |")
            print(f"| raw model.encode (float32), same texts | {x['chunks']} | {x['encode_s']:.1f} | "
                  f"{x['encode_chunks_per_s']:.1f} | 1.00 | |")
            if own != "float32":
                print(f"| raw model.encode in {own}, same texts | {x['chunks']} | {x['own_s']:.1f} | "
                      f"{x['chunks'] / x['own_s']:.1f} | | 1.00 |")
        print(f"\npipeline throughput: {1 / r['overhead_ratio']:.2f} of the raw float32 encode's with redaction, "
              f"{1 / plain['overhead_ratio']:.2f} without (goal >= 0.9); of the raw encode in {own}: "
              f"{1 / r['own_ratio']:.2f} and {1 / plain['own_ratio']:.2f}; the same corpus again, unchanged: "
              f"{r['unchanged_s']:.2f} s; load average {__import__('os').getloadavg()[0]:.1f}")

    for n in args.sizes:
        store = synthetic_store(workdir, n, embedder, min(args.embed, n), config)
        res = bench_search(store, config, embedder, queries)
        enc = statistics.median(res["encode_ms"])
        print(f"\n## Search latency at {res['n']:,} chunks ({res['index']} index, loaded or built in {res['build_s']:.1f} s; "
              f"{len(queries)} queries, k=10, end to end; load average {__import__('os').getloadavg()[0]:.1f}; "
              f"in-memory lexical copy built in {res['copy_s']:.1f} s, {res['copy_mb']:.0f} MB)\n")
        print("| mode | p50 ms | p95 ms | p50 / encode | p95 / encode |")
        print("|---|---:|---:|---:|---:|")
        print(f"| one query encode | {enc:.2f} | {pct(res['encode_ms'], 95):.2f} | 1.00 | "
              f"{pct(res['encode_ms'], 95) / enc:.2f} |")
        if res["encode_torch_ms"]:
            t50 = statistics.median(res["encode_torch_ms"])
            print(f"| one query encode through torch (sentence-transformers) | {t50:.2f} | "
                  f"{pct(res['encode_torch_ms'], 95):.2f} | {t50 / enc:.2f} | {pct(res['encode_torch_ms'], 95) / enc:.2f} |")
        for mode, lat in res["rows"].items():
            print(f"| {mode} | {statistics.median(lat):.2f} | {pct(lat, 95):.2f} | {statistics.median(lat) / enc:.2f} | "
                  f"{pct(lat, 95) / enc:.2f} |")
    if args.cold:
        db = Path(args.cold_db) if args.cold_db else workdir / "index-bench.db"
        if not db.exists():
            bench_indexing(workdir, config, embedder)
        c = bench_cold(db, args.cold)
        s, e = statistics.median(c["search"]), statistics.median(c["encode"])
        print(f"\n## Cold start ({db.name}: the first {args.cold} dev questions, one run each, median)\n")
        for q, ts, te in zip(c["questions"], c["search"], c["encode"], strict=True):
            print(f"- {ts:.2f} s search / {te:.2f} s encode = {ts / te:.2f}x: {q}")
        print()
        print("| command | seconds |")
        print("|---|---:|")
        print(f"| `deskbook search` (cold shell) | {s:.2f} |")
        print(f"| python: import the model, encode one query | {e:.2f} |")
        st, et = statistics.median(c["search, torch"]), statistics.median(c["encode, torch"])
        print(f"| `deskbook search`, query_encoder = torch | {st:.2f} |")
        print(f"| python: import the torch model, encode one query | {et:.2f} |")
        print(f"\ncold search: {s / e:.2f}x the model import and one encode (goal <= 1.5); {s / et:.2f}x the torch "
              f"model's import and encode; with query_encoder = torch {st / et:.2f}x")


if __name__ == "__main__":
    main()
