"""QA benchmarks.

    python bench/bench_qa.py speed  [--db KB.db] [--runs 7] [--threads 2]
        Transcripts scored per second for a 40-turn transcript and a 15-criterion rubric, next to
        the raw cost of embedding its 40 turns (the ratio is what the scoring adds).

    python bench/bench_qa.py kappa  [--db KB.db]
        The semantic-method ablation: for each variant, thresholds are tuned on
        corpus/transcripts/dev (as `deskbook qa eval --tune` does) and Cohen's kappa is measured on
        corpus/transcripts/test, which is never used for tuning.

Without --db, corpus/sops is indexed into a temporary database first (sop_steps criteria need it).
Timings are medians; the machine is shared, so compare ratios taken in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kb.config import load_config  # noqa: E402
from kb.embed import get_embedder  # noqa: E402
from kb.storage import open_store  # noqa: E402
from kb.text import load_spacy  # noqa: E402
from qa_rubrics.calibrate import evaluate, load_labels, tune, tuned_values  # noqa: E402
from qa_rubrics.criteria.semantic import BASELINE, SemanticOptions  # noqa: E402
from qa_rubrics.rubric import load_rubric, parse_rubric, write_tuned_copy  # noqa: E402
from qa_rubrics.score import Scorer  # noqa: E402
from qa_rubrics.transcripts import Transcript, Turn, load_inputs  # noqa: E402

RUBRICS = [ROOT / "corpus" / "rubrics" / "phone-support.yaml", ROOT / "corpus" / "rubrics" / "chat-support.yaml"]
TRANSCRIPTS = ROOT / "corpus" / "transcripts"


def knowledge_base(db: str | None, tmp: Path):
    if db:
        config = load_config(db=db)
        return config, open_store(config.database, create=False)
    from indexer.pipeline import index_paths

    config = load_config(data_dir=str(tmp), db=str(tmp / "kb.db"))
    store = open_store(config.database)
    print("indexing corpus/sops into a temporary knowledge base ...", file=sys.stderr)
    index_paths(store, get_embedder(config), config, [ROOT / "corpus" / "sops"], progress=False)
    return config, store


# -- speed ---------------------------------------------------------------------------------------
def forty_turns() -> Transcript:
    """40 turns of real phone calls from the dev set, alternating agent / customer, with times."""
    turns: list[Turn] = []
    for t in load_inputs([TRANSCRIPTS / "dev"]):
        if isinstance(t, Transcript) and t.id.startswith("call"):
            turns.extend(t.turns)
        if len(turns) >= 40:
            break
    turns = turns[:40]
    clock = 0.0
    out = []
    for t in turns:
        out.append(Turn(t.speaker, t.text, clock, clock + 5.0))
        clock += 7.0
    return Transcript(id="bench-40", turns=out, agent="Amara Okafor", channel="phone")


def fifteen_criteria():
    """The phone rubric without its last criterion: 15 criteria, every method."""
    r = load_rubric(RUBRICS[0])
    last = r.sections[-1]
    text = r.text
    cut = text.rfind("      - id: closing")
    assert cut > 0 and last.criteria[-1].id == "closing"
    rub = parse_rubric(text[:cut], "phone-support-15.yaml")
    assert len(rub.criteria) == 15
    return rub


def speed(args) -> None:
    import torch

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        config, store = knowledge_base(args.db, Path(tmp))
        embedder = get_embedder(config)
        rubric = fifteen_criteria()
        transcript = forty_turns()
        scorer = Scorer(rubric, config, embedder, store=store)
        scorer.score(transcript)  # warm-up: models, rubric phrases, SOP steps
        texts = [t.text for t in transcript.turns]
        embed_t, score_t, prep_t, vec_t, eval_t = [], [], [], [], []
        for _ in range(args.runs):
            a = time.perf_counter()
            embedder.encode_documents(texts)
            embed_t.append(time.perf_counter() - a)
            scorer._sop_search_cache.clear()  # a new transcript searches again
            a = time.perf_counter()
            conv = scorer.prepare(transcript)
            b = time.perf_counter()
            scorer.embed(conv)
            c = time.perf_counter()
            scorer.scorecard(conv, scorer.outcomes(conv))
            d = time.perf_counter()
            prep_t.append(b - a)
            vec_t.append(c - b)
            eval_t.append(d - c)
            score_t.append(d - a)
        med = statistics.median
        n_units = int(conv._have.sum())
        print(f"transcript: 40 turns, {sum(len(t.split()) for t in texts)} words, {n_units} embedded units "
              f"(the agent's turns and sentences); rubric: {len(rubric.criteria)} criteria; torch threads: {args.threads}; "
              f"runs: {args.runs} (medians)")
        print()
        print(f"| {'step':<44} | {'seconds':>8} | {'x embed turns':>13} |")
        print(f"|{'-' * 46}|{'-' * 10}|{'-' * 15}|")
        rows = [("embed the 40 turns (raw model cost)", med(embed_t)),
                ("score: spaCy parse + redaction", med(prep_t)),
                ("score: embed agent turns and sentences", med(vec_t)),
                ("score: evaluate 15 criteria + scorecard", med(eval_t)),
                ("score: total per transcript", med(score_t))]
        for name, sec in rows:
            print(f"| {name:<44} | {sec:>8.3f} | {sec / med(embed_t):>13.2f} |")
        print()
        print(f"transcripts scored per second: {1 / med(score_t):.2f}  "
              f"(embedding alone would allow {1 / med(embed_t):.2f}/s)")


# -- kappa ablation -------------------------------------------------------------------------------
FULL = SemanticOptions()
_Q = replace(BASELINE, units="sentences", clean=True, normalise_names=True, use_question=True)
VARIANTS = [
    ("baseline: whole turns vs examples, raw text", BASELINE),
    ("+ sentence-level matching", replace(BASELINE, units="sentences")),
    ("+ cleaning (links, handles, emoji, text-speak)", replace(BASELINE, units="sentences", clean=True)),
    ("+ names made uniform", replace(BASELINE, units="sentences", clean=True, normalise_names=True)),
    ("+ criterion question as a prototype", _Q),
    ("+ counter-examples (rubric's + delay apologies)", replace(_Q, counter_examples=True, boilerplate=True)),
    ("+ question vs statement = semantic.v1 default", FULL),
    ("semantic.v1 + negation penalty (off by default)", replace(FULL, negation_aware=True)),
]


def _mean(xs):
    xs = [x for x in xs if x is not None]
    return sum(xs) / len(xs) if xs else float("nan")


def kappa(args) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        config, store = knowledge_base(args.db, Path(tmp))
        embedder = get_embedder(config)
        nlp = load_spacy(config.spacy_model, full=True)
        rubrics = [load_rubric(p) for p in RUBRICS]
        data = {}
        for split in ("dev", "test"):
            ts = [t for t in load_inputs([TRANSCRIPTS / split]) if isinstance(t, Transcript)]
            for r in rubrics:
                labels = load_labels(TRANSCRIPTS / split / "labels.jsonl", r.id)
                data[(split, r.id)] = ([t for t in ts if t.id in labels], labels)
        convs: dict[tuple, list] = {}
        rows = []
        for name, opts in VARIANTS:
            sem_untuned, sem_tuned, all_tuned, sem_dev = [], [], [], []
            for r in rubrics:
                scorer = Scorer(r, config, embedder, store=store, semantic_options=opts, nlp=nlp)
                key = (opts.clean, opts.normalise_names)

                def cards_for(split, sc, r=r, key=key, scorer=scorer):
                    ts, _ = data[(split, r.id)]
                    ck = (*key, split, r.id)
                    if ck not in convs:
                        convs[ck] = [scorer.prepare(t) for t in ts]
                    return [sc.scorecard(c, sc.outcomes(c)) for c in convs[ck]]

                dev_cards = cards_for("dev", scorer)
                test_cards = cards_for("test", scorer)
                dev_labels, test_labels = data[("dev", r.id)][1], data[("test", r.id)][1]
                semantic = [c.id for c in r.criteria if c.check.method_name == "semantic"]
                rep0 = evaluate(test_cards, test_labels, r)
                sem_untuned += [rep0.criteria[c]["kappa"] for c in semantic]
                values = tuned_values(tune(dev_cards, dev_labels, r, config))
                tuned_path = write_tuned_copy(r, values, Path(tmp) / f"{r.id}-tuned.yaml")
                tuned = load_rubric(tuned_path)
                tscorer = Scorer(tuned, config, embedder, store=store, semantic_options=opts, nlp=nlp)
                tscorer._sop_search_cache = scorer._sop_search_cache
                rep = evaluate(cards_for("test", tscorer), test_labels, tuned)
                sem_tuned += [rep.criteria[c]["kappa"] for c in semantic]
                all_tuned += [m["kappa"] for m in rep.criteria.values()]
                rep_dev = evaluate(cards_for("dev", tscorer), dev_labels, tuned)
                sem_dev += [rep_dev.criteria[c]["kappa"] for c in semantic]
            rows.append((name, _mean(sem_untuned), _mean(sem_dev), _mean(sem_tuned), _mean(all_tuned)))
            print(f"done: {name}", file=sys.stderr)
        n_sem = sum(1 for r in rubrics for c in r.criteria if c.check.method_name == "semantic")
        print(f"mean Cohen's kappa of the {n_sem} semantic criteria of both rubrics; thresholds tuned on dev "
              f"({sum(len(data[('dev', r.id)][0]) for r in rubrics)} labelled transcripts), measured on test "
              f"({sum(len(data[('test', r.id)][0]) for r in rubrics)}, never used for tuning)")
        print()
        print("| variant | semantic, rubric thresholds (test) | semantic, dev-tuned (dev, in-sample) | "
              "semantic, dev-tuned (test) | all criteria, dev-tuned (test) |")
        print("|---|---:|---:|---:|---:|")
        for name, a, d, b, c in rows:
            print(f"| {name} | {a:.3f} | {d:.3f} | {b:.3f} | {c:.3f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["speed", "kappa"])
    ap.add_argument("--db", default=None, help="a knowledge base with corpus/sops indexed")
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    speed(args) if args.what == "speed" else kappa(args)


if __name__ == "__main__":
    main()
