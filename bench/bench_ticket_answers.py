"""Answers from a knowledge base of past tickets alone: fit and check their confidence model.

    python bench/bench_ticket_answers.py [--workdir DIR] [--write FILE]

A team that has not written SOPs yet, or that indexes its ticket history first, has a knowledge base
of tickets only. The main source of an answer is then a ticket (the best ticket of the tag its five
most similar tickets vote for, `kb.answers.ranking.ticket_vote`), and the confidence model is
`kb.answers.ranking.TICKET_CONFIDENCE_MODELS` over the main ticket's cosine (`unit`), the agreement of
its neighbours (`agree`), `coverage` and `words`.

Data: the sample company's tickets. The 2025 tickets' customer messages asked of a knowledge base of the
2026 tickets alone, with the "fit" split of the constructed questions and of the questions from other
domains (corpus/eval/calibration), are fitted on; the 2026 messages asked of the 2025 tickets alone,
with the "check" splits, are only checked. A question is answered right when the main ticket's tags
name one of its procedures (`TAG_SOPS` of bench_answers.py: a same-intent ticket; the constructed
questions are labelled with SOPs); messages tagged out of scope and the other domains' questions are
unanswerable. Prints the coefficients, AUC, the rates by threshold
(answered right / wrong / abstained of the answerable; declined of the unanswerable) on both sets with
the SOP model (`CONFIDENCE_MODELS`, what answered before) and the fitted ticket model, and the
reliability table of the check set. `--untagged` does the same with the tickets' tags removed (a team
whose tickets carry none: the nearest ticket is the main one and there is no `agree`).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_answers import (  # noqa: E402
    CALIBRATION,
    TAG_SOPS,
    TICKETS,
    fit_logistic,
    load_split,
    ticket_questions,
    ticket_rows,
)

from kb.answers import Answerer, confidence  # noqa: E402
from kb.answers.ranking import CONFIDENCE_MODELS, ticket_confidence_model_for  # noqa: E402
from kb.config import load_config  # noqa: E402
from kb.embed import get_embedder  # noqa: E402
from kb.search import Searcher  # noqa: E402
from kb.storage import open_store  # noqa: E402

FEATURES = ("unit", "agree", "coverage", "words")
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
BUCKETS = (0.0, 0.2, 0.4, 0.55, 0.7, 0.8, 0.9, 1.0001)


def procedures(tags) -> set[str]:
    return {s for t in tags for s in TAG_SOPS.get(t, [])}


def questions(year: str, split: str) -> list[dict]:
    out = [{"query": q["query"], "relevant": set(q["relevant"])} for q in ticket_questions(year)]
    # short questions too, in and out of the domain: customers' messages are long, and without short
    # in-domain questions a model learns that a short question is out of scope
    out += [{"query": q["query"], "relevant": set(q["relevant"])}
            for q in load_split(CALIBRATION / "answerable.jsonl", split)]
    out += [{"query": q["query"], "relevant": set()} for q in load_split(CALIBRATION / "other_domains.jsonl", split)]
    return out


def untagged_copy(year: str, workdir: Path) -> Path:
    """`year`'s tickets without their tags (JSONL): a team whose tickets carry none."""
    path = workdir / f"tickets-{year}-untagged.jsonl"
    path.write_text("".join(json.dumps({**r, "tags": []}) + "\n" for r in ticket_rows(year)), encoding="utf-8")
    return path


def run(year: str, asked_of: str, split: str, workdir: Path, config, embedder,
        untagged: bool = False) -> list[tuple[dict, dict, bool]]:
    """(question, evidence, main ticket right) for each question of `year` asked of `asked_of`'s tickets."""
    from indexer.pipeline import index_paths

    store = open_store(workdir / f"tickets-{asked_of}{'-untagged' if untagged else ''}.db")
    if not store.count_chunks():
        source = untagged_copy(asked_of, workdir) if untagged else TICKETS[asked_of]
        index_paths(store, embedder, config, [source], progress=True)
    tags = {r["id"]: r["tags"] for r in ticket_rows(asked_of)}  # the labels, tagged or not
    answerer = Answerer(Searcher(store, config, embedder), config)
    out = []
    for q in questions(year, split):
        ans = answerer.answer(q["query"], threshold=0.0)
        main = ans.evidence.get("main")
        right = bool(main and q["relevant"] and procedures(tags.get(main, [])) & q["relevant"])
        out.append((q, ans.evidence, right))
    return out


def rates(rows, model: dict, threshold: float) -> tuple[float, float, float, float]:
    ans = [(confidence(ev, model) >= threshold, ok) for q, ev, ok in rows if q["relevant"]]
    una = [confidence(ev, model) < threshold for q, ev, _ in rows if not q["relevant"]]
    n = max(1, len(ans))
    return (sum(a and ok for a, ok in ans) / n, sum(a and not ok for a, ok in ans) / n,
            sum(not a for a, _ in ans) / n, sum(una) / max(1, len(una)))


def auc(rows, model: dict) -> float:
    pos = [confidence(ev, model) for _, ev, ok in rows if ok]
    neg = [confidence(ev, model) for _, ev, ok in rows if not ok]
    return float(np.mean([(a > b) + 0.5 * (a == b) for a in pos for b in neg])) if pos and neg else 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "deskbook-bench-tickets"))
    ap.add_argument("--write", help="write the fitted coefficients to this JSON file")
    ap.add_argument("--untagged", action="store_true",
                    help="the tickets without their tags: the main ticket is the nearest, no `agree` "
                         "(UNTAGGED_TICKET_CONFIDENCE_MODELS)")
    args = ap.parse_args()
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    config = load_config(data_dir=str(workdir), answer_threshold=0.0)
    embedder = get_embedder(config)
    fit = run("2025", "2026", "fit", workdir, config, embedder, args.untagged)
    check = run("2026", "2025", "check", workdir, config, embedder, args.untagged)
    features = tuple(f for f in FEATURES if not (args.untagged and f == "agree"))
    x = np.array([[float(ev.get(f, 0.0)) for f in features] for _, ev, _ in fit])
    y = np.array([1.0 if ok else 0.0 for _, _, ok in fit])
    w, b = fit_logistic(x, y)
    model = {"bias": round(b, 3), **{f: round(float(v), 3) for f, v in zip(features, w, strict=True)}}
    packaged = ticket_confidence_model_for(embedder.name, tagged=not args.untagged)
    print(f"{'UNTAGGED_' if args.untagged else ''}TICKET_CONFIDENCE_MODEL = {model}  # for {embedder.name}")
    print(f"packaged: {packaged}")
    if args.write:
        Path(args.write).write_text(json.dumps({"embedding_model": embedder.name, **model}, indent=2) + "\n",
                                    encoding="utf-8")
    sop_model = CONFIDENCE_MODELS.get(embedder.name, CONFIDENCE_MODELS["all-MiniLM-L6-v2"])
    for name, rows in (("fit: 2025 messages -> 2026 tickets, other domains 'fit'", fit),
                       ("check: 2026 messages -> 2025 tickets, other domains 'check'", check)):
        n_ans = sum(1 for q, _, _ in rows if q["relevant"])
        right = sum(ok for q, _, ok in rows if q["relevant"]) / max(1, n_ans)
        print(f"\n### {name}: {n_ans} answerable, {len(rows) - n_ans} unanswerable; main ticket right for "
              f"{right:.3f} of the answerable; AUC SOP model {auc(rows, sop_model):.3f}, ticket model "
              f"{auc(rows, model):.3f}\n")
        print("| threshold | SOP model: right / wrong / abstained; declined | ticket model: right / wrong / abstained; "
              "declined |")
        print("|---:|---|---|")
        for th in THRESHOLDS:
            a, c = rates(rows, sop_model, th), rates(rows, model, th)
            print(f"| {th:.2f} | {a[0]:.3f} / {a[1]:.3f} / {a[2]:.3f}; {a[3]:.3f} | "
                  f"{c[0]:.3f} / {c[1]:.3f} / {c[2]:.3f}; {c[3]:.3f} |")
    print("\n### Reliability of the ticket model on the check set\n")
    print("| confidence | questions | mean confidence | observed accuracy |")
    print("|---|---:|---:|---:|")
    for lo, hi in zip(BUCKETS, BUCKETS[1:], strict=False):
        cs = [(confidence(ev, model), ok) for _, ev, ok in check if lo <= confidence(ev, model) < hi]
        if cs:
            print(f"| {lo:.2f}-{min(hi, 1.0):.2f} | {len(cs)} | {np.mean([c for c, _ in cs]):.2f} | "
                  f"{np.mean([ok for _, ok in cs]):.2f} |")


if __name__ == "__main__":
    main()
