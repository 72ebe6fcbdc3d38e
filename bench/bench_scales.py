"""Cosine thresholds for another embedding model, by the same quantile rule as kb/scales.py (prints a table).

    python bench/bench_scales.py [--model multilingual] [--workdir DIR]

Every threshold of `kb.scales.PACKAGED` was chosen for all-MiniLM-L6-v2. For another model, the value that
puts the same share of the same population below it, both populations measured on the sample corpus
indexed with each model (no labels involved):

- gap_score_threshold: the best dense result of each answerable dev question (corpus/eval/queries.jsonl);
- ticket_coverage_threshold and the grouping margin: each sample ticket's best SOP-section cosine;
- near_duplicate_threshold: MiniLM's 0.9 lies above every pair of sections of two SOPs, so the value is
  placed as far above the other model's highest pair, in units of (highest - 99.9th percentile);
- contradiction_similarity / contradiction_sentence_similarity: pairs of sections / of sentences (five
  words or more) of two different SOPs;
- assist_shift_threshold: pairs of calibration "fit" questions labelled with the same SOP;
- qa_sop_min_similarity and qa_step_threshold: scoring the sample calls and chats with their rubrics,
  the best SOP found from each call's customer turns, and each SOP step's best match score.

A team with its own model runs this with `--model NAME` and sets the printed values.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from kb.config import load_config  # noqa: E402
from kb.embed import get_embedder  # noqa: E402
from kb.insights.gaps import SopVectors  # noqa: E402
from kb.scales import MINILM, PACKAGED  # noqa: E402
from kb.search import Searcher  # noqa: E402
from kb.storage import open_store  # noqa: E402

EVAL = ROOT / "corpus" / "eval"


def corpus_store(workdir: Path, config, embedder):
    from indexer.pipeline import index_paths

    store = open_store(workdir / f"corpus-{embedder.name.split()[0].replace('/', '_')}.db")
    if not store.count_chunks():
        index_paths(store, embedder, config, [ROOT / "corpus" / "sops", ROOT / "corpus" / "tickets"], progress=True)
    return store


def populations(model: str, workdir: Path) -> dict[str, np.ndarray]:
    config = load_config(data_dir=str(workdir), model=model)
    embedder = get_embedder(config)
    store = corpus_store(workdir, config, embedder)
    searcher = Searcher(store, config, embedder)
    sops = SopVectors(store, include_archived=False)
    out: dict[str, np.ndarray] = {}
    queries = [json.loads(line)["query"] for line in (EVAL / "queries.jsonl").read_text().splitlines() if line.strip()]
    out["gap"] = np.array([searcher.find(q, k=1, mode="dense", snippets=False).best_score for q in queries])
    sop_ids = {int(c) for c in sops.ids}
    best = []
    for ids, mat in store.iter_vectors(batch=8192):
        sel = [i for i, c in enumerate(ids) if int(c) not in sop_ids]
        if sel:
            best.append((mat[sel] @ sops.X.T).max(axis=1))
    out["tickets"] = np.concatenate(best)
    doc = np.array(sops.doc)
    iu = np.triu_indices(len(doc), 1)
    out["sections"] = (sops.X @ sops.X.T)[iu][doc[iu[0]] != doc[iu[1]]]
    sents, sdoc = [], []
    for d, text in zip(sops.doc, sops.text, strict=True):
        for s in re.split(r"(?<=[.!?])\s+|\n+", text):
            if len(s.split()) >= 5:
                sents.append(s.strip())
                sdoc.append(d)
    V = embedder.encode_documents(sents)
    sd = np.array(sdoc)
    ju = np.triu_indices(len(sd), 1)
    out["sentences"] = (V @ V.T)[ju][sd[ju[0]] != sd[ju[1]]]
    rows = [json.loads(line) for line in (EVAL / "calibration" / "answerable.jsonl").read_text().splitlines()
            if line.strip()]
    rows = [r for r in rows if r.get("split") == "fit"]
    Q = embedder.encode_queries([r["query"] for r in rows])
    out["same_subject"] = np.array([float(Q[i] @ Q[j]) for i, j in itertools.combinations(range(len(rows)), 2)
                                    if set(rows[i]["relevant"]) & set(rows[j]["relevant"])])
    out.update(_qa_populations(config, embedder, store, searcher))
    return out


def _qa_populations(config, embedder, store, searcher) -> dict[str, np.ndarray]:
    import bench_qa

    import qa_rubrics.criteria.sop_steps as steps_method
    from qa_rubrics.score import Scorer
    from qa_rubrics.services import CriterionServices

    found, matched = [], []
    orig_find, orig_match = CriterionServices.find_sops, steps_method._match

    def find_sops(self, queries):
        ranked = orig_find(self, queries)
        if ranked:
            found.append(ranked[0][1])
        return ranked

    def match(doc, check, ctx):
        m = orig_match(doc, check, ctx)
        matched.extend(r["similarity"] for r in m["steps"] if "similarity" in r)
        return m

    CriterionServices.find_sops, steps_method._match = find_sops, match
    try:
        for name in ("phone", "chat"):
            rubric, transcripts, _ = bench_qa.load_set(name)
            list(Scorer(rubric, config, embedder, store=store, searcher=searcher).score_many(transcripts))
    finally:
        CriterionServices.find_sops, steps_method._match = orig_find, orig_match
    return {"qa_sop": np.array(found), "qa_steps": np.array(matched)}


def matched(value: float, ref: np.ndarray, other: np.ndarray) -> tuple[float, float]:
    share = float((ref < value).mean())
    return share, float(np.quantile(other, share))


def above_top(value: float, ref: np.ndarray, other: np.ndarray) -> float:
    unit = lambda a: max(float(a.max() - np.percentile(a, 99.9)), 1e-6)  # noqa: E731
    return float(other.max() + (value - ref.max()) / unit(ref) * unit(other))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="multilingual", help="the other model (a `model` setting value)")
    ap.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "deskbook-bench-scales"))
    args = ap.parse_args()
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    ref, other = populations("default", workdir), populations(args.model, workdir)
    rules = [("gap_score_threshold", "gap"), ("ticket_coverage_threshold", "tickets"),
             ("contradiction_similarity", "sections"), ("contradiction_sentence_similarity", "sentences"),
             ("assist_shift_threshold", "same_subject"), ("qa_sop_min_similarity", "qa_sop"),
             ("qa_step_threshold", "qa_steps")]
    print(f"| setting | {MINILM} | share below it | {args.model} (same share) | packaged for the multilingual model |")
    print("|---|---:|---:|---:|---:|")
    for setting, pop in rules:
        v = PACKAGED[setting][MINILM]
        share, eq = matched(v, ref[pop], other[pop])
        print(f"| {setting} | {v:g} | {share:.3f} | {eq:.3f} | {list(PACKAGED[setting].values())[1]:g} |")
    v = PACKAGED["ticket_coverage_threshold"][MINILM] + PACKAGED["ticket_candidate_margin"][MINILM]
    share, eq = matched(v, ref["tickets"], other["tickets"])
    eq_cov = matched(PACKAGED["ticket_coverage_threshold"][MINILM], ref["tickets"], other["tickets"])[1]
    print(f"| ticket_candidate_margin (threshold + margin) | {v:g} | {share:.3f} | {eq:.3f} (margin {eq - eq_cov:.3f}) | "
          f"{list(PACKAGED['ticket_candidate_margin'].values())[1]:g} |")
    v = PACKAGED["qa_sop_min_similarity"][MINILM]
    eq = matched(v, ref["qa_sop"], other["qa_sop"])[1]
    ratio = (float(np.median(other["qa_sop"])) - eq) / max(float(np.median(ref["qa_sop"])) - v, 1e-6)
    print(f"| qa_sop_confidence_span (median best SOP above the threshold) | {PACKAGED['qa_sop_confidence_span'][MINILM]:g} "
          f"| - | {PACKAGED['qa_sop_confidence_span'][MINILM] * ratio:.3f} | "
          f"{list(PACKAGED['qa_sop_confidence_span'].values())[1]:g} |")
    v = PACKAGED["near_duplicate_threshold"][MINILM]
    print(f"| near_duplicate_threshold (above the highest pair) | {v:g} | - | "
          f"{above_top(v, ref['sections'], other['sections']):.3f} | {list(PACKAGED['near_duplicate_threshold'].values())[1]:g} |")


if __name__ == "__main__":
    main()
