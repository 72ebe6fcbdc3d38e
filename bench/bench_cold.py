"""Benchmark: a cold `deskbook search` from the shell, against a cold Python that imports the model and encodes
one query (issue 14: at most 1.5x), the three commands alternated question by question.

    python bench/bench_cold.py --db /tmp/deskbook-bench/synthetic-100000.db [--questions 16]

Rows: the console command as shipped (`main()`: it leaves without the interpreter's teardown once its
results are printed, `kb.cli._exit_now`); the same search through `main(argv)`, as a caller in the same
process would run it, which ends with the full teardown (what the console command did before); the
baseline. One run per dev question (the first `--questions` of corpus/eval/queries.jsonl: a query's
language decides which language detector loads), medians, ratios to the baseline's median. The torch
rows of `bench_search.py --cold` are not repeated here (13 s a run).
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", required=True, help="an indexed knowledge base (e.g. bench_search.py's synthetic ones)")
    ap.add_argument("--questions", type=int, default=8)
    args = ap.parse_args()
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    lines = (ROOT / "corpus/eval/queries.jsonl").read_text().splitlines()
    questions = [json.loads(x)["query"] for x in lines if x.strip()][: args.questions]
    search = ["search", "QUERY", "--db", args.db, "--k", "5"]
    commands = {
        "`deskbook search` (cold shell, as shipped)": [sys.executable, "-c", "from kb.cli import main; main()", *search],
        "the same search with the interpreter's full teardown": [
            sys.executable, "-c", "import sys; from kb.cli import main; main(sys.argv[1:])", *search],
        "python: import the model, encode one query": [
            sys.executable, "-c", "import sys; from kb.config import load_config; from kb.embed import get_embedder; "
            "get_embedder(load_config()).encode_queries([sys.argv[1]])", "QUERY"],
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    for q in questions:
        for name, cmd in commands.items():
            cmd = [q if part == "QUERY" else part for part in cmd]
            t = time.perf_counter()
            r = subprocess.run(cmd, env=env, cwd=str(ROOT), capture_output=True, text=True)
            times[name].append(time.perf_counter() - t)
            if r.returncode:
                raise SystemExit(f"{name} failed on {q!r}: {r.stderr[-500:]}")
    base = statistics.median(times["python: import the model, encode one query"])
    print(f"\n## Cold start ({Path(args.db).name}, the first {len(questions)} dev questions, one run each, median; "
          f"load average after: {os.getloadavg()[0]:.1f})\n")
    print("| command | seconds | of the baseline |")
    print("|---|---:|---:|")
    for name, ts in times.items():
        print(f"| {name} | {statistics.median(ts):.3f} | {statistics.median(ts) / base:.2f}x |")


if __name__ == "__main__":
    main()
