"""Benchmark: search latency while a large upload is indexed (not a test; prints a table).

    python bench/bench_import_load.py [--tickets 3000] [--modes process thread] [--workdir DIR]

For each mode, a fresh copy of the sample knowledge base (corpus/sops + corpus/tickets) is served
by a real `deskbook serve` (waitress, SQLite, its own job thread) on loopback, and one client sends
the 80 dev queries round and round through `GET /api/v1/search`, one at a time with `--pause` seconds
between them (4 searches a second: a busy team on one server), alternately logged and `log=false`, each
with a distinct order number so that the app's result cache never answers:

1. at rest: two rounds of the queries;
2. during an import: a JSONL file of `--tickets` new tickets (recombined from the sample tickets,
   each text distinct, so nothing is reused by content hash) is uploaded through `POST /api/v1/uploads`
   and the client searches until the job ends.

It prints p50 / p95 / max latency at rest and during the import, their ratio (the goal: p95 during
an import at most 3x the p95 at rest), the number of searches and the import's duration. Modes:
`process` (the default: the import runs in a child process at niceness `import_process_nice`, `--nice`)
and `thread` (`import_process_nice = -1`: the import runs in the server's own job thread, its
embedding taking the model's lock one small batch at a time, queries first). The machine is shared
and noisy: compare ratios measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from indexer.pipeline import index_paths  # noqa: E402
from kb.config import load_config  # noqa: E402
from kb.embed import get_embedder  # noqa: E402
from kb.storage import open_store  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def synthetic_tickets(n: int, seed: int = 7) -> bytes:
    """n distinct tickets: a question and an answer from different sample tickets, with a reference."""
    rows = []
    for path in sorted((ROOT / "corpus" / "tickets").glob("*.jsonl")):
        rows += [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
    rng = random.Random(seed)
    out = []
    for i in range(n):
        a, b = rng.choice(rows), rng.choice(rows)
        out.append({"id": f"LOAD-{i:05d}", "subject": a.get("subject") or "",
                    "question": f"{a.get('question') or ''} (ref {rng.randrange(10 ** 6):06d})",
                    "answer": b.get("answer") or "", "tags": a.get("tags") or [], "channel": "email"})
    return ("\n".join(json.dumps(r) for r in out) + "\n").encode("utf-8")


def build_template(workdir: Path) -> Path:
    """The sample KB indexed once, with a manager and an agent; copied per mode."""
    d = workdir / "template"
    if (d / "kb.db").exists():
        return d
    d.mkdir(parents=True, exist_ok=True)
    config = load_config(data_dir=str(d), db=str(d / "kb.db"), redact_keep=["Brightcart"])
    store = open_store(config.database)
    index_paths(store, get_embedder(config), config, [ROOT / "corpus" / "sops", ROOT / "corpus" / "tickets"],
                progress=False)
    from webapp.accounts import Accounts

    acc = Accounts(store)
    acc.add_user("bench-manager", "manager", "bench-manager-pass")
    acc.add_user("bench-agent", "agent", "bench-agent-pass")
    tokens = {"manager": acc.create_token("bench-manager", "bench")[0],
              "agent": acc.create_token("bench-agent", "bench")[0]}
    (d / "tokens.json").write_text(json.dumps(tokens))
    store.checkpoint()
    store.close()
    return d


class Server:
    def __init__(self, data: Path, nice: int):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, DESKBOOK_DATA_DIR=str(data), DESKBOOK_DB=str(data / "kb.db"),
                   DESKBOOK_IMPORT_PROCESS_NICE=str(nice), DESKBOOK_REDACT_KEEP="Brightcart",
                   DESKBOOK_SECRET_KEY="bench", DESKBOOK_CONFIG=str(data / "none.toml"), HF_HUB_OFFLINE="1")
        (data / "none.toml").write_text("")
        self.log = open(data / "server.log", "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([sys.executable, "-m", "kb.cli", "serve", "--port", str(self.port),
                                      "--threads", "4"], env=env, stdout=self.log, stderr=subprocess.STDOUT)
        end = time.time() + 180
        while time.time() < end:
            try:
                urllib.request.urlopen(self.url + "/healthz", timeout=2).read()
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.5)
        raise RuntimeError("the server did not start; see " + str(data / "server.log"))

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def call(url: str, token: str, data: bytes | None = None, headers: dict | None = None, timeout: float = 600):
    req = urllib.request.Request(url, data=data, headers={"Authorization": f"Bearer {token}", **(headers or {})})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


_SEQ = iter(range(10 ** 9))


def search_once(srv: Server, token: str, q: str, log: bool, pause: float = 0.0) -> float:
    """One search (made distinct with an order number, as agents paste them, so that the app's result
    cache never answers it), after `pause` seconds of "thinking"."""
    time.sleep(pause)
    q = f"{q} order {next(_SEQ):06d}"
    t = time.perf_counter()
    call(f"{srv.url}/api/v1/search?{urllib.parse.urlencode({'q': q, 'log': str(log).lower()})}", token)
    return (time.perf_counter() - t) * 1000


def upload(srv: Server, token: str, name: str, content: bytes) -> str:
    boundary = "deskbookbench"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode() + content + f"\r\n--{boundary}--\r\n".encode()
    job = call(f"{srv.url}/api/v1/uploads", token, data=body,
               headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    return job["id"]


def stats(values: list[float]) -> dict:
    a = np.array(values)
    return {"n": len(a), "p50": float(np.percentile(a, 50)), "p95": float(np.percentile(a, 95)),
            "max": float(a.max())}


def run_mode(mode: str, template: Path, workdir: Path, tickets: bytes, queries: list[str], pause: float,
             nice: int) -> dict:
    data = workdir / mode
    shutil.rmtree(data, ignore_errors=True)
    shutil.copytree(template, data)
    tokens = json.loads((template / "tokens.json").read_text())
    srv = Server(data, nice if mode == "process" else -1)
    try:
        for q in queries[:10]:  # warm the model, the FAISS index and the answer cache
            search_once(srv, tokens["agent"], q, False)
        rest = [search_once(srv, tokens["agent"], q, i % 2 == 0, pause) for i, q in enumerate(queries * 2)]
        t0 = time.perf_counter()
        job_id = upload(srv, tokens["manager"], "load.jsonl", tickets)
        during, i, status = [], 0, "queued"
        while status in ("queued", "running"):
            during.append(search_once(srv, tokens["agent"], queries[i % len(queries)], i % 2 == 0, pause))
            i += 1
            if i % 5 == 0:
                status = call(f"{srv.url}/api/v1/jobs/{job_id}", tokens["manager"])["status"]
        job = call(f"{srv.url}/api/v1/jobs/{job_id}", tokens["manager"])
        seconds = time.perf_counter() - t0
    finally:
        srv.stop()
    return {"mode": mode, "rest": stats(rest), "during": stats(during), "import_seconds": round(seconds, 1),
            "job": job["status"], "added": (job.get("result") or {}).get("added")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tickets", type=int, default=3000)
    ap.add_argument("--modes", nargs="+", default=["process", "thread"], choices=["process", "thread"])
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--nice", type=int, default=10, help="import_process_nice for the process mode")
    ap.add_argument("--pause", type=float, default=0.25, help="seconds between searches (default: 4 a second)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="deskbook-bench-load-"))
    queries = [json.loads(x)["query"] for x in (ROOT / "corpus" / "eval" / "queries.jsonl").read_text().splitlines()
               if x.strip()]
    template = build_template(workdir)
    tickets = synthetic_tickets(args.tickets)
    results = [run_mode(m, template, workdir, tickets, queries, args.pause, args.nice) for m in args.modes]
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"Search latency (ms) during an upload of {args.tickets} tickets, one client searching every "
          f"{args.pause} s, {os.cpu_count()}-core machine (load average {os.getloadavg()[0]:.1f} at the end)\n")
    print("| import runs in | at rest p50 | at rest p95 | during p50 | during p95 | during max | p95 ratio | "
          "searches during | import s | job |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in results:
        a, d = r["rest"], r["during"]
        print(f"| {'child process, nice ' + str(args.nice) if r['mode'] == 'process' else 'server thread'} | {a['p50']:.0f} | "
              f"{a['p95']:.0f} | {d['p50']:.0f} | {d['p95']:.0f} | {d['max']:.0f} | {d['p95'] / a['p95']:.2f}x | "
              f"{d['n']} | {r['import_seconds']} | {r['job']} ({r['added']} added) |")


if __name__ == "__main__":
    main()
