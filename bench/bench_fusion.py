"""Benchmark: hybrid fusion against its own inputs, and the choice of the fusion parameters.

    python bench/bench_fusion.py [--models default multilingual] [--workdir /tmp/deskbook-fusion]

For every query set the lexical list (BM25, top 50 chunks) and the dense list (cosine, top 50) are
recorded once, with the cosine similarity of the chunks only lexical search found; fusions are then
computed offline from the same lists, so every method sees exactly the same inputs.

Query sets (relevant documents in brackets):
- dev: corpus/eval/queries.jsonl (EN -> EN SOPs), queries_de.jsonl, queries_tr.jsonl, and a
  constructed ticket task: each 2025 sample ticket's question against all English tickets (itself
  left out), relevant = the tickets sharing its first tag (the "same-intent ticket first" task);
- held-out (never used to choose): *_holdout.jsonl, the same ticket task on the 2026 tickets and on the
  German and Turkish tickets, and the cross-language sets (queries_de_en, queries_tr_en) with the
  multilingual model.

The grid is searched on the dev sets only (mean of hit@1 and MRR@10 over the dev sets of every
model); the table then prints dev and held-out figures for dense, lexical, rrf and the chosen
parameters. Results and the commands are in docs/search.md.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kb.fusion import FusionParams, fuse, with_prior  # noqa: E402

EVAL = ROOT / "corpus" / "eval"
DEPTH = 50


def _first_tag(tags) -> str:
    if isinstance(tags, str):
        tags = [t for t in tags.replace(",", ";").split(";")]
    return tags[0].strip().lower() if tags else ""


def ticket_queries(paths: list[Path]) -> list[dict]:
    """Each ticket's question; relevant = the other tickets of the KB with the same first tag."""
    rows = []
    for p in paths:
        if p.suffix == ".csv":
            rows += [dict(r) for r in csv.DictReader(p.open(encoding="utf-8"))]
        else:
            rows += [json.loads(x) for x in p.read_text(encoding="utf-8").splitlines() if x.strip()]
    return rows


def ticket_task(query_rows: list[dict], kb_rows: list[dict]) -> list[dict]:
    by_tag: dict[str, set[str]] = {}
    for r in kb_rows:
        by_tag.setdefault(_first_tag(r["tags"]), set()).add(r["id"])
    out = []
    for r in query_rows:
        rel = by_tag.get(_first_tag(r["tags"]), set()) - {r["id"]}
        if rel:
            out.append({"query": r["question"], "relevant": sorted(rel), "exclude": r["id"]})
    return out


def load_jsonl(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def build_kb(workdir: Path, model: str, name: str, paths: list[Path]):
    from indexer.pipeline import index_paths
    from kb.config import load_config
    from kb.embed import get_embedder
    from kb.storage import open_store

    db = workdir / f"{model}-{name}.db"
    config = load_config(data_dir=str(workdir), db=str(db), model=model)
    store = open_store(db)
    index_paths(store, get_embedder(config), config, paths, progress=False)
    return config, store


def record(config, store, queries: list[dict]) -> list[dict]:
    """The lexical and dense lists of every query, with the chunks' documents and types."""
    from kb.embed import get_embedder
    from kb.search import Searcher

    s = Searcher(store, config, get_embedder(config))
    out = []
    for q in queries:
        parsed = s.parse(q["query"])
        qvec = s.encode_query(parsed.text)
        lex = s.lexical(parsed, DEPTH)
        den = s.dense(parsed, DEPTH, qvec=qvec)
        in_den = dict(den)
        extra = s._cosines([c for c, _ in lex if c not in in_den], qvec)
        info = store.chunk_docs([c for c, _ in lex] + [c for c, _ in den])
        out.append({"lex": lex, "den": den, "extra": {str(k): v for k, v in extra.items()},
                    "doc": {str(c): [i["doc_id"], i["type"]] for c, i in info.items()},
                    "relevant": q["relevant"], "exclude": q.get("exclude", "")})
    return out


def ranked_docs(rec: dict, scores: dict[int, float], ticket_weight: float, method: str = "") -> list[str]:
    """Documents by their best chunk, after the type prior as the searcher applies it."""
    doc = rec["doc"]
    weights = {c: ticket_weight for c in scores if doc.get(str(c), ["", ""])[1] == "ticket"}
    adj = with_prior(scores, weights) if method else dict(scores)
    out: list[str] = []
    for c, _ in sorted(adj.items(), key=lambda kv: -kv[1]):
        d = doc.get(str(c), [None])[0]
        if d and d != rec["exclude"] and d not in out:
            out.append(d)
    return out


def metrics(recs: list[dict], method: str, params: FusionParams | None = None, ticket_weight: float = 0.5
            ) -> dict[str, float]:
    h1, mrr = [], []
    for rec in recs:
        lex = [(int(c), float(s)) for c, s in rec["lex"]]
        den = [(int(c), float(s)) for c, s in rec["den"]]
        if method == "lexical":
            docs = ranked_docs(rec, dict(lex), 1.0)
        elif method == "dense":
            docs = ranked_docs(rec, dict(den), 1.0)
        else:
            extra = {int(k): v for k, v in rec["extra"].items()}
            docs = ranked_docs(rec, fuse(lex, den, extra, params), ticket_weight, params.method)
        rel = set(rec["relevant"])
        first = next((i for i, d in enumerate(docs[:10]) if d in rel), None)
        h1.append(1.0 if first == 0 else 0.0)
        mrr.append(0.0 if first is None else 1.0 / (first + 1))
    return {"hit@1": statistics.fmean(h1), "mrr@10": statistics.fmean(mrr), "n": len(recs)}


def collect(workdir: Path, models: list[str]) -> dict[str, dict[str, list[dict]]]:
    en_t = [ROOT / "corpus/tickets/tickets_2025.jsonl", ROOT / "corpus/tickets/tickets_2026.csv"]
    de_t = [ROOT / "corpus/de/tickets/tickets_de_2026.jsonl"]
    tr_t = [ROOT / "corpus/tr/tickets/tickets_tr_2026.jsonl"]
    all_en = ticket_queries(en_t)
    q = {name: load_jsonl(EVAL / f"{name}.jsonl") for name in (
        "queries", "queries_de", "queries_tr", "queries_holdout", "queries_de_holdout", "queries_tr_holdout",
        "queries_de_en", "queries_tr_en")}
    sets: dict[str, tuple[str, list[dict], str]] = {
        "dev: EN -> EN SOPs": ("en-s", q["queries"], "dev"),
        "dev: DE -> DE SOPs": ("de-s", q["queries_de"], "dev"),
        "dev: TR -> TR SOPs": ("tr-s", q["queries_tr"], "dev"),
        "dev: EN tickets 2025, same tag": ("en-t", ticket_task(ticket_queries(en_t[:1]), all_en), "dev"),
        "held-out: EN -> EN SOPs": ("en-s", q["queries_holdout"], "held-out"),
        "held-out: DE -> DE SOPs": ("de-s", q["queries_de_holdout"], "held-out"),
        "held-out: TR -> TR SOPs": ("tr-s", q["queries_tr_holdout"], "held-out"),
        "held-out: EN tickets 2026, same tag": ("en-t", ticket_task(ticket_queries(en_t[1:]), all_en), "held-out"),
        "held-out: DE tickets, same tag": ("de-t", ticket_task(ticket_queries(de_t), ticket_queries(de_t)),
                                           "held-out"),
        "held-out: TR tickets, same tag": ("tr-t", ticket_task(ticket_queries(tr_t), ticket_queries(tr_t)),
                                           "held-out"),
        "held-out: DE -> EN SOPs": ("en-s", q["queries_de_en"], "cross"),
        "held-out: TR -> EN SOPs": ("en-s", q["queries_tr_en"], "cross"),
        "mixed: EN -> EN SOPs + tickets": ("en", q["queries"], "mixed"),
        "mixed: EN held-out -> SOPs + tickets": ("en", q["queries_holdout"], "mixed"),
        "mixed: DE -> DE SOPs + tickets": ("de", q["queries_de"], "mixed"),
        "mixed: TR -> TR SOPs + tickets": ("tr", q["queries_tr"], "mixed"),
        "mixed: DE -> EN SOPs + tickets": ("en", q["queries_de_en"], "cross"),
        "mixed: TR -> EN SOPs + tickets": ("en", q["queries_tr_en"], "cross"),
    }
    kbs = {"en": [ROOT / "corpus/sops", *en_t], "de": [ROOT / "corpus/de/sops", *de_t],
           "tr": [ROOT / "corpus/tr/sops", *tr_t], "en-t": en_t, "de-t": de_t, "tr-t": tr_t,
           "en-s": [ROOT / "corpus/sops"], "de-s": [ROOT / "corpus/de/sops"], "tr-s": [ROOT / "corpus/tr/sops"]}
    out: dict[str, dict[str, list[dict]]] = {}
    for model in models:
        cache = workdir / f"lists-{model}.json"
        if cache.exists():
            out[model] = json.loads(cache.read_text())
            continue
        out[model] = {}
        opened = {}
        for name, (kb, queries, kind) in sets.items():
            if kind == "cross" and model != "multilingual":
                continue
            if kb not in opened:
                print(f"indexing {model} {kb} ...", file=sys.stderr)
                opened[kb] = build_kb(workdir, model, kb, kbs[kb])
            out[model][name] = record(*opened[kb], queries)
        cache.write_text(json.dumps(out[model]))
    return out


GRID = {"norm": ["z", "minmax"], "w_min": [0.0, 0.1, 0.2, 0.3, 0.5], "w_max": [0.2, 0.3, 0.5, 0.7, 1.0, 1.5],
        "depth": [20, 50], "agree_k": [5, 10]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["default", "multilingual"])
    ap.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "deskbook-fusion"))
    ap.add_argument("--params", help="norm,w_min,w_max,depth,agree_k to report instead of the grid's choice")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    lists = collect(workdir, args.models)

    inputs = {(m, name): (metrics(recs, "lexical"), metrics(recs, "dense"))
              for m, sets in lists.items() for name, recs in sets.items() if name.startswith("dev")}

    def objective(p: FusionParams) -> float:
        """Mean hit@1 + MRR@10 over the dev sets, less half the mean shortfall against the better input
        (the requirement: hybrid never worse than the better of its two inputs)."""
        vals, regret = [], []
        for m, sets in lists.items():
            for name, recs in sets.items():
                if name.startswith("dev"):
                    h = metrics(recs, "hybrid", p)
                    lex, den = inputs[(m, name)]
                    vals.append(h["hit@1"] + h["mrr@10"])
                    regret.append(max(0.0, max(lex["hit@1"], den["hit@1"]) - h["hit@1"])
                                  + max(0.0, max(lex["mrr@10"], den["mrr@10"]) - h["mrr@10"]))
        return statistics.fmean(vals) - 0.5 * statistics.fmean(regret)

    if args.params:
        norm, w_min, w_max, depth, agree_k = args.params.split(",")
        best = FusionParams(norm=norm, w_min=float(w_min), w_max=float(w_max), depth=int(depth), agree_k=int(agree_k))
    else:
        grid = [FusionParams(norm=n, w_min=a, w_max=b, depth=d, agree_k=k)
                for n, a, b, d, k in itertools.product(*GRID.values()) if b >= a]
        scored = sorted(((objective(p), p) for p in grid), key=lambda t: -t[0])
        best = scored[0][1]
        print(f"grid: {len(grid)} settings; best on dev {scored[0][0]:.4f}: {best}")
        print(f"rrf on dev: {objective(FusionParams(method='rrf')):.4f}")
    rrf = FusionParams(method="rrf")
    print("\nhit@1 / MRR@10; hybrid columns use ticket_weight 0.5 (it only matters on the mixed sets)")
    print("\n| model | query set | n | lexical | dense | rrf | agreement |")
    print("|---|---|---:|---|---|---|---|")
    for model, sets in lists.items():
        for name, recs in sets.items():
            cells = [metrics(recs, "lexical"), metrics(recs, "dense"), metrics(recs, "hybrid", rrf),
                     metrics(recs, "hybrid", best)]
            top = max(c["hit@1"] for c in cells[:2])
            txt = [f"{c['hit@1']:.3f} / {c['mrr@10']:.3f}" for c in cells]
            flag = "" if cells[3]["hit@1"] >= top - 1e-9 else " (below an input)"
            print(f"| {model} | {name} | {cells[0]['n']} | " + " | ".join(txt) + flag + " |")


if __name__ == "__main__":
    main()
