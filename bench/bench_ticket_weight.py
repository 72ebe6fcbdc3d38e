"""Hit@1 of hybrid search on the mixed knowledge bases (SOPs and tickets) for several `ticket_weight`s.

The weight multiplies a past ticket's fused score (`kb.fusion.with_prior`); relevance in the query sets
is the right SOP, so a ticket first counts as a miss. Choose on the dev sets, check on the held-out ones
(docs/search.md). Build the knowledge bases first, per model:

    export DESKBOOK_MODEL=multilingual   # and again with DESKBOOK_MODEL=default
    deskbook index -q --db /tmp/m/$DESKBOOK_MODEL-en.db corpus/sops corpus/tickets
    deskbook index -q --db /tmp/m/$DESKBOOK_MODEL-de.db corpus/de/sops corpus/de/tickets
    deskbook index -q --db /tmp/m/$DESKBOOK_MODEL-tr.db corpus/tr/sops corpus/tr/tickets
    python bench/bench_ticket_weight.py --dbs /tmp/m --weights 0.5 0.35 0.25
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from kb.config import load_config  # noqa: E402
from kb.embed import get_embedder  # noqa: E402
from kb.evaluate import load_queries, ranking_metrics  # noqa: E402
from kb.search import Searcher  # noqa: E402
from kb.storage import open_store  # noqa: E402

SETS = [("en", "queries", "EN dev"), ("en", "queries_holdout", "EN held-out"), ("de", "queries_de", "DE dev"),
        ("de", "queries_de_holdout", "DE held-out"), ("tr", "queries_tr", "TR dev"),
        ("tr", "queries_tr_holdout", "TR held-out")]
EVAL = Path(__file__).resolve().parents[1] / "corpus" / "eval"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dbs", default="/tmp/m", help="folder of <model>-<en|de|tr>.db knowledge bases")
    ap.add_argument("--weights", type=float, nargs="+", default=[0.5, 0.35, 0.25])
    args = ap.parse_args()
    model = os.environ.get("DESKBOOK_MODEL", "default")
    searchers, embedder = {}, None
    for lang in ("en", "de", "tr"):
        config = load_config(db=str(Path(args.dbs) / f"{model}-{lang}.db"))
        embedder = embedder or get_embedder(config)
        searchers[lang] = Searcher(open_store(config.database), config, embedder)
    print(f"model {model}: hybrid hit@1 by ticket_weight")
    print(f"{'weight':>7} " + " ".join(f"{name:>12}" for _, _, name in SETS))
    for w in args.weights:
        row = []
        for lang, qs, _ in SETS:
            queries = load_queries(EVAL / f"{qs}.jsonl")
            per = [ranking_metrics([h.id for h in searchers[lang].search(q["query"], k=10, ticket_weight=w)],
                                   set(q["relevant"]))["hit@1"] for q in queries]
            row.append(sum(per) / len(per))
        print(f"{w:>7} " + " ".join(f"{v:>12.3f}" for v in row), flush=True)


if __name__ == "__main__":
    main()
