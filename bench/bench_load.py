"""Benchmark: search under load, next to the ceiling of the same machine and WSGI server.

    python bench/bench_load.py [--db PATH] [--clients 16] [--threads 8] [--seconds 30]

Two servers are run in turn on the loopback interface, each on waitress with the same number of
threads, and driven by the same bounded load generator (`--clients` threads with keep-alive
connections, `--seconds` each, every query unique so that no cache answers it):

1. `deskbook serve`: the real search API (`GET /api/v1/search?q=...`, hybrid, logged to the query
   log as agents' searches are), authenticated with an API token;
2. a bare endpoint that only encodes the query with the same embedding model (`GET /encode?q=...`),
   one query per model call, as the issue defined it: the ceiling;
3. the same bare endpoint run as the search server runs the model: its query batching
   (`kb.embed.query_batcher`: queries waiting for the model are encoded together) and its encode
   slots (`query_encode_slots`): the ceiling of this code.

It prints searches per second and p50/p95 latency of each, and their ratios. The search server
redacts the queries it logs after the response, once searches pause (`kb.insights.deferred`): the
bench waits for it to store them after the run and prints a *sustained* rate with that time counted
in (a 30 s run would otherwise leave that work out). Without `--db` the
sample corpus is indexed into the work folder first. Nothing but 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FILLERS = ["please", "today", "again", "urgent", "asap", "help", "still", "now", "customer", "quickly", "order",
           "thanks", "really", "ok", "asked", "about"]


def unique_queries(n: int) -> list[str]:
    """n distinct queries: the dev questions with a different run of filler words each."""
    base = [json.loads(x)["query"] for x in (ROOT / "corpus/eval/queries.jsonl").read_text().splitlines() if x.strip()]
    out, seen = [], set()
    rng = random.Random(7)
    i = 0
    while len(out) < n:
        extra = " ".join(rng.choice(FILLERS) for _ in range(1 + i % 3))
        q = f"{base[i % len(base)]} {extra}"
        i += 1
        if q not in seen:
            seen.add(q)
            out.append(q)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(port: int, path: str, proc: subprocess.Popen, timeout: float = 180.0, headers=None) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            c.request("GET", path, headers=headers or {})
            r = c.getresponse()
            r.read()
            if r.status == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit("server did not start")


def wait_warm(port: int, proc: subprocess.Popen, timeout: float = 300.0) -> None:
    """Until `deskbook serve` says it has warmed up (its models load beside the first requests: measured
    with them, the first ~20 s of a run served half the searches at twice the latency). A server without
    the flag (the bare endpoints) is ready once it answers."""
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request("GET", "/healthz")
            r = conn.getresponse()
            body = r.read()
            if r.status != 200 or json.loads(body or b"{}").get("warm", True):
                return
        except (OSError, ValueError):
            pass
        finally:
            conn.close()
        time.sleep(0.5)
    raise SystemExit(f"the server on port {port} did not warm up in {timeout:.0f} s")


def drive(port: int, path_for, queries: list[str], clients: int, seconds: float, headers: dict) -> dict:
    """`clients` threads, each sending requests back to back for `seconds`; latencies of the 200s."""
    lat: list[float] = []
    errors = [0]
    lock = threading.Lock()
    counter = iter(range(len(queries)))
    stop_at = time.perf_counter() + seconds

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while time.perf_counter() < stop_at:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            t = time.perf_counter()
            try:
                conn.request("GET", path_for(queries[i]), headers=headers)
                r = conn.getresponse()
                r.read()
                ok = r.status == 200
            except OSError:
                ok = False
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            with lock:
                if ok:
                    lat.append(time.perf_counter() - t)
                else:
                    errors[0] += 1
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t0
    lat.sort()
    return {"n": len(lat), "errors": errors[0], "seconds": wall, "per_s": len(lat) / wall,
            "p50": statistics.median(lat) if lat else float("nan"),
            "p95": lat[min(len(lat) - 1, int(0.95 * (len(lat) - 1)))] if lat else float("nan")}


def serve_bare(db: str, port: int, threads: int, batched: bool = False) -> None:
    """The ceiling: a WSGI app on waitress that only encodes the query with the configured model, one
    query per model call (or, `batched`, through the model's query batching)."""
    from waitress import serve

    from kb.config import load_config
    from kb.embed import get_embedder

    config = load_config(db=db)
    embedder = get_embedder(config)
    if batched:  # as `deskbook serve` runs the model: its query batching and its encode slots
        from webapp.services import encode_slots

        embedder.serve_queries(encode_slots(config))
    embedder.encode_queries(["warm up"])

    def app(environ, start_response):
        q = urllib.parse.parse_qs(environ.get("QUERY_STRING", "")).get("q", [""])[0]
        if batched or not hasattr(embedder, "_encode_queries_now"):
            vec = embedder.encode_queries([q or " "])[0]
        else:
            with embedder._lock.query():
                vec = embedder._encode_queries_now([q or " "])[0]
        body = json.dumps({"dim": int(vec.shape[0])}).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    serve(app, host="127.0.0.1", port=port, threads=threads, ident="bare")


def prepare_db(workdir: Path) -> str:
    from indexer.pipeline import index_paths
    from kb.config import load_config
    from kb.embed import get_embedder
    from kb.storage import open_store

    db = workdir / "load.db"
    config = load_config(data_dir=str(workdir), db=str(db))
    store = open_store(db)
    index_paths(store, get_embedder(config), config, [ROOT / "corpus/sops", ROOT / "corpus/tickets"], progress=False)
    return str(db)


def warm_answers(db: str) -> None:
    """Build the answer engine's sentence-vector cache now: a server warms it in a thread at start, which
    would otherwise take the CPU from the searches being measured."""
    from kb.answers import get_answerer
    from kb.config import load_config
    from kb.search import Searcher
    from kb.storage import open_store

    config = load_config(db=db)
    get_answerer(Searcher(open_store(config.database), config), config).warm()


def make_token(db: str) -> str:
    from kb.config import load_config
    from kb.storage import open_store
    from webapp.accounts import Accounts

    config = load_config(db=db)
    accounts = Accounts(open_store(config.database))
    if accounts.find_user("loadbench") is None:
        accounts.add_user("loadbench", "agent")
    token, _ = accounts.create_token("loadbench", "bench_load")
    return token


def pending_queries(db: str | None) -> int:
    """Logged searches whose query the server still holds for redaction (`kb.insights.deferred`)."""
    if not db:
        return 0
    from kb.storage.sqlite.store import sqlite3

    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return int(conn.execute("SELECT count(*) FROM query_log WHERE redactions = -1").fetchone()[0])
    finally:
        conn.close()


def wait_drained(db: str | None, before: int, timeout: float = 600.0) -> float:
    """Seconds until the server has redacted and stored every query it held back (0 for the bare endpoints).
    A web server redacts logged queries after the response, once searches pause: work a 30 s run would
    otherwise not count."""
    if not db:
        return 0.0
    t0 = time.perf_counter()
    while pending_queries(db) > before and time.perf_counter() - t0 < timeout:
        time.sleep(0.05)
    return time.perf_counter() - t0


def run(label: str, cmd: list[str], port: int, ready_path: str, path_for, queries, args, headers,
        db: str | None = None) -> dict:
    """One server: start, warm up, drive. `db`: the search server's knowledge base, whose query log is
    watched so that the redaction it defers is counted (`drain`, `sustained_per_s`)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    before = pending_queries(db)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(port, ready_path, proc, headers=headers)
        wait_warm(port, proc)
        drive(port, path_for, queries[:40], min(4, args.clients), 10, headers)  # warm up: threads, caches, models
        wait_drained(db, before)  # the warm-up's queries are not redacted inside the measured run
        res = drive(port, path_for, queries[40:], args.clients, args.seconds, headers)
        res["drain"] = wait_drained(db, before)
        res["sustained_per_s"] = res["n"] / (res["seconds"] + res["drain"])
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    print(f"{label}: {res['n']} requests in {res['seconds']:.1f} s, {res['errors']} errors", file=sys.stderr)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", help="an indexed knowledge base (default: the sample corpus, indexed into --workdir)")
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--threads", type=int, default=8, help="WSGI threads of both servers")
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "deskbook-load"))
    ap.add_argument("--bare", type=int, help=argparse.SUPPRESS)  # internal: serve the bare endpoint on this port
    ap.add_argument("--batched", action="store_true", help=argparse.SUPPRESS)  # internal: ... with batching
    args = ap.parse_args()
    if args.bare:
        serve_bare(args.db, args.bare, args.threads, args.batched)
        return
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    db = args.db or prepare_db(workdir)
    warm_answers(db)
    token = make_token(db)
    queries = unique_queries(40 + args.clients * int(args.seconds) * 40)
    auth = {"Authorization": f"Bearer {token}"}
    py = sys.executable
    port = free_port()
    search = run("deskbook serve", [py, "-c", "from kb.cli import main; main()", "serve", "--db", db, "--port",
                                    str(port), "--threads", str(args.threads)], port,
                 "/api/v1/search?q=warm+up&log=false", lambda q: "/api/v1/search?" + urllib.parse.urlencode({"q": q}),
                 queries, args, auth, db=db)
    port = free_port()
    bare = run("bare encode", [py, __file__, "--bare", str(port), "--db", db, "--threads", str(args.threads)], port,
               "/encode?q=warm+up", lambda q: "/encode?" + urllib.parse.urlencode({"q": q}), queries, args, {})
    port = free_port()
    batched = run("bare encode, batched", [py, __file__, "--bare", str(port), "--db", db, "--threads",
                                           str(args.threads), "--batched"], port,
                  "/encode?q=warm+up", lambda q: "/encode?" + urllib.parse.urlencode({"q": q}), queries, args, {})
    load = os.getloadavg()
    print(f"\n## Search under load ({args.clients} clients, {args.threads} waitress threads, {args.seconds:.0f} s each, "
          f"{os.cpu_count()} cores; load average after: {load[0]:.1f})\n")
    print("| server | requests | searches/s | p50 ms | p95 ms |")
    print("|---|---:|---:|---:|---:|")
    for name, r in (("deskbook serve: /api/v1/search (hybrid, logged)", search),
                    ("bare: encode the query only, one per model call (the ceiling)", bare),
                    ("bare: encode the query only, batched and slotted like the search server", batched)):
        print(f"| {name} | {r['n']} | {r['per_s']:.1f} | {r['p50'] * 1000:.0f} | {r['p95'] * 1000:.0f} |")
    print(f"\nthroughput: {search['per_s'] / bare['per_s']:.2f} of the ceiling (goal >= 0.80); "
          f"p95: {search['p95'] / bare['p95']:.2f}x the ceiling's (goal <= 1.5); against the batched bare "
          f"endpoint: throughput {search['per_s'] / batched['per_s']:.2f}, p95 {search['p95'] / batched['p95']:.2f}x")
    print(f"sustained: the search server took {search['drain']:.1f} s after the run to redact the queries it logged "
          f"(after the response, once searches pause); counted in, {search['sustained_per_s']:.1f} searches/s, "
          f"{search['sustained_per_s'] / bare['per_s']:.2f} of the ceiling")


if __name__ == "__main__":
    main()
