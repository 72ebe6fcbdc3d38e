"""Ideas for choosing an answer's main SOP, measured offline from each answer's recorded candidates.

    python bench/bench_answer_ideas.py record [--out /tmp/deskbook-answer-ideas.pkl]
    python bench/bench_answer_ideas.py report [--out /tmp/deskbook-answer-ideas.pkl]

`record` answers the question sets of `bench_answers.py calibrate` (the calibration "fit" and "check"
splits, the held-out queries, the 2025 and 2026 sample tickets' messages each asked of a knowledge base
without them) and keeps, per answer, its four candidate SOPs with their evidence, the confidence model's
evidence, and extra evidence from the question's own sentences (each of two or more content words
embedded apart: a candidate's best sentence or chunk cosine over them). `report` recomputes the main
SOP from the records under each idea and prints how often it is a right one (before abstention), per set:

1. the question's own sentences as evidence beside (or instead of) the whole question's;
2. one more feature for the confidence model (AUC of the refitted logistic model);
3. votes of labelled past questions (as agents' "helpful" marks would label them): the nearest labelled
   questions vote for their SOP with their similarity, learned from one set and measured on another.

The weights of the ranking (`RANK_WEIGHTS`) were chosen on "fit" and the 2025 messages; the others are
only measured. Results and what was kept: docs/answers.md ("Tried and not kept", thirteenth stop).
"""

from __future__ import annotations

import argparse
import pickle
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

SETS = ("fit", "tickets-2025", "check", "holdout", "tickets-2026")
BASE_FEATURES = ("unit", "margin", "coverage", "words", "votes")


def record(out: Path) -> None:
    import bench_answers as B

    from kb.answers import Answerer
    from kb.answers.engine import Answerer as Engine
    from kb.answers.ranking import RANK_WEIGHTS
    from kb.answers.units import _stems
    from kb.search import Searcher
    from kb.text import split_sentences

    seen: list[dict] = []
    original = Engine._rank

    def rank(self, question, qvec, hits, prefer=None, rows=None):
        ranked, tickets = original(self, question, qvec, hits, prefer=prefer, rows=rows)
        sents = [s for s in split_sentences(question) if len(_stems(s)) >= 2]
        sv = self.cache.vectors(self.searcher.embedder, sents) if len(sents) > 1 else qvec[None, :]
        sm = self._sop_matrix()
        cc = sm.matrix @ sv.T
        cands = []
        for r in (r for r in ranked if r["type"] == "sop"):
            _doc, units = self._units(r["id"])
            u = self.cache.vectors(self.searcher.embedder, [x.text for x in units]) @ sv.T if units else None
            i = sm.doc_ids.index(r["id"])
            c = cc[sm.starts[i]:(sm.starts[i + 1] if i + 1 < len(sm.starts) else len(sm.chunk_ids))]
            cands.append({**{k: r.get(k, 0.0) for k in RANK_WEIGHTS}, "id": r["id"],
                          "delegated": "delegated_from" in r,
                          "qunit": float(u.max()) if u is not None and u.size else r["unit"],
                          "qunit_mean": float(u.max(0).mean()) if u is not None and u.size else r["unit"],
                          "qchunk": float(c.max()) if c.size else r["chunk"]})
        seen.append({"q": question, "n_sent": len(sents), "cands": cands})
        return ranked, tickets

    Engine._rank = rank
    workdir = Path(tempfile.mkdtemp(prefix="deskbook-answer-ideas-"))
    config = B.load_config(data_dir=str(workdir), answer_threshold=0.0)
    embedder = B.get_embedder(config)
    answerer = Answerer(Searcher(B.corpus_kb(workdir, config, embedder), config, embedder), config)
    answerer.warm()
    C, E = B.CALIBRATION, B.EVAL
    questions = {
        "fit": (B.load_split(C / "answerable.jsonl", "fit") + B.load_split(C / "other_domains.jsonl", "fit")
                + B.load_queries(E / "queries.jsonl") + B.load_queries(E / "out_of_scope.jsonl")),
        "check": B.load_split(C / "answerable.jsonl", "check") + B.load_split(C / "other_domains.jsonl", "check"),
        "holdout": B.load_queries(E / "queries_holdout.jsonl"),
    }
    answerers = dict.fromkeys(questions, answerer)
    for year in ("2025", "2026"):
        questions[f"tickets-{year}"] = B.ticket_questions(year)
        answerers[f"tickets-{year}"] = Answerer(Searcher(B.kb_without(year, workdir, config, embedder), config,
                                                         embedder), config)
    records: dict[str, list] = {}
    for name, qs in questions.items():
        seen.clear()
        _, results = B.evaluate_answers(answerers[name], qs)
        answers = seen[1:]  # the first answer warms the model up
        vecs = embedder.encode_queries([q["query"] for q, _ in results])
        records[name] = [{**r, "relevant": q["relevant"], "evidence": a.evidence, "vector": v}
                         for (q, a), r, v in zip(results, answers, vecs, strict=True)]
        print(f"{name}: {len(records[name])} questions", file=sys.stderr)
    out.write_bytes(pickle.dumps(records))
    print(f"written to {out}")


def main_sop(rec: dict, weights: dict[str, float], votes: dict[str, float] | None = None, w_vote: float = 0.0):
    if rec["cands"][0]["delegated"]:  # a hand-over stays as the ranking made it
        return rec["cands"][0]["id"]
    votes = votes or {}
    return max(rec["cands"], key=lambda c: sum(w * c[k] for k, w in weights.items())
               + w_vote * votes.get(c["id"], 0.0))["id"]


def right(records: list[dict], weights, vote_of=None, w_vote: float = 0.0) -> float:
    answerable = [r for r in records if r["relevant"] and r["cands"]]
    hits = sum(main_sop(r, weights, vote_of(r) if vote_of else None, w_vote) in r["relevant"] for r in answerable)
    return hits / len(answerable)


def report(out: Path) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    from kb.answers.ranking import RANK_WEIGHTS

    D = pickle.loads(out.read_bytes())
    W = dict(RANK_WEIGHTS)
    print("| idea | " + " | ".join(SETS) + " |")
    print("|---|" + "---:|" * len(SETS))

    def row(label, weights, vote_of=None, w_vote=0.0, sets=SETS):
        print(f"| {label} | " + " | ".join(f"{right(D[s], weights, vote_of, w_vote):.3f}" for s in sets) + " |")

    row("current ranking", W)
    for feat in ("qunit", "qchunk", "qunit_mean"):
        for a in (0.25, 0.5, 1.0):
            row(f"+ {feat} x {a}", {**W, feat: a})
    for a in (0.5, 1.0):
        row(f"unit -> qunit x {a}", {**W, "unit": 0.0, "qunit": a})
        row(f"chunk -> qchunk x {a}", {**W, "chunk": 0.0, "qchunk": a})

    print("\n| confidence features (AUC, fitted on fit + 2025 messages) | " + " | ".join(SETS) + " |")
    print("|---|" + "---:|" * len(SETS))

    def xy(name, extra):
        X, y = [], []
        for r in D[name]:
            ev = r["evidence"]
            if not ev.get("main") or not r["cands"]:
                continue
            top, nxt = r["cands"][0], (r["cands"][1] if len(r["cands"]) > 1 else None)
            f = {k: float(ev.get(k, 0.0)) for k in (*BASE_FEATURES, "chunk", "ticket")}
            f.update(qunit=top["qunit"], qchunk=top["qchunk"], rrf=top["rrf"], nsent=min(r["n_sent"], 5) / 5,
                     unit_gap=top["unit"] - (nxt["unit"] if nxt else 0.0))
            X.append([f[k] for k in (*BASE_FEATURES, *extra)])
            y.append(ev["main"] in r["relevant"])
        return np.array(X), np.array(y)

    for extra in ((), ("chunk",), ("ticket",), ("qunit",), ("qchunk",), ("rrf",), ("unit_gap",), ("nsent",)):
        Xf = np.vstack([xy(s, extra)[0] for s in ("fit", "tickets-2025")])
        yf = np.concatenate([xy(s, extra)[1] for s in ("fit", "tickets-2025")])
        model = LogisticRegression(C=1.0, max_iter=5000).fit(Xf, yf)
        aucs = [roc_auc_score(y, model.predict_proba(X)[:, 1]) for X, y in (xy(s, extra) for s in SETS)]
        print(f"| {' + '.join(('the five', *extra))} | " + " | ".join(f"{a:.3f}" for a in aucs) + " |")

    print("\n| votes of labelled questions: learned from -> measured on | k | cosine from | weight | before | after |")
    print("|---|---:|---:|---:|---:|---:|")
    for train, test in ((("tickets-2025",), "tickets-2026"), (("tickets-2026",), "tickets-2025"),
                        (("fit",), "check"), (("fit", "tickets-2025"), "holdout")):
        labelled = [(r["vector"], r["relevant"]) for s in train for r in D[s] if r["relevant"]]
        LV = np.array([v for v, _ in labelled])
        for k, tau, w in ((5, 0.6, 0.5), (5, 0.7, 0.5), (5, 0.8, 0.5), (1, 0.6, 0.5)):
            def vote_of(r, k=k, tau=tau, LV=LV, labelled=labelled):
                sims = LV @ r["vector"]
                votes: dict[str, float] = {}
                for j in np.argsort(-sims)[:k]:
                    if sims[j] < tau:
                        break
                    for d in labelled[j][1]:
                        votes[d] = max(votes.get(d, 0.0), float(sims[j]))
                return votes
            print(f"| {' + '.join(train)} -> {test} | {k} | {tau} | {w} | {right(D[test], W):.3f} | "
                  f"{right(D[test], W, vote_of, w):.3f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["record", "report"])
    ap.add_argument("--out", default=str(Path(tempfile.gettempdir()) / "deskbook-answer-ideas.pkl"))
    args = ap.parse_args()
    (record if args.what == "record" else report)(Path(args.out))


if __name__ == "__main__":
    main()
