"""Benchmark: the PostgreSQL backend next to SQLite, in one run (not a test; prints tables).

    python bench/bench_storage.py [--n 100000] [--queries 100] [--qa 12] [--workdir /tmp/deskbook-bench-storage]

1. `store copy` rows per second: the synthetic knowledge base of `--n` chunks (bench_search.py's:
   recombined sample tickets, 2,000 really embedded, the rest noisy copies) from SQLite to
   PostgreSQL (pgserver on this machine), every table counted at the end.
2. Search latency p50/p95 per mode at that size, for SQLite (FTS5 + the FAISS file), PostgreSQL
   with the FAISS index derived from its vectors (`vector_search = faiss`) and PostgreSQL with
   pgvector's HNSW index (`vector_search = pgvector`, its build time reported). Query vectors are
   computed once up front, so the figures are retrieval cost; the three are interleaved query by
   query, so machine noise hits them alike.
3. QA prescoring throughput through the job queue: `--qa` single-transcript `qa_score` jobs run by
   one `deskbook worker` process, then by two (one torch thread each), after a warm-up job; the
   ratio is what a second worker adds on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_search import pct, synthetic_store  # noqa: E402

from kb.config import load_config  # noqa: E402
from kb.embed import get_embedder  # noqa: E402
from kb.search import Searcher  # noqa: E402
from kb.storage import open_store  # noqa: E402
from kb.storage.copy import copy_store  # noqa: E402

DESKBOOK = str(Path(sys.executable).with_name("deskbook"))


def start_pg(workdir: Path):
    import pgserver

    parent = workdir / "pg"
    parent.mkdir(parents=True, exist_ok=True)
    os.chmod(parent, 0o755)
    return pgserver.get_server(str(parent / "data"), cleanup_mode="stop")


def bench_copy(sqlite_store, url: str) -> tuple[object, dict]:
    pg = open_store(url)
    if pg.count_chunks():
        return pg, {"skipped": "database already filled"}
    report = copy_store(sqlite_store, pg, batch=2000,
                        progress=lambda t, d, n: print(f"\rcopy {t:<22} {d:>8}/{n:<8}", end="", file=sys.stderr))
    print(file=sys.stderr)
    return pg, report.to_dict()


def bench_search(searchers: dict[str, Searcher], queries: list[str], embedder) -> dict:
    qvecs = embedder.encode_queries(queries)
    lat: dict[tuple[str, str], list[float]] = {}
    for s in searchers.values():  # warm: FAISS files, the HNSW index, caches
        s.search(queries[0], k=10, qvec=qvecs[0])
    for q, v in zip(queries, qvecs, strict=True):
        for mode in ("lexical", "dense", "hybrid"):
            for name, s in searchers.items():
                t = time.perf_counter()
                s.search(q, k=10, mode=mode, qvec=v)
                lat.setdefault((name, mode), []).append((time.perf_counter() - t) * 1000)
    return {f"{name}/{mode}": {"p50_ms": round(statistics.median(v), 2), "p95_ms": round(pct(v, 95), 2)}
            for (name, mode), v in lat.items()}


def qa_throughput(url: str, workdir: Path, n_jobs: int, n_workers: int) -> dict:
    """Seconds for `n_workers` worker processes to run `n_jobs` one-transcript QA jobs (after a warm-up)."""
    store = open_store(url)
    rubric = ROOT / "corpus" / "rubrics" / "phone-support.yaml"
    calls = sorted((ROOT / "corpus" / "transcripts" / "dev").glob("call-00*.json"))
    payload = {"rubric_id": "phone-support", "rubric_version": 1, "rubric_name": rubric.name,
               "rubric_text": rubric.read_text(), "aliases": []}
    env = {**os.environ, "DESKBOOK_DB": url, "HF_HUB_OFFLINE": "1", "DESKBOOK_TORCH_THREADS": "1",
           "OMP_NUM_THREADS": "1", "DESKBOOK_REDACT_KEEP": "Brightcart"}
    procs = []
    for i in range(n_workers):
        d = workdir / f"worker{n_workers}-{i}"
        d.mkdir(parents=True, exist_ok=True)
        procs.append(subprocess.Popen([DESKBOOK, "worker"], env={**env, "DESKBOOK_DATA_DIR": str(d)},
                                      stdout=open(d / "log", "w"), stderr=subprocess.STDOUT))  # noqa: SIM115
    try:
        warm = [store.enqueue_job("qa_score", payload, owner="bench", title="warm-up",
                                  files=[(calls[0].name, calls[0].read_bytes())]) for _ in range(n_workers)]
        while any(store.get_job(j.id).status != "done" for j in warm):
            time.sleep(0.2)
        t0 = time.perf_counter()
        jobs = [store.enqueue_job("qa_score", payload, owner="bench", title=f"bench {i}",
                                  files=[(calls[i % len(calls)].name, calls[i % len(calls)].read_bytes())])
                for i in range(n_jobs)]
        while any(store.get_job(j.id).status not in ("done", "failed") for j in jobs):
            time.sleep(0.1)
        seconds = time.perf_counter() - t0
        failed = sum(store.get_job(j.id).status == "failed" for j in jobs)
        workers = {store.get_job(j.id).claimed_by for j in jobs}
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=30)
    return {"workers": n_workers, "jobs": n_jobs, "failed": failed, "seconds": round(seconds, 2),
            "transcripts_per_s": round(n_jobs / seconds, 3), "distinct_workers_used": len(workers)}


def bench_qa(srv, workdir: Path, config, embedder, n_jobs: int) -> dict:
    qa_url = srv.get_uri().replace("/postgres?", "/bench_qa?", 1)
    qa_store = open_store(qa_url)
    if not qa_store.count_documents():
        from indexer.pipeline import index_paths

        index_paths(qa_store, embedder, config, [ROOT / "corpus" / "sops"], progress=False)
    one = qa_throughput(qa_url, workdir, n_jobs, 1)
    two = qa_throughput(qa_url, workdir, n_jobs, 2)
    return {"one_worker": one, "two_workers": two,
            "speedup": round(two["transcripts_per_s"] / one["transcripts_per_s"], 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--embed", type=int, default=2000)
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--qa", type=int, default=12, help="QA jobs per throughput run (0: skip)")
    ap.add_argument("--workdir", default="/tmp/deskbook-bench-storage")
    ap.add_argument("--qa-only", action="store_true", help="only the QA throughput part (3.)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    config = load_config(data_dir=str(workdir / "data"), querylog_enabled=False)
    embedder = get_embedder(config)
    out: dict = {"n": args.n}

    srv = start_pg(workdir)
    if args.qa_only:
        out["qa"] = bench_qa(srv, workdir, config, embedder, args.qa)
        print(json.dumps(out["qa"], indent=2))
        return
    t = time.perf_counter()
    sq = synthetic_store(workdir, args.n, embedder, args.embed, config)
    out["sqlite_build_s"] = round(time.perf_counter() - t, 1)
    url = srv.get_uri().replace("/postgres?", f"/bench_{args.n}?", 1)
    pg, out["copy"] = bench_copy(sq, url)
    print(f"copy: {json.dumps(out['copy'].get('rows_per_second'))} rows/s", file=sys.stderr)

    queries = [json.loads(x)["query"] for x in (ROOT / "corpus" / "eval" / "queries.jsonl").read_text().splitlines()
               if x.strip()][: args.queries]
    t = time.perf_counter()
    pg.ensure_vector_index()
    out["hnsw_build_s"] = round(time.perf_counter() - t, 1)
    searchers = {
        "sqlite": Searcher(sq, config.with_overrides(data_dir=str(workdir / "d-sqlite")), embedder),
        "postgresql+faiss": Searcher(pg, config.with_overrides(data_dir=str(workdir / "d-pgfaiss")), embedder),
        "postgresql+pgvector": Searcher(pg, config.with_overrides(data_dir=str(workdir / "d-pgvec"),
                                                                  vector_search="pgvector"), embedder),
    }
    out["search"] = bench_search(searchers, queries, embedder)
    if args.qa:
        out["qa"] = bench_qa(srv, workdir, config, embedder, args.qa)
    if args.json:
        print(json.dumps(out, indent=2))
        return
    c = out["copy"]
    print(f"\n{args.n:,} chunks. SQLite build {out['sqlite_build_s']} s; store copy SQLite -> PostgreSQL: "
          f"{c.get('rows', 0):,} rows in {c.get('seconds', 0)} s = {c.get('rows_per_second', 0):,.0f} rows/s "
          f"(counts {'match' if c.get('ok') else 'DIFFER'}); pgvector HNSW build {out['hnsw_build_s']} s\n")
    print(f"{'backend':<22} {'mode':<8} {'p50 ms':>8} {'p95 ms':>8}")
    for key, v in out["search"].items():
        name, mode = key.split("/")
        print(f"{name:<22} {mode:<8} {v['p50_ms']:>8.2f} {v['p95_ms']:>8.2f}")
    if "qa" in out:
        q = out["qa"]
        print(f"\nQA prescoring through the job queue ({args.qa} transcripts):")
        for k in ("one_worker", "two_workers"):
            r = q[k]
            print(f"  {r['workers']} worker(s): {r['seconds']} s, {r['transcripts_per_s']} transcripts/s "
                  f"({r['distinct_workers_used']} used, {r['failed']} failed)")
        print(f"  two workers / one: {q['speedup']}x")


if __name__ == "__main__":
    main()
