"""`deskbook model adapt`: fine-tune the embedding model on the knowledge base's own tickets.

What a team's past tickets teach the model (no labelling needed):
- tickets that share their first tag are about the same need: one's question and the other's
  text are a positive pair;
- a ticket's question and its resolution are a pair.

Training is contrastive with in-batch negatives (the multiple-negatives ranking loss of
sentence-transformers, written out here so that it needs neither `datasets` nor `accelerate`):
each question should be closer to its positive than to every other text in the batch. Batches hold
one pair per tag where possible, so that a batch's negatives are not secretly positives.

A slice of the tagged tickets is held out before anything is trained: each held-out ticket's
question searches the other tickets (dense search), and a hit is a ticket with the same first tag.
hit@1 and MRR@10 are measured with the current model and with the adapted one on that slice. The
adapted model is saved to its own folder (never over the packaged model) only when it does better;
`--adopt` then makes it the `model` setting (in the configuration file) and re-embeds the knowledge
base. On data where it does not help it says so and changes nothing.

Only sentence-transformers models can be adapted (the default all-MiniLM-L6-v2, or a local
folder); the 4-bit multilingual engine cannot be trained.
"""

from __future__ import annotations

import math
import random
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from kb.errors import ConfigError, InputError
from kb.models import Document

MIN_GAIN = 0.01  # MRR@10 the adapted model must add on the held-out slice to count as better
TRAIN_MAX_TOKENS = 128  # texts are cut to this while training: a ticket's first lines carry its need, and
# the cost of a step grows with the longest text in the batch (2 cores: ~4 s a step of 32 pairs at 128)


@dataclass
class AdaptReport:
    tickets: int = 0
    tagged: int = 0
    held_out: int = 0
    pairs: int = 0
    epochs: int = 0
    before: dict[str, float] = field(default_factory=dict)
    after: dict[str, float] = field(default_factory=dict)
    improved: bool = False
    saved_to: str = ""
    adopted: bool = False
    seconds: float = 0.0
    message: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def first_tag(doc: Document) -> str:
    return (doc.tags[0].strip().lower() if doc.tags else "")


def question_of(doc: Document) -> str:
    return str(doc.metadata.get("question") or doc.metadata.get("subject") or doc.title)


def text_of(doc: Document) -> str:
    return f"{doc.title}\n{doc.body}".strip()


def split_tickets(tickets: list[Document], holdout: float, seed: int) -> tuple[list[Document], list[Document]]:
    """(train, held out): held-out tickets are tagged, and their tag keeps at least one training ticket."""
    rng = random.Random(seed)
    by_tag: dict[str, list[Document]] = {}
    for t in tickets:
        if first_tag(t):
            by_tag.setdefault(first_tag(t), []).append(t)
    held: list[Document] = []
    for tag in sorted(by_tag):
        group = sorted(by_tag[tag], key=lambda d: d.id)
        rng.shuffle(group)
        n = int(round(len(group) * holdout)) if len(group) > 1 else 0
        held.extend(group[:min(n, len(group) - 1)])
    held_ids = {d.id for d in held}
    return [t for t in tickets if t.id not in held_ids], held


def evaluate(encode, train: list[Document], held: list[Document], k: int = 10) -> dict[str, float]:
    """hit@1 and MRR@10 of each held-out question against the training tickets (same first tag = hit)."""
    if not held or not train:
        return {"hit@1": 0.0, "mrr@10": 0.0, "queries": 0}
    docs = encode([text_of(d) for d in train], False)
    qs = encode([question_of(d) for d in held], True)
    tags = np.array([first_tag(d) for d in train])
    h1, mrr = [], []
    for i, d in enumerate(held):
        order = np.argsort(-(docs @ qs[i]))[:k]
        hits = np.nonzero(tags[order] == first_tag(d))[0]
        h1.append(1.0 if len(hits) and hits[0] == 0 else 0.0)
        mrr.append(1.0 / (hits[0] + 1) if len(hits) else 0.0)
    return {"hit@1": round(float(np.mean(h1)), 4), "mrr@10": round(float(np.mean(mrr)), 4), "queries": len(held)}


def training_pairs(train: list[Document], seed: int, per_ticket: int = 2, max_pairs: int = 8000
                   ) -> list[tuple[str, str, str]]:
    """(question, positive text, group) pairs: same-tag tickets, and each ticket's own resolution."""
    rng = random.Random(seed)
    by_tag: dict[str, list[Document]] = {}
    for t in train:
        if first_tag(t):
            by_tag.setdefault(first_tag(t), []).append(t)
    pairs = []
    for t in train:
        tag = first_tag(t)
        answer = str(t.metadata.get("answer") or "")
        if answer:
            pairs.append((question_of(t), answer, f"own:{t.id}" if not tag else tag))
        others = [o for o in by_tag.get(tag, []) if o.id != t.id]
        for o in rng.sample(others, min(per_ticket, len(others))):
            pairs.append((question_of(t), text_of(o), tag))
    rng.shuffle(pairs)
    return pairs[:max_pairs]


def batches(pairs: list[tuple[str, str, str]], size: int, seed: int) -> list[list[tuple[str, str, str]]]:
    """Batches in which no two pairs share a group (tag) where it can be helped."""
    rng = random.Random(seed)
    pool = list(pairs)
    rng.shuffle(pool)
    out: list[list[tuple[str, str, str]]] = []
    while pool:
        batch, groups, rest = [], set(), []
        for p in pool:
            if len(batch) < size and p[2] not in groups:
                batch.append(p)
                groups.add(p[2])
            else:
                rest.append(p)
        if len(batch) < 2:  # only one group left: its pairs would be each other's negatives
            break
        out.append(batch)
        pool = rest
    return out


def train(model, pairs: list[tuple[str, str, str]], *, epochs: int, batch_size: int, lr: float, seed: int,
          progress: bool = True, scale: float = 20.0) -> int:
    """Fine-tune `model` (a SentenceTransformer) in place; returns the number of steps."""
    import torch

    torch.manual_seed(seed)
    plan = [b for e in range(epochs) for b in batches(pairs, batch_size, seed + e)]
    if not plan:
        return 0
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    warm = max(1, len(plan) // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * max(0.0, (len(plan) - s) / max(1, len(plan) - warm)))
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(plan), desc="adapting", unit="batch", dynamic_ncols=True)
    model.train()
    old_max = model.max_seq_length
    model.max_seq_length = min(old_max, TRAIN_MAX_TOKENS)
    try:
        for batch in plan:
            a = model(model.preprocess([p[0] for p in batch]))["sentence_embedding"]
            b = model(model.preprocess([p[1] for p in batch]))["sentence_embedding"]
            a = torch.nn.functional.normalize(a, dim=-1)
            b = torch.nn.functional.normalize(b, dim=-1)
            loss = torch.nn.functional.cross_entropy(a @ b.T * scale, torch.arange(len(batch)))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{float(loss):.3f}")
    finally:
        model.max_seq_length = old_max
        model.eval()
        if bar is not None:
            bar.close()
    return len(plan)


def _encoder(model, batch_size: int = 64):
    def encode(texts: list[str], is_query: bool) -> np.ndarray:
        return np.asarray(model.encode(texts, batch_size=batch_size, normalize_embeddings=True,
                                       convert_to_numpy=True, show_progress_bar=False), dtype=np.float32)
    return encode


def default_output(config) -> Path:
    return Path(config.data_dir) / "models" / time.strftime("adapted-%Y%m%d-%H%M%S")


def adapt(store, config, embedder, *, epochs: int = 1, holdout: float = 0.2, batch_size: int = 32,
          lr: float = 2e-5, seed: int = 0, out: str | Path | None = None, progress: bool = True,
          max_pairs: int = 8000, say=print) -> AdaptReport:
    """Measure, fine-tune, measure again; save the adapted model when it does better (see the module docstring)."""
    import copy

    t0 = time.perf_counter()
    model = getattr(embedder, "model", None)
    if model is None or not hasattr(model, "preprocess"):
        raise ConfigError(f"The model {embedder.name!r} cannot be adapted",
                          hint="adapt works on sentence-transformers models (the default, or a local folder); "
                               "the multilingual engine is 4-bit and cannot be trained", field="model")
    if not 0 < holdout < 1:
        raise InputError("--holdout must be between 0 and 1", hint="e.g. 0.2 holds out a fifth of the tickets",
                         field="holdout")
    tickets = store.list_documents("ticket")
    rep = AdaptReport(tickets=len(tickets), tagged=sum(1 for t in tickets if first_tag(t)), epochs=epochs)
    train_set, held = split_tickets(tickets, holdout, seed)
    rep.held_out = len(held)
    if len(held) < 5 or rep.tagged < 20:
        raise InputError(f"Too few tagged tickets to adapt on ({rep.tagged} tagged, {len(held)} to hold out)",
                         hint="index past tickets with tags (at least a few per tag, 20 or more in all) first")
    pairs = training_pairs(train_set, seed, max_pairs=max_pairs)
    rep.pairs = len(pairs)
    say(f"{rep.tickets} tickets ({rep.tagged} tagged); {len(held)} held out to measure; {len(pairs)} training pairs "
        f"({steps_estimate(len(pairs), batch_size, epochs)} steps of {batch_size})")
    rep.before = evaluate(_encoder(model), train_set, held)
    say(f"before: hit@1 {rep.before['hit@1']:.3f}  MRR@10 {rep.before['mrr@10']:.3f}  (held-out questions)")
    tuned = copy.deepcopy(model)
    train(tuned, pairs, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, progress=progress)
    rep.after = evaluate(_encoder(tuned), train_set, held)
    say(f"after:  hit@1 {rep.after['hit@1']:.3f}  MRR@10 {rep.after['mrr@10']:.3f}")
    rep.improved = rep.after["mrr@10"] >= rep.before["mrr@10"] + MIN_GAIN and rep.after["hit@1"] >= rep.before["hit@1"]
    if rep.improved:
        target = Path(out) if out else default_output(config)
        _check_target(target, embedder)
        target.parent.mkdir(parents=True, exist_ok=True)
        tuned.save(str(target))
        rep.saved_to = str(target.resolve())
        rep.message = f"better on the held-out tickets: saved to {rep.saved_to}"
    else:
        rep.message = ("no better on the held-out tickets (MRR@10 must gain at least "
                       f"{MIN_GAIN}): nothing saved, nothing changed")
    rep.seconds = round(time.perf_counter() - t0, 1)
    return rep


def _check_target(target: Path, embedder) -> None:
    from kb.embed import default_model_path

    packaged = Path(default_model_path()).resolve()
    t = target.resolve()
    if t == packaged or packaged in t.parents or (t.exists() and any(t.iterdir())):
        raise InputError(f"Will not write the adapted model into {target}",
                         hint="give --out a new, empty folder (the packaged model is never overwritten)", field="out")


def adopt(config_path: Path, model_dir: str) -> None:
    """Make `model_dir` the `model` setting in the configuration file (created if missing)."""
    line = f'model = "{Path(model_dir).as_posix()}"'
    text = config_path.read_text(encoding="utf-8") if config_path.exists() else ""
    pattern = re.compile(r"^model\s*=.*$", re.M)
    head, sep, tail = text.partition("\n[")  # settings before any [table]
    if pattern.search(head):
        head = pattern.sub(line, head, count=1)
    else:
        head = (line + "\n" + head) if head else line + "\n"
    config_path.write_text(head + sep + tail, encoding="utf-8")


def steps_estimate(n_pairs: int, batch_size: int, epochs: int) -> int:
    return epochs * math.ceil(n_pairs / max(1, batch_size))
