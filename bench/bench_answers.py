"""Benchmark and calibration of suggested answers (not a test; prints Markdown tables).

    python bench/bench_answers.py latency [--sizes 100000] [--queries 200] [--cold] [--workdir DIR]
    python bench/bench_answers.py calibrate [--db PATH] [--write FILE]
    DESKBOOK_MODEL=multilingual python bench/bench_answers.py languages

latency: answer latency p50/p95 next to plain search latency (both end to end: query encode
included), measured in the same run over the same queries, on the sample corpus and on
synthetic knowledge bases of N chunks (the sample corpus plus synthetic tickets made by
recombining sentences of the sample tickets). Only `--embed` synthetic texts are embedded with
the real model; the other vectors are those with Gaussian noise (renormalised), since embedding
100k texts takes a long time on 2 cores. FTS, FAISS and the answer pipeline see realistic sizes.
Knowledge bases are built in --workdir and reused by later runs.

calibrate: fits the confidence model (kb.answers.CONFIDENCE_MODELS, per embedding model: set DESKBOOK_MODEL
to fit another; `--write FILE` saves it for the answer_confidence_model setting) on the "fit" split of the
constructed questions (corpus/eval/calibration: customer questions written from the SOPs' subjects,
and questions from other domains) plus the dev queries and out-of-scope questions; prints the
coefficients, the threshold that maximises answered-right minus WRONG_COST x answered-wrong on
that set, the reliability table (confidence bucket against observed accuracy) and the threshold
trade-off table on the "check" split, which is never fitted on, and the same on
queries_holdout.jsonl (checked only). Answers are judged as agents get them: from published SOPs.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kb.answers import Answerer, VectorCache, confidence, evaluate_answers, reliability, threshold_sweep  # noqa: E402
from kb.config import load_config  # noqa: E402
from kb.embed import get_embedder  # noqa: E402
from kb.evaluate import load_queries  # noqa: E402
from kb.models import Chunk, Document  # noqa: E402
from kb.search import Searcher  # noqa: E402
from kb.storage import open_store  # noqa: E402
from kb.text import split_sentences  # noqa: E402

EVAL = ROOT / "corpus" / "eval"
FEATURES = ("unit", "margin", "coverage", "words", "votes")
THRESHOLDS = [0.0, 0.1, 0.2, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.9]


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


# -- knowledge bases ------------------------------------------------------------------------------
def corpus_kb(workdir: Path, config, embedder):
    from indexer.pipeline import index_paths

    db = workdir / "corpus.db"
    store = open_store(db)
    if not store.count_chunks():
        index_paths(store, embedder, config, [ROOT / "corpus" / "sops", ROOT / "corpus" / "tickets"], progress=True)
    return store


def synthetic_kb(workdir: Path, n: int, embedder, n_embed: int, config):
    """The sample corpus plus synthetic tickets up to `n` chunks (built once, then reused)."""
    db = workdir / f"answers-{n}.db"
    if not db.exists():
        src = corpus_kb(workdir, config, embedder)
        src.close()
        for suffix in ("", "-wal", "-shm"):
            p = Path(str(workdir / "corpus.db") + suffix)
            if p.exists():
                shutil.copy(p, str(db) + suffix)
    store = open_store(db)
    have = store.count_chunks()
    if have >= n:
        return store
    rng = random.Random(42)
    src = [json.loads(x) for x in (ROOT / "corpus" / "tickets" / "tickets_2025.jsonl").read_text().splitlines()
           if x.strip()]
    qs = [s for t in src for s in split_sentences(t["question"])]
    ans = [s for t in src for s in split_sentences(t["answer"])]
    todo = n - have
    texts = [(f"SYN-{i}", " ".join(rng.sample(qs, 2)), " ".join(rng.sample(ans, 2))) for i in range(todo)]
    k = min(n_embed, todo)
    base = embedder.encode_documents([f"{q}\n{a}" for _, q, a in texts[:k]], progress=True)
    nrng = np.random.default_rng(0)
    vecs = np.empty((todo, base.shape[1]), dtype=np.float32)
    vecs[:k] = base
    for i in range(k, todo):
        v = base[i % k] + nrng.normal(0, 0.35 / np.sqrt(base.shape[1]) * 4, base.shape[1])
        vecs[i] = v / np.linalg.norm(v)
    for start in range(0, todo, 2000):
        with store.transaction():
            for i in range(start, min(todo, start + 2000)):
                tid, q, a = texts[i]
                body = f"Question:\n{q}\n\nResolution:\n{a}"
                doc = Document(id=tid, type="ticket", title=q[:60], body=body, tags=["synthetic"],
                               metadata={"question": q, "answer": a})
                store.save_document(doc, [Chunk(tid, 0, "", body, 0, len(body), "ticket")], vecs[i:i + 1], by="bench")
        print(f"\rwriting synthetic tickets: {min(todo, start + 2000)}/{todo}", end="", file=sys.stderr)
    print(file=sys.stderr)
    return store


# -- latency --------------------------------------------------------------------------------------
def cold_warm_up(store, config, embedder) -> tuple[int, float]:
    """Seconds to split and embed every SOP sentence and step with an empty cache (a first start)."""
    answerer = Answerer(Searcher(store, config, embedder), config, cache=VectorCache(None, embedder.name))
    t = time.perf_counter()
    n = answerer.warm()
    return n, time.perf_counter() - t


def bench_latency(store, config, embedder, queries: list[str]) -> dict:
    searcher = Searcher(store, config, embedder)
    searcher.index.rebuild()
    answerer = Answerer(searcher, config)
    t = time.perf_counter()
    n_units = answerer.warm()  # from <db>.answers.npz when an earlier run left it
    warm_s = time.perf_counter() - t
    for q in queries[:5]:  # warm the model, FAISS and the caches
        searcher.search(q, k=10)
        answerer.answer(q)
    search, answer = [], []
    for i, q in enumerate(queries):
        # interleaved, so both see the same machine load; the order alternates, so neither always
        # finds the pages of the same query warm in the SQLite and OS caches after the other
        pair = [(lambda q=q: searcher.search(q, k=10), search), (lambda q=q: answerer.answer(q), answer)]
        for fn, out in (pair if i % 2 else pair[::-1]):
            t = time.perf_counter()
            fn()
            out.append((time.perf_counter() - t) * 1000)
    return {"n": store.count_chunks(), "search": search, "answer": answer, "warm_s": warm_s, "units": n_units}


def cmd_latency(args) -> None:
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    config = load_config(data_dir=str(workdir))
    embedder = get_embedder(config)
    queries = [q["query"] for q in load_queries(EVAL / "queries.jsonl")]
    queries = (queries * (args.queries // len(queries) + 1))[: args.queries]
    stores = [("sample corpus", corpus_kb(workdir, config, embedder))]
    for n in args.sizes:
        stores.append((f"{n:,} chunks", synthetic_kb(workdir, n, embedder, min(args.embed, n), config)))
    print(f"\n## Answer vs search latency ({len(queries)} queries, end to end incl. query encode, same run)\n")
    print("| knowledge base | chunks | search p50 ms | search p95 ms | answer p50 ms | answer p95 ms | "
          "answer/search p50 | answer/search p95 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, store in stores:
        r = bench_latency(store, config, embedder, queries)
        s50, a50 = statistics.median(r["search"]), statistics.median(r["answer"])
        s95, a95 = pct(r["search"], 95), pct(r["answer"], 95)
        print(f"| {name} | {r['n']:,} | {s50:.1f} | {s95:.1f} | {a50:.1f} | {a95:.1f} | {a50 / s50:.2f} | "
              f"{a95 / s95:.2f} |")
    if args.cold:
        n, secs = cold_warm_up(stores[0][1], config, embedder)
        print(f"\nFirst start with an empty sentence cache: {n} SOP sentences and steps split and embedded in "
              f"{secs:.1f} s (then kept in <db>.answers.npz).")


# -- calibration ----------------------------------------------------------------------------------
CALIBRATION = EVAL / "calibration"
# A wrong procedure read out, or an answer to a question the knowledge base does not cover, costs this
# many questions answered right (an abstention costs nothing: the closest procedures are listed). With
# a calibrated confidence the best threshold is then WRONG_COST / (1 + WRONG_COST): 0.5 for 1.
WRONG_COST = 1.0


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0, iters: int = 4000) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression by gradient descent on standardised features."""
    mu, sd = x.mean(0), x.std(0) + 1e-9
    z = (x - mu) / sd
    w, b = np.zeros(z.shape[1]), 0.0
    for _ in range(iters):
        p = 1 / (1 + np.exp(-(z @ w + b)))
        w -= 0.5 * (z.T @ (p - y) / len(y) + l2 * w / len(y))
        b -= 0.5 * float((p - y).mean())
    return w / sd, float(b - (mu / sd) @ w)


def _xy(results) -> tuple[np.ndarray, np.ndarray]:
    x = np.array([[float(a.evidence.get(f, 0.0)) for f in FEATURES] for _, a in results])
    y = np.array([1.0 if q["relevant"] and a.evidence.get("main") in q["relevant"] else 0.0 for q, a in results])
    return x, y


def load_split(path: Path, split: str | None = None) -> list[dict]:
    """A query file (checked by kb.evaluate.load_queries), only the rows of `split` when given."""
    rows = load_queries(path)
    if split is None:
        return rows
    splits = [json.loads(line).get("split") for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r, s in zip(rows, splits, strict=True) if s == split]


def _table(rows: list[dict], answerable_only: bool = False) -> None:
    head = "| threshold | answered correctly | wrong answer | abstained (answerable) |"
    print(head + ("" if answerable_only else " correct abstention (unanswerable) |"))
    print("|---:|---:|---:|---:|" + ("" if answerable_only else "---:|"))
    for r in rows:
        line = (f"| {r['threshold']:.2f} | {r['answered_correctly']:.3f} | {r['wrong_answer']:.3f} | "
                f"{r['abstained_answerable']:.3f} |")
        print(line + ("" if answerable_only else f" {r['correct_abstention']:.3f} |"))


def _reliability_table(results) -> None:
    print("| confidence | questions | mean confidence | observed accuracy |")
    print("|---|---:|---:|---:|")
    for r in reliability(results):
        if r["n"]:
            print(f"| {r['low']:.2f}-{r['high']:.2f} | {r['n']} | {r['mean_confidence']:.2f} | {r['accuracy']:.2f} |")
        else:
            print(f"| {r['low']:.2f}-{r['high']:.2f} | 0 | | |")


# New questions as a deployment sees them: the 2026 sample tickets' customer messages asked of a knowledge
# base holding the SOPs and the 2025 tickets only. Their tags name the subject; a tag that names an SOP's
# subject labels the question with it; tickets tagged out of scope (careers, product questions) are
# unanswerable; tickets whose tags name no SOP subject are left out.
TAG_SOPS = {
    "order-status": ["sop-order-status", "sop-delivery-late"], "wismo": ["sop-order-status"],
    "dispatched": ["sop-order-status"], "processing": ["sop-order-status"], "returns": ["sop-returns"],
    "exchange": ["sop-returns"], "non-returnable": ["sop-returns"], "outside-window": ["sop-returns", "sop-warranty"],
    "gift-receipt": ["sop-returns"], "refunds": ["sop-refunds"], "delayed-refund": ["sop-refunds"],
    "partial-refund": ["sop-refunds"], "cancellation": ["sop-order-cancellation"],
    "partial-cancellation": ["sop-order-cancellation"], "large-item": ["sop-large-item-delivery"],
    "freight": ["sop-large-item-delivery"], "missed-slot": ["sop-large-item-delivery"],
    "reschedule": ["sop-large-item-delivery"], "incident-INC-2291": ["sop-outage-communication"],
    "outage": ["sop-outage-communication"], "late-delivery": ["sop-delivery-late"], "lost-parcel": ["sop-delivery-late"],
    "dbnr": ["sop-delivery-late"], "carrier-chase": ["sop-delivery-late"], "sign-in": ["sop-password-reset"],
    "password-reset": ["sop-password-reset"], "2fa": ["sop-password-reset"], "account-locked": ["sop-password-reset"],
    "promo-code": ["sop-promo-codes"], "plus": ["sop-membership"], "membership": ["sop-membership"],
    "missing-items": ["sop-missing-items"], "split-shipment": ["sop-missing-items"],
    "warehouse-investigation": ["sop-missing-items"], "short-pick": ["sop-missing-items"],
    "complaint": ["sop-complaints"], "customer-relations": ["sop-complaints"], "staff-conduct": ["sop-complaints"],
    "loyalty": ["sop-loyalty-points"], "bright-points": ["sop-loyalty-points"], "gift-card": ["sop-gift-cards"],
    "lost-gift-card": ["sop-gift-cards"], "marketplace": ["sop-marketplace-orders"],
    "marketplace-guarantee": ["sop-marketplace-orders"], "third-party": ["sop-marketplace-orders"],
    "idv": ["sop-identity-verification"], "idv-failed": ["sop-identity-verification"], "warranty": ["sop-warranty"],
    "repairpoint": ["sop-warranty"], "out-of-warranty": ["sop-warranty"], "manufacturer-warranty": ["sop-warranty"],
    "pending-authorisation": ["sop-billing-disputes"], "billing": ["sop-billing-disputes"],
    "duplicate-charge": ["sop-billing-disputes"], "payments-query": ["sop-billing-disputes"],
    "international": ["sop-international-shipping"], "customs": ["sop-international-shipping"],
    "ddp": ["sop-international-shipping"], "data-privacy": ["sop-data-privacy"], "sar": ["sop-data-privacy"],
    "deletion-request": ["sop-data-privacy"], "price-adjustment": ["sop-price-match"], "price-match": ["sop-price-match"],
    "click-and-collect": ["sop-click-and-collect"], "not-collected": ["sop-click-and-collect"],
    "escalation": ["sop-escalation"], "influencer": ["sop-escalation"], "legal-threat": ["sop-escalation"],
    "recall": ["sop-product-recall"], "kettle-recall": ["sop-product-recall"], "damaged": ["sop-delivery-damaged"],
    "damaged-in-transit": ["sop-delivery-damaged"], "faulty-on-arrival": ["sop-delivery-damaged"],
    "not-as-described": ["sop-delivery-damaged"], "faulty": ["sop-delivery-damaged", "sop-warranty"],
    "invoice": ["sop-invoice-requests"], "vat": ["sop-invoice-requests"], "receipt": ["sop-invoice-requests"],
    "address-change": ["sop-address-change"], "redirect": ["sop-address-change"],
    "delivery-instructions": ["sop-address-change"], "vulnerable": ["sop-vulnerable-customers"],
    "extra-care": ["sop-vulnerable-customers"], "bereavement": ["sop-vulnerable-customers"],
    "accessibility": ["sop-vulnerable-customers"], "payment-failure": ["sop-payment-failures"],
    "checkout": ["sop-payment-failures"], "3ds": ["sop-payment-failures"], "apple-pay": ["sop-payment-failures"],
    "paypal": ["sop-payment-failures"], "account-takeover": ["sop-account-takeover"], "fraud": ["sop-account-takeover"],
    "suspicious-login": ["sop-account-takeover"], "account-security": ["sop-account-takeover"],
    "chargeback": ["sop-chargebacks"], "payments-disputes": ["sop-chargebacks"],
    "marketing-emails": ["sop-email-preferences"], "unsubscribe": ["sop-email-preferences"],
    "preferences": ["sop-email-preferences"], "abusive": ["sop-abusive-customers"], "threat": ["sop-abusive-customers"],
    "account-closure": ["sop-account-closure"],
    # the 2025 tickets' spellings of the same subjects
    "delivery-late": ["sop-delivery-late"], "delivery-lost": ["sop-delivery-late"], "gift-cards": ["sop-gift-cards"],
    "e-gift-card": ["sop-gift-cards"], "order-cancellation": ["sop-order-cancellation"],
    "identity-verification": ["sop-identity-verification"], "billing-dispute": ["sop-billing-disputes"],
    "promo-codes": ["sop-promo-codes"], "expired-code": ["sop-promo-codes"], "email-preferences": ["sop-email-preferences"],
    "large-item-delivery": ["sop-large-item-delivery"], "brightcart-freight": ["sop-large-item-delivery"],
    "plus-member": ["sop-membership"], "loyalty-points": ["sop-loyalty-points"],
    "vulnerable-customer": ["sop-vulnerable-customers"], "product-recall": ["sop-product-recall"],
    "abusive-customer": ["sop-abusive-customers"], "competitor-price": ["sop-price-match"],
    "courier-collection": ["sop-returns"], "deletion": ["sop-data-privacy"], "card-security": ["sop-account-takeover"],
}
OUT_OF_SCOPE_TAGS = {"out-of-scope", "careers", "product-question", "compatibility", "assembly", "wholesale", "non-sop",
                     "supplier", "donation-request", "store-info"}


TICKETS = {"2025": ROOT / "corpus" / "tickets" / "tickets_2025.jsonl",
           "2026": ROOT / "corpus" / "tickets" / "tickets_2026.csv"}


def ticket_rows(year: str) -> list[dict]:
    """One year's sample tickets as rows (JSONL or CSV), tags as a list."""
    import csv

    path = TICKETS[year]
    if path.suffix == ".csv":
        with path.open(encoding="utf-8", newline="") as f:
            return [{**r, "tags": [t.strip() for t in r["tags"].replace(";", ",").split(",") if t.strip()]}
                    for r in csv.DictReader(f)]
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def ticket_questions(year: str) -> list[dict]:
    """One year's sample tickets as new questions (the customer's message), labelled through TAG_SOPS."""
    out = []
    for row in ticket_rows(year):
        rel = list(dict.fromkeys(s for t in row["tags"] for s in TAG_SOPS.get(t, [])))
        if rel or OUT_OF_SCOPE_TAGS & set(row["tags"]):
            out.append({"query": row["question"].strip(), "relevant": rel})
    return out


def kb_without(year: str, workdir: Path, config, embedder):
    """The SOPs and the other year's tickets: `year`'s tickets are then new questions to it."""
    from indexer.pipeline import index_paths

    other = "2025" if year == "2026" else "2026"
    store = open_store(workdir / f"corpus-sops-tickets-{other}.db")
    if not store.count_chunks():
        index_paths(store, embedder, config, [ROOT / "corpus" / "sops", TICKETS[other]], progress=True)
    return store


def utility(row: dict, n_ans: int, n_una: int, cost: float = WRONG_COST) -> float:
    """Per question: +1 answered right, -cost answered wrong or answered out of scope, 0 abstained."""
    right = row["answered_correctly"] * n_ans
    wrong = row["wrong_answer"] * n_ans + (1 - row["correct_abstention"]) * n_una
    return (right - cost * wrong) / max(1, n_ans + n_una)


def cmd_calibrate(args) -> None:
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    config = load_config(data_dir=str(workdir), answer_threshold=0.0)
    embedder = get_embedder(config)
    store = open_store(args.db) if args.db else corpus_kb(workdir, config, embedder)
    answerer = Answerer(Searcher(store, config, embedder), config)
    answerer.warm()
    sets = {
        "fit": (load_split(CALIBRATION / "answerable.jsonl", "fit") + load_split(CALIBRATION / "other_domains.jsonl", "fit")
                + load_queries(EVAL / "queries.jsonl") + load_queries(EVAL / "out_of_scope.jsonl")),
        "check": load_split(CALIBRATION / "answerable.jsonl", "check") + load_split(
            CALIBRATION / "other_domains.jsonl", "check"),
        "holdout": load_queries(EVAL / "queries_holdout.jsonl"),
    }
    res = {}
    for name, queries in sets.items():
        rates, res[name] = evaluate_answers(answerer, queries)
        print(f"{name}: {rates['n_answerable']} answerable, {rates['n_unanswerable']} unanswerable "
              f"({rates['relabelled']} of them labelled with unpublished SOPs only)", file=sys.stderr)
    for year in ("2025", "2026"):  # 2025's messages are fitted on, 2026's only checked
        other = Answerer(Searcher(kb_without(year, workdir, config, embedder), config, embedder), config)
        rates, res[f"tickets-{year}"] = evaluate_answers(other, ticket_questions(year))
        print(f"tickets-{year}: {rates['n_answerable']} answerable, {rates['n_unanswerable']} unanswerable",
              file=sys.stderr)
    res["fit"] += res.pop("tickets-2025")
    if args.features:
        global FEATURES
        FEATURES = tuple(args.features.split(","))
    x, y = _xy(res["fit"])
    w, b = fit_logistic(x, y)
    model = {"bias": round(b, 3), **{f: round(float(v), 3) for f, v in zip(FEATURES, w, strict=True)}}
    print(f"CONFIDENCE_MODEL = {model}  # for {embedder.name}")
    if args.write:
        Path(args.write).write_text(json.dumps({"embedding_model": embedder.name, **model}, indent=2) + "\n",
                                    encoding="utf-8")
        print(f"written to {args.write}: set answer_confidence_model = \"{args.write}\"")
    print(f"fitted on {len(y)} questions ({int(y.sum())} with a right main SOP among the published ones)")
    for name in res:
        for _, a in res[name]:
            a.confidence = round(confidence(a.evidence, model), 4)
        xs, ys = _xy(res[name])
        p = np.array([a.confidence for _, a in res[name]])
        pos, neg = p[ys == 1], p[ys == 0]
        auc = float(np.mean([(a > c) + 0.5 * (a == c) for a in pos for c in neg])) if len(pos) and len(neg) else 0.0
        print(f"{name}: AUC {auc:.3f}; the main SOP is right for {ys.mean():.3f} of the questions")
    fit_sweep = threshold_sweep(res["fit"], THRESHOLDS)
    n_ans, n_una = fit_sweep[0]["n_answerable"], fit_sweep[0]["n_unanswerable"]
    for cost in (1.0, 2.0, 3.0):
        best = max(fit_sweep, key=lambda r, c=cost: utility(r, n_ans, n_una, c))["threshold"]
        print(f"a wrong answer costing {cost:g} right ones: best threshold on the fit set {best:.2f} "
              f"(for a calibrated confidence {cost / (1 + cost):.2f})")
    print("right - wrong per question on the fit set: " + ", ".join(
        f"{r['threshold']:.2f}: {utility(r, n_ans, n_una):+.3f}" for r in fit_sweep if 0.3 <= r["threshold"] <= 0.7))
    print("\n### Reliability on the check split (never fitted on)\n")
    _reliability_table(res["check"])
    print("\n### Reliability on the fit set\n")
    _reliability_table(res["fit"])
    print("\n### Fit set (constructed questions, dev and out-of-scope queries, 2025 tickets): fitted on these\n")
    _table(fit_sweep)
    print("\n### Check split of the constructed questions (never fitted on)\n")
    _table(threshold_sweep(res["check"], THRESHOLDS))
    print("\n### Holdout queries (checked only)\n")
    _table(threshold_sweep(res["holdout"], THRESHOLDS), answerable_only=False)
    print("\n### New customer messages: 2026 tickets against SOPs + 2025 tickets (checked only)\n")
    _reliability_table(res["tickets-2026"])
    print()
    _table(threshold_sweep(res["tickets-2026"], THRESHOLDS))


def cmd_languages(args) -> None:
    """German and Turkish questions against the German and Turkish sample corpora (checked only, never
    fitted on): the SOP questions (dev and held-out) and questions from other domains in that language."""
    from indexer.pipeline import index_paths

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    config = load_config(data_dir=str(workdir), answer_threshold=0.0)
    embedder = get_embedder(config)
    print(f"model: {embedder.name}")
    for lang in ("de", "tr"):
        store = open_store(workdir / f"corpus-{lang}-{embedder.name.split()[0]}.db")
        if not store.count_chunks():
            index_paths(store, embedder, config, [ROOT / "corpus" / lang / "sops", ROOT / "corpus" / lang / "tickets"],
                        progress=True)
        answerer = Answerer(Searcher(store, config, embedder), config)
        queries = (load_queries(EVAL / f"queries_{lang}.jsonl") + load_queries(EVAL / f"queries_{lang}_holdout.jsonl")
                   + load_queries(EVAL / f"out_of_scope_{lang}.jsonl"))
        rates, results = evaluate_answers(answerer, queries)
        print(f"\n### {lang}: {rates['n_answerable']} answerable, {rates['n_unanswerable']} from other domains\n")
        _table(threshold_sweep(results, [0.3, 0.4, 0.5, 0.6, 0.7]))
        print()
        _reliability_table(results)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    lat = sub.add_parser("latency")
    lat.add_argument("--sizes", type=int, nargs="*", default=[100000])
    lat.add_argument("--queries", type=int, default=200)
    lat.add_argument("--embed", type=int, default=3000, help="synthetic texts embedded for real per knowledge base")
    lat.add_argument("--cold", action="store_true", help="also time a first start with an empty sentence cache")
    cal = sub.add_parser("calibrate")
    cal.add_argument("--db", default=None, help="an indexed corpus (default: build one in --workdir)")
    cal.add_argument("--features", default="", help="comma-separated evidence features to fit (default: FEATURES)")
    cal.add_argument("--write", default="", help="write the fitted coefficients to this JSON file (the "
                     "answer_confidence_model setting reads it)")
    langs = sub.add_parser("languages")
    for p in (lat, cal, langs):
        p.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "deskbook-bench-answers"))
    args = ap.parse_args()
    {"latency": cmd_latency, "calibrate": cmd_calibrate, "languages": cmd_languages}[args.cmd](args)


if __name__ == "__main__":
    main()
