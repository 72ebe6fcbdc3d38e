"""QA benchmarks: agreement with human labels (zero-shot and learned), and speed.

    python bench/bench_qa.py zeroshot [--sets sgd,social,phone,chat] [--text written|lower|unpunctuated|speech]
                                      [--versions plain,v1,v2,v3,v4,v5,v6,v7,v8]
        Mean Cohen's kappa of the semantic criteria, rubric as written (no thresholds, nothing learned),
        per data set: plain cosine to the examples (threshold 0.55, the old default), semantic.v1 ... v8;
        each criterion's kappa with the last version asked for, and the agreement of that version's
        verdicts by confidence band (needs review < 0.7). Sets: sgd,
        social, phone, chat (the sample calls and chats, dev and test), phone-dev, phone-test, chat-dev,
        chat-test, de, tr (the German and Turkish sample calls). `--text lower` lowercases every turn,
        `--text unpunctuated` removes . , ! ? ; : and `--text speech` does both (what a speech
        recogniser without punctuation or capitals gives).

    python bench/bench_qa.py curve [--sets sgd,social] [--sizes 10 20 40 80] [--repeats 5] [--method semantic.v8]
        Learning curve: for each size n, n labelled conversations drawn at random (repeats with other
        seeds), a classifier learned per semantic criterion (`qa_rubrics.learning`, kept unless
        cross-validation on the n says it is worse by more than 0.2), kappa measured on all the other
        conversations.

    python bench/bench_qa.py speed [--db KB.db] [--transcripts 20] [--threads 2] [--text speech]
        Transcripts per second for 40-turn transcripts and a 15-criterion rubric (every method,
        redaction included), next to embedding the same turns once; and the time to learn from 120
        labelled conversations (sgd-qa).

    python bench/bench_qa.py speakers [--sets phone-dev,...] [--text written|speech]
        Unnamed speakers: every labelled conversation's two speakers renamed "Speaker 1" and "Speaker 2"
        (in a seeded random order), then told apart by what they say (kb.transcript.SpeakerMap.resolve):
        how many were told apart, how many wrongly, and the words they were told apart by.

Data: `../shared/data/sgd-qa` (120 task dialogues, labels from the data set's dialogue acts: the
development set), `corpus/transcripts/social` (60 social-media threads written and labelled for this
project as a held-out set: nothing is tuned on it), and the sample calls and chats in
`corpus/transcripts/{dev,test}`. Timings are medians; the machine is shared: compare ratios.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kb.config import load_config  # noqa: E402
from kb.embed import get_embedder  # noqa: E402
from kb.storage import open_store  # noqa: E402
from qa_rubrics.calibrate import cohen_kappa, load_labels  # noqa: E402
from qa_rubrics.criteria import REGISTRY, resolve  # noqa: E402
from qa_rubrics.criteria.semantic import BASELINE  # noqa: E402
from qa_rubrics.learned import LearnedModels  # noqa: E402
from qa_rubrics.learning import learn_rubric  # noqa: E402
from qa_rubrics.rubric import load_rubric, parse_rubric  # noqa: E402
from qa_rubrics.score import Scorer  # noqa: E402
from qa_rubrics.transcripts import Transcript, Turn, load_inputs  # noqa: E402

SHARED = ROOT.parent / "shared" / "data" / "sgd-qa"
CORPUS = ROOT / "corpus"
SETS = {
    "sgd": (SHARED / "rubric.yaml", SHARED / "labels.jsonl", [SHARED / "transcripts.jsonl"]),
    "social": (CORPUS / "transcripts/social/rubric.yaml", CORPUS / "transcripts/social/labels.jsonl",
               [CORPUS / "transcripts/social/transcripts.jsonl"]),
    "phone": (CORPUS / "rubrics/phone-support.yaml", None, [CORPUS / "transcripts/dev", CORPUS / "transcripts/test"]),
    "chat": (CORPUS / "rubrics/chat-support.yaml", None, [CORPUS / "transcripts/dev", CORPUS / "transcripts/test"]),
    **{f"{kind}-{split}": (CORPUS / f"rubrics/{kind}-support.yaml", CORPUS / f"transcripts/{split}/labels.jsonl",
                           [CORPUS / f"transcripts/{split}"]) for kind in ("phone", "chat") for split in ("dev", "test")},
    "de": (CORPUS / "rubrics/telefon-support-de.yaml", CORPUS / "transcripts/de/labels.jsonl", [CORPUS / "transcripts/de"]),
    "tr": (CORPUS / "rubrics/telefon-destek-tr.yaml", CORPUS / "transcripts/tr/labels.jsonl", [CORPUS / "transcripts/tr"]),
}


def load_set(name: str):
    rubric_path, labels_path, inputs = SETS[name]
    rubric = load_rubric(rubric_path)
    if labels_path is None:
        labels = {}
        for split in ("dev", "test"):
            labels.update(load_labels(CORPUS / "transcripts" / split / "labels.jsonl", rubric.id))
    else:
        labels = load_labels(labels_path, rubric.id)
    ts = [t for t in load_inputs(inputs) if isinstance(t, Transcript) and t.id in labels]
    return rubric, ts, labels


def semantic_ids(rubric) -> list[str]:
    return [c.id for c in rubric.criteria if c.check.method_name == "semantic"]


def kappas(cards, labels, ids) -> dict[str, float]:
    out = {}
    for cid in ids:
        pairs = [(c.criterion(cid).result, labels[c.transcript_id][cid]) for c in cards if cid in labels[c.transcript_id]]
        k = cohen_kappa([m for m, _ in pairs], [h for _, h in pairs])
        out[cid] = 0.0 if k is None else k
    return out


def as_version(rubric, method: str):
    """The rubric with every semantic criterion pinned to `method` (semantic.v1 ... v8)."""
    import re

    text = re.sub(r"(method:\s*)semantic(?:\.v\d)?\b", rf"\g<1>{method}", rubric.text)
    return parse_rubric(text, rubric.path)


# -- zero-shot -----------------------------------------------------------------------------------
def as_text(ts: list[Transcript], form: str) -> list[Transcript]:
    """The transcripts as written, or lowercased, unpunctuated, or both ("speech")."""
    def change(text: str) -> str:
        if form in ("unpunctuated", "speech"):
            text = re.sub(r"[.,!?;:]", "", text)
        return text.lower() if form in ("lower", "speech") else text
    if form == "written":
        return ts
    return [replace(t, turns=[replace(u, text=change(u.text)) for u in t.turns]) for t in ts]


def zeroshot(args) -> None:
    config = load_config(data_dir=tempfile.mkdtemp(prefix="bench-qa-"))
    embedder = get_embedder(config)
    variants = args.versions.split(",")
    latest = variants[-1]
    print("| data set | conversations | semantic criteria | " + " | ".join(
        "plain cosine (0.55)" if v == "plain" else f"semantic.{v}" for v in variants) + " |")
    print("|---|---:|---:|" + "---:|" * len(variants))
    bands: dict[str, list] = {}
    per_criterion: list[str] = []
    for name in args.sets.split(","):
        rubric, ts, labels = load_set(name)
        ts = as_text(ts, args.text)
        ids = semantic_ids(rubric)
        row = []
        for variant in variants:
            r = as_version(rubric, "semantic.v1" if variant == "plain" else f"semantic.{variant}")
            opts = BASELINE if variant == "plain" else None
            scorer = Scorer(r, config, embedder, semantic_options=opts) if opts else Scorer(r, config, embedder)
            cards = list(scorer.score_many(ts))
            ks = kappas(cards, labels, ids)
            row.append(float(np.mean(list(ks.values()))))
            if variant == latest:
                per_criterion.append(f"{name} ({latest}): " + ", ".join(f"{c} {k:.2f}" for c, k in ks.items()))
                for c in cards:
                    for res in c.criteria:
                        if res.id in ids and res.id in labels[c.transcript_id]:
                            band = "< 0.7 (needs review)" if res.needs_review else (
                                "0.7-0.9" if res.confidence < 0.9 else ">= 0.9")
                            bands.setdefault(band, []).append(res.result == labels[c.transcript_id][res.id])
        print(f"| {name} | {len(ts)} | {len(ids)} | " + " | ".join(f"{x:.3f}" for x in row) + " |", flush=True)
    print()
    print("\n".join(per_criterion))
    print()
    print(f"| {latest} confidence | verdicts | agree with the label |")
    print("|---|---:|---:|")
    for band in (">= 0.9", "0.7-0.9", "< 0.7 (needs review)"):
        if band in bands:
            print(f"| {band} | {len(bands[band])} | {np.mean(bands[band]):.2f} |")


# -- learning curve --------------------------------------------------------------------------------
def curve(args) -> None:
    config = load_config(data_dir=tempfile.mkdtemp(prefix="bench-qa-"))
    embedder = get_embedder(config)
    print("| data set | labelled | conversations measured | mean kappa (semantic criteria) | min | max | "
          "criteria learned |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in args.sets.split(","):
        rubric, ts, labels = load_set(name)
        rubric = as_version(rubric, args.method)
        ids = semantic_ids(rubric)
        base = Scorer(rubric, config, embedder, learned=LearnedModels())
        base.keep_conversations = True
        for t in ts:  # embed every conversation once
            base.conversation(t)
        zero = list(base.score_many(ts))
        k0 = np.mean(list(kappas(zero, labels, ids).values()))
        print(f"| {name} | 0 | {len(ts)} | {k0:.3f} | | | 0 |", flush=True)
        for n in args.sizes:
            if n >= len(ts) - 5:
                continue
            runs, learned_counts = [], []
            for rep in range(args.repeats):
                rnd = random.Random(1000 + rep)
                train = rnd.sample(ts, n)
                test = [t for t in ts if t not in train]
                res = learn_rubric(base, train, labels)
                learned_counts.append(len(res.learned.models))
                scorer = Scorer(rubric, config, embedder, learned=res.learned, nlp=base.nlp)
                scorer.keep_conversations = True
                scorer._conversations = base._conversations  # the same embedded conversations
                cards = [scorer.scorecard(scorer.conversation(t), scorer.outcomes(scorer.conversation(t)))
                         for t in test]
                runs.append(np.mean(list(kappas(cards, labels, ids).values())))
            print(f"| {name} | {n} | {len(ts) - n} | {np.mean(runs):.3f} | {min(runs):.3f} | {max(runs):.3f} | "
                  f"{np.mean(learned_counts):.1f} of {len(ids)} |", flush=True)


# -- speed -----------------------------------------------------------------------------------------
def forty_turn_transcripts(n: int) -> list[Transcript]:
    """n distinct 40-turn transcripts from the sample calls and chats and the social threads (turns taken
    in order, with times), so that no sentence's vector can come from a cache."""
    pool: list[Turn] = []
    for t in load_inputs([CORPUS / "transcripts/dev", CORPUS / "transcripts/test",
                          CORPUS / "transcripts/social/transcripts.jsonl"]):
        if isinstance(t, Transcript):
            pool.extend(t.turns)
    out = []
    for i in range(n):
        turns = [pool[(i * 40 + k) % len(pool)] for k in range(40)]
        out.append(Transcript(id=f"bench-{i}", agent="Amara Okafor", channel="phone",
                              turns=[replace(t, start=7.0 * k, end=7.0 * k + 5.0) for k, t in enumerate(turns)]))
    return out


def fifteen_criteria():
    """The phone rubric without its last criterion: 15 criteria, every method."""
    r = load_rubric(CORPUS / "rubrics" / "phone-support.yaml")
    cut = r.text.rfind("      - id: closing")
    rub = parse_rubric(r.text[:cut], "phone-support-15.yaml")
    assert len(rub.criteria) == 15
    return rub


def speed(args) -> None:
    import torch

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        if args.db:
            config = load_config(db=args.db)
            store = open_store(config.database, create=False)
        else:
            from indexer.pipeline import index_paths

            config = load_config(data_dir=tmp, db=str(Path(tmp) / "kb.db"))
            store = open_store(config.database)
            print("indexing corpus/sops into a temporary knowledge base ...", file=sys.stderr)
            index_paths(store, get_embedder(config), config, [CORPUS / "sops"], progress=False)
        embedder = get_embedder(config)
        rubric = as_version(fifteen_criteria(), args.method)
        transcripts = as_text(forty_turn_transcripts(args.transcripts), args.text)
        scorer = Scorer(rubric, config, embedder, store=store)
        scorer.warm()  # what a worker does once: rubric phrases, sentence bank, classifiers, SOP steps
        scorer.score(forty_turn_transcripts(1)[0])
        texts = [t.text for tr in transcripts for t in tr.turns]
        a = time.perf_counter()
        embedder.encode_documents(texts)
        embed_s = time.perf_counter() - a
        a = time.perf_counter()
        cards = list(scorer.score_many(transcripts))
        score_s = time.perf_counter() - a
        units = sum(len(scorer.prepare(t).units) for t in transcripts[:3]) / 3
        n = len(transcripts)
        print(f"{n} transcripts x 40 turns ({sum(len(x.split()) for x in texts) / n:.0f} words each, ~{units:.0f} "
              f"sentence units), rubric of {len(rubric.criteria)} criteria (every method, SOP search included), "
              f"redaction on, torch threads {args.threads}, text {args.text}")
        print()
        print("| step | seconds | transcripts/s | x embedding the turns |")
        print("|---|---:|---:|---:|")
        print(f"| embed the turns once (raw model cost) | {embed_s:.2f} | {n / embed_s:.2f} | 1.00 |")
        print(f"| score (parse, redact, embed sentences, 15 criteria) | {score_s:.2f} | {n / score_s:.2f} | "
              f"{score_s / embed_s:.2f} |")
        assert len(cards) == n
        # learning from 120 labelled conversations
        rubric, ts, labels = load_set("sgd")
        sc = Scorer(as_version(rubric, args.method), config, embedder, learned=LearnedModels())
        sc.keep_conversations = True
        a = time.perf_counter()
        res = learn_rubric(sc, ts, labels)
        learn_s = time.perf_counter() - a
        print()
        print(f"learning from {len(ts)} labelled conversations (sgd-qa, {len(res.criteria)} criteria, embedding "
              f"included, 5-fold cross-validation): {learn_s:.1f} s ({learn_s / len(ts):.2f} s "
              "per conversation)")


# -- unnamed speakers ----------------------------------------------------------------------------
def speakers(args) -> None:
    from collections import Counter

    from kb.transcript import SpeakerMap, TranscriptError

    rng = random.Random(7)
    print(f"{'set':<11}{'conversations':>14}{'told apart':>11}{'wrong':>6}  words told apart by (most used)")
    for name in args.sets.split(","):
        _, ts, _ = load_set(name)
        ts = as_text(ts, args.text)
        told = wrong = 0
        cues: Counter[str] = Counter()
        for t in ts:
            roles = ["agent", "customer"]
            rng.shuffle(roles)
            label = {roles[0]: "Speaker 1", roles[1]: "Speaker 2"}
            turns = [u for u in t.turns if u.speaker in label]
            inferred: dict[str, str] = {}
            try:
                got = SpeakerMap().resolve([label[u.speaker] for u in turns], texts=[u.text for u in turns],
                                           where=t.id, inferred=inferred, agent_name=t.agent)
            except TranscriptError:
                continue
            told += 1
            wrong += got[label["agent"]] != "agent"
            cues[inferred[label["agent"]].partition(", by ")[2].strip("'\"").lower()] += 1
        common = ", ".join(f"{c} {n}" for c, n in cues.most_common(4))
        print(f"{name:<11}{len(ts):>14}{told:>11}{wrong:>6}  {common}")


def semantic_versions() -> list[str]:
    """"v1", "v2" ... of every registered semantic method version, oldest first."""
    resolve("semantic")  # loads the built-in methods
    return [f"v{m.version}" for m in sorted(REGISTRY.values(), key=lambda m: m.version) if m.name == "semantic"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["zeroshot", "curve", "speed", "speakers"])
    ap.add_argument("--sets", default="sgd,social,phone,chat")
    ap.add_argument("--text", default="written", choices=["written", "lower", "unpunctuated", "speech"],
                    help="the transcripts as written or changed (zeroshot, speed)")
    ap.add_argument("--sizes", type=int, nargs="+", default=[10, 20, 40, 80])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--method", default=resolve("semantic").key, help="the semantic method version (curve, speed)")
    ap.add_argument("--versions", default=",".join(["plain", *semantic_versions()]),
                    help="zeroshot: the columns, comma-separated (plain = cosine to the examples at 0.55)")
    ap.add_argument("--db", default=None, help="a knowledge base with corpus/sops indexed (speed)")
    ap.add_argument("--transcripts", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    known = ("plain", *semantic_versions())
    unknown = [v for v in args.versions.split(",") if v not in known]
    if unknown:
        ap.error(f"--versions: unknown {', '.join(unknown)}; use any of {','.join(known)}")
    {"zeroshot": zeroshot, "curve": curve, "speed": speed, "speakers": speakers}[args.what](args)


if __name__ == "__main__":
    main()
