"""Ranking the candidate SOPs for a question and the confidence model over the retrieval evidence."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from kb.answers.units import _stems
from kb.errors import ConfigError
from kb.scales import for_model

# The confidence model per packaged embedding model, matched by the start of the model's name (as
# kb.scales.WEAK_MATCH): each model's cosines have their own scale (multilingual-e5 puts any two sentences
# at 0.7-0.9), so coefficients fitted for one model make another's answers over-confident (MiniLM's
# coefficients on multilingual-e5's evidence declined 0.07 of the out-of-scope questions). Fitted by
# `python bench/bench_answers.py calibrate` (with DESKBOOK_MODEL=multilingual for the second; see
# docs/answers.md): constructed customer questions and questions from other domains
# (corpus/eval/calibration, "fit" split), the dev and out-of-scope queries, and the 2025 sample tickets'
# messages asked of a knowledge base without them.
CONFIDENCE_MODELS: dict[str, dict[str, float]] = {
    "all-MiniLM-L6-v2": {"bias": -7.701, "unit": 5.585, "margin": 5.529, "coverage": 1.865, "words": 4.325,
                         "votes": 0.673},
    "multilingual-e5-small": {"bias": -42.673, "unit": 42.426, "margin": 5.338, "coverage": 2.365, "words": 5.989,
                              "votes": 0.424},
}
CONFIDENCE_MODEL = CONFIDENCE_MODELS["all-MiniLM-L6-v2"]
# A knowledge base of past tickets only (no SOP an agent may be given): the main source is a ticket and
# the evidence is of another kind. Its neighbours agreeing is support, not rivalry (similar tickets are
# similar to each other, so the SOP model's margin is near 0 and it declined three answers in four), so
# these models weigh the main ticket's cosine (`unit`), how much of the five most similar tickets'
# similarity lies with tickets sharing a tag with it (`agree`), `coverage` and `words`. Fitted by
# `python bench/bench_ticket_answers.py` on the 2025 sample tickets' messages asked of the 2026 tickets
# alone and questions from other domains ("fit" split); checked the other way round (docs/answers.md).
TICKET_CONFIDENCE_MODELS: dict[str, dict[str, float]] = {
    "all-MiniLM-L6-v2": {"bias": -9.118, "unit": 9.656, "agree": 3.489, "coverage": 1.99, "words": 3.618},
    "multilingual-e5-small": {"bias": -37.716, "unit": 36.593, "agree": 3.401, "coverage": 4.166, "words": 5.327},
}
# Tickets without tags (none of the five most similar has one): the nearest is the main ticket and there
# is no `agree` (`bench_ticket_answers.py --untagged`, the same questions with the tags removed).
UNTAGGED_TICKET_CONFIDENCE_MODELS: dict[str, dict[str, float]] = {
    "all-MiniLM-L6-v2": {"bias": -6.604, "unit": 11.088, "coverage": 1.954, "words": 1.43},
    "multilingual-e5-small": {"bias": -34.16, "unit": 35.732, "coverage": 3.21, "words": 3.979},
}
TICKET_VOTERS_MAIN = 5  # the most similar tickets whose tags vote for the main ticket (tickets-only)
EVIDENCE_FEATURES = ("unit", "chunk", "margin", "coverage", "votes", "ticket", "words", "agree")  # what a model may weigh
N_CANDIDATES = 4  # SOPs scored in full (sentence vectors) per answer
DELEGATION_DEPTH = 3  # candidates after the first that it may hand a question to
DELEGATION_UNIT_GAP = 0.0  # ... when their own best sentence is at least as close to the question
DELEGATION_NEAR = 0.03  # passages of the first this close to its best one are read for a hand-over
# ... and only to a candidate scoring within this of the first: a conditional hand-over ("if the customer has
# raised a chargeback, follow sop-chargebacks") must not take a question the first fits much better.
# Chosen on the "fit" questions and the 2025 messages (hand-overs that helped: score gaps up to 0.13;
# that hurt: 0.18 and more); see docs/answers.md.
DELEGATION_SCORE_GAP = 0.15
LONG_QUESTION = 60  # content words from which a question counts as long (the "words" feature is 1)
# How a candidate SOP's evidence adds up to its score. Chosen on the calibration "fit" questions and the
# 2025 tickets' messages (top-1 SOP right 0.761 -> 0.787 there); checked on the "check" split, the held-out
# queries and the 2026 messages, never chosen on (docs/answers.md, "Choosing the main SOP").
RANK_WEIGHTS = {"chunk": 1.0, "unit": 0.5, "rrf": 1 / 3, "coverage": 0.4, "ticket": 0.25}
TICKET_VOTERS = 5  # the most similar past tickets whose nearest SOP lends it their similarity


class Ranking:
    """The Answerer's ranking half (mixed into `kb.answers.engine.Answerer`)."""

    def _rank(self, question: str, qvec: np.ndarray, hits, prefer: str | None = None,
              rows: np.ndarray | None = None) -> tuple[list[dict], list[dict]]:
        """Candidate SOPs, best first, with their evidence; and the most similar tickets. `rows` masks
        the SOP chunk matrix (the SOPs of the statuses asked for; None: all).

        A candidate's score adds up (`RANK_WEIGHTS`): its best chunk's cosine, its best sentence or
        step's cosine, its hybrid rank agreement, the share of the question's content words it
        contains (`coverage`: the words tell neighbouring procedures apart where the vectors blur
        them, "refund" against "return"), and the similarity of the closest of the most similar past
        tickets that is nearest to it (`ticket`)."""
        sm = self._sop_matrix()
        # Reciprocal-rank agreement of the two lists, 1 for a chunk first in both: the evidence the ranking
        # and the confidence model were fitted on, whatever fusion orders the search's own results.
        rrf = {h.id: rank_agreement(h.lexical_rank, h.dense_rank) for h in hits if h.type == "sop"}
        chunk_cos = sm.matrix @ qvec if len(sm.chunk_ids) else np.zeros(0, np.float32)
        if rows is not None and len(chunk_cos):
            chunk_cos = np.where(rows, chunk_cos, -np.inf)
        best_chunk = np.maximum.reduceat(chunk_cos, sm.starts) if len(sm.starts) else np.zeros(0)
        doc_chunk = {d: c for d, c in zip(sm.doc_ids, best_chunk.tolist(), strict=True) if c > -np.inf}
        pre = {d: c + rrf.get(d, 0.0) / 3 for d, c in doc_chunk.items()}

        # tickets: their stored vectors give their similarity and the SOP they are nearest to
        t_hits = [h for h in hits if h.type == "ticket" and h.chunk_id is not None][:10]
        tickets: list[dict] = []
        votes: dict[str, float] = {}
        if t_hits:
            ids, tv = self.store.get_vectors([h.chunk_id for h in t_hits])
            row = {int(c): i for i, c in enumerate(ids.tolist())}
            t_cos = tv @ qvec if len(ids) else np.zeros(0)
            # one matrix-vector product per ticket: a small matrix-matrix product goes through
            # multi-threaded BLAS, which costs tens of ms on a busy machine
            nearest = None
            if len(ids) and doc_chunk:
                nearest = [int(np.argmax(sm.matrix @ v if rows is None else np.where(rows, sm.matrix @ v, -np.inf)))
                           for v in tv]
            for h in t_hits:
                if h.chunk_id not in row:
                    continue
                i = row[h.chunk_id]
                cos = float(t_cos[i])
                d = None
                if nearest is not None:
                    d = sm.doc_ids[int(np.searchsorted(sm.starts, nearest[i], side="right") - 1)]
                    votes[d] = votes.get(d, 0.0) + cos
                tickets.append({"id": h.id, "title": h.title, "cos": cos, "chunk_id": h.chunk_id,
                                "status": getattr(h, "status", ""), "sop": d})
            tickets.sort(key=lambda t: -t["cos"])

        ticket_sop: dict[str, float] = {}
        for t in tickets[:TICKET_VOTERS]:
            if t["sop"] is not None:
                ticket_sop[t["sop"]] = max(ticket_sop.get(t["sop"], 0.0), t["cos"])
        q_stems = _stems(question)
        W = RANK_WEIGHTS
        cands = sorted(pre, key=lambda d: -pre[d])[:N_CANDIDATES]
        if prefer in pre and prefer not in cands:
            cands.append(prefer)
        ranked = []
        best_text: dict[str, str] = {}
        for d in cands:
            doc, units = self._units(d)
            u = self.cache.vectors(self.searcher.embedder, [x.text for x in units]) @ qvec if units else np.zeros(0)
            unit = float(u.max()) if len(u) else doc_chunk[d]
            # the passages nearest the question (the best, and any within DELEGATION_NEAR of it)
            best_text[d] = "\n".join(units[i].text for i in np.argsort(-u)[:3] if u[i] >= u.max() - DELEGATION_NEAR)
            cover = len(q_stems & self._doc(d)[1]) / len(q_stems) if q_stems else 0.0
            score = (W["chunk"] * doc_chunk[d] + W["unit"] * unit + W["rrf"] * rrf.get(d, 0.0)
                     + W["coverage"] * cover + W["ticket"] * ticket_sop.get(d, 0.0))
            ranked.append({"id": d, "type": "sop", "title": doc.title, "status": doc.status, "score": score,
                           "chunk": doc_chunk[d], "unit": unit, "rrf": rrf.get(d, 0.0), "votes": votes.get(d, 0.0),
                           "coverage": cover, "ticket": ticket_sop.get(d, 0.0)})
        if not ranked and tickets:  # a knowledge base of tickets only
            voters = tickets[:TICKET_VOTERS_MAIN]
            tags = {t["id"]: self._doc(t["id"])[0].tags for t in voters}
            main, agree = ticket_vote(voters, tags)
            kept = next((t for t in tickets if t["id"] == prefer), None)
            if kept is not None:  # live assist keeps the topic's ticket: the agreement is measured with it
                tags.setdefault(kept["id"], self._doc(kept["id"])[0].tags)
                main, agree = kept, agreement(kept, voters, tags)
            if not any(tags.values()):  # no tags to agree on: the untagged model, without `agree`
                agree = None
            # the tickets that agree with it (a tag in common): their general sentences may be quoted too
            agreeing = [t["id"] for t in voters if t is not main and set(tags[t["id"]]) & set(tags[main["id"]])]
            for t in sorted(tickets, key=lambda t: t["id"] != main["id"])[:N_CANDIDATES]:
                ranked.append({"id": t["id"], "type": "ticket", "title": t["title"], "status": "", "score": t["cos"],
                               "chunk": t["cos"], "unit": t["cos"], "rrf": 0.0, "votes": 0.0,
                               "agree": agree if t is main else None, "agreeing": agreeing if t is main else []})
            return ranked, tickets
        ranked.sort(key=lambda r: -r["score"])
        if ranked and ranked[0]["type"] == "sop" and ranked[0]["id"] != prefer:
            follow_delegation(ranked, best_text.get(ranked[0]["id"], ""))
        return ranked, tickets

    def _evidence(self, question: str, ranked: list[dict], tickets: list[dict]) -> dict[str, Any]:
        """The features of the confidence model, for the first of `ranked`: its best sentence cosine,
        its margin over the next SOP, the share of the question's words that it or the three most
        similar past tickets contain (words the knowledge base knows in this context), and how long
        the question is (a customer's whole message scores lower cosines than a short question)."""
        n_words = len(_stems(question))
        words = round(min(1.0, math.log1p(n_words) / math.log1p(LONG_QUESTION)), 4)
        if not ranked:
            return {"main": None, "unit": 0.0, "chunk": 0.0, "margin": 0.0, "coverage": 0.0, "votes": 0.0,
                    "ticket": 0.0, "words": words}
        top = ranked[0]
        q_stems = _stems(question)
        doc_stems = self._doc(top["id"])[1].union(*(self._doc(t["id"])[1] for t in tickets[:3]))
        rivals = [r["score"] for r in ranked[1:] if r.get("delegates_to") != top["id"]]
        margin = top["score"] - (max(rivals) if rivals else 0.0)
        return {
            "main": top["id"],
            "unit": round(top["unit"], 4),
            "chunk": round(top["chunk"], 4),
            "margin": round(min(1.0, max(0.0, margin)), 4),
            "coverage": round(len(q_stems & doc_stems) / len(q_stems), 4) if q_stems else 0.0,
            "votes": round(top["votes"], 4),
            "ticket": round(top.get("ticket", 0.0), 4),
            "words": words,
            **({"agree": round(top["agree"], 4)} if top.get("agree") is not None else {}),
        }


def ticket_vote(tickets: list[dict], tags: dict[str, list[str]]) -> tuple[dict, float]:
    """(the main ticket, how much the others agree with it) among the most similar past tickets, best
    first: each tag collects the similarity of the tickets that carry it, and the best ticket of the
    strongest tag is the main one (the nearest when no ticket has tags); `agree` is the share of all
    their similarity that lies with tickets sharing a tag with it (1: they all say the same)."""
    weight: dict[str, float] = {}
    for t in tickets:
        for tag in tags.get(t["id"], []):
            weight[tag] = weight.get(tag, 0.0) + max(0.0, t["cos"])
    main = tickets[0]
    if weight:  # the tags come in the order the tickets do, and max keeps the first: a tie goes to the nearer
        best = max(weight, key=weight.__getitem__)
        main = next(t for t in tickets if best in tags.get(t["id"], []))
    return main, agreement(main, tickets, tags)


def agreement(main: dict, tickets: list[dict], tags: dict[str, list[str]]) -> float:
    """The share of the tickets' similarity that lies with `main` and the tickets sharing a tag with it."""
    mine = set(tags.get(main["id"], []))
    total = sum(max(0.0, t["cos"]) for t in tickets)
    shared = sum(max(0.0, t["cos"]) for t in tickets
                 if t["id"] == main["id"] or mine & set(tags.get(t["id"], [])))
    return shared / total if total > 0 else 0.0


def rank_agreement(lexical_rank: int | None, dense_rank: int | None, k: float = 60.0) -> float:
    """Reciprocal rank fusion of a hit's two ranks, scaled so that first in both lists is 1."""
    total = sum(1.0 / (k + r) for r in (lexical_rank, dense_rank) if r)
    return total * (k + 1.0) / 2.0


def follow_delegation(ranked: list[dict], best_unit: str) -> None:
    """When a passage of the best SOP nearest the question hands the case to another candidate SOP
    ("raise a carrier investigation (sop-delivery-late, ...)", "use sop-delivery-late", "follow the
    Late and lost deliveries procedure"), that SOP becomes the main one: the first says so itself.
    It takes over the first's score; the delegating SOP is no rival in the margin (`delegates_to`)."""
    top = ranked[0]
    text = best_unit.lower()
    for r in ranked[1:DELEGATION_DEPTH + 1]:
        if (r["type"] != "sop" or top["unit"] - r["unit"] > DELEGATION_UNIT_GAP
                or top["score"] - r["score"] > DELEGATION_SCORE_GAP):
            continue
        title = r["title"].lower()
        if re.search(rf"(?<![\w-]){re.escape(r['id'].lower())}(?![\w-])", text) or (
                len(title) >= 12 and title in text):
            ranked.remove(r)
            r["score"], r["delegated_from"] = max(r["score"], top["score"]), top["id"]
            top["delegates_to"] = r["id"]
            ranked.insert(0, r)
            return


def packaged_confidence_model(model_name: str) -> dict[str, float] | None:
    """The packaged coefficients for an embedding model, or None for a model Deskbook was not calibrated for."""
    return for_model(CONFIDENCE_MODELS, model_name)


_FILES: dict[tuple[str, float], dict[str, Any]] = {}


def load_confidence_model(path: str | Path, model_name: str = "", setting: str = "answer_confidence_model",
                          writer: str = "python bench/bench_answers.py calibrate --write FILE") -> dict[str, float]:
    """Coefficients from a JSON file (`bench_answers.py calibrate --write FILE`, or for answers from tickets
    alone `bench_ticket_answers.py --write FILE`): {"bias": ..., "unit": ..., optionally "embedding_model":
    the model they were fitted for}. Every problem is a ConfigError naming the setting, the file and the field."""
    p = Path(path).expanduser()
    hint = f"write it with `{writer}`, or set {setting} = auto"
    try:
        key = (str(p), p.stat().st_mtime)
        if key not in _FILES:
            _FILES.clear()
            _FILES[key] = json.loads(p.read_text(encoding="utf-8"))
        raw = _FILES[key]
    except OSError as exc:
        raise ConfigError(f"{setting}: cannot read {p}: {exc.strerror or exc}", hint=hint) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{setting}: {p} is not JSON ({exc})", hint=hint) from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{setting}: {p} must hold a JSON object of coefficients", hint=hint)
    fitted_for = raw.get("embedding_model")
    if fitted_for and model_name and not str(model_name).startswith(str(fitted_for)):
        raise ConfigError(f"{setting}: {p} was fitted for the model {fitted_for!r}, but the knowledge "
                          f"base uses {model_name!r}", hint="calibrate again with this model, or set it to auto")
    out: dict[str, float] = {}
    for k, v in raw.items():
        if k == "embedding_model":
            continue
        if k != "bias" and k not in EVIDENCE_FEATURES:
            raise ConfigError(f"{setting}: {p}: unknown field {k!r}",
                              hint=f"use bias and any of {', '.join(EVIDENCE_FEATURES)}")
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise ConfigError(f"{setting}: {p}: field {k!r} must be a number, not {v!r}", hint=hint)
        out[k] = float(v)
    if "bias" not in out:
        raise ConfigError(f"{setting}: {p}: the field 'bias' is missing", hint=hint)
    return out


def ticket_confidence_model_for(model_name: str, tagged: bool = True) -> dict[str, float] | None:
    """The packaged coefficients for answers from past tickets alone, whose neighbours carry tags or
    not (None: not calibrated for this model)."""
    return for_model(TICKET_CONFIDENCE_MODELS if tagged else UNTAGGED_TICKET_CONFIDENCE_MODELS, model_name)


def _own_file(config, setting: str, model_name: str, writer: str) -> dict[str, float] | None:
    """The coefficients of the file a confidence-model setting names; None when it is `auto`."""
    value = str(getattr(config, setting, "auto") or "auto").strip()
    return None if value.lower() == "auto" else load_confidence_model(value, model_name, setting, writer)


def ticket_model_for(config, model_name: str, tagged: bool) -> tuple[dict[str, float], bool] | None:
    """(the coefficients answers from past tickets alone use, calibrated): the file the
    `answer_ticket_confidence_model` setting names, else the packaged ones for `model_name` (tickets with
    tags or without); None when there are none (the SOP model's coefficients are used, marked uncalibrated)."""
    own = _own_file(config, "answer_ticket_confidence_model", model_name,
                    "python bench/bench_ticket_answers.py --write FILE")
    coefficients = own if own is not None else ticket_confidence_model_for(model_name, tagged)
    return (coefficients, True) if coefficients is not None else None


def confidence_model_for(config, model_name: str) -> tuple[dict[str, float], bool]:
    """(the coefficients answers use, whether they are calibrated for `model_name`): the file the
    `answer_confidence_model` setting names, else the packaged model's own; a model Deskbook has no
    coefficients for gets all-MiniLM-L6-v2's, marked uncalibrated."""
    own = _own_file(config, "answer_confidence_model", model_name,
                    "python bench/bench_answers.py calibrate --write FILE")
    coefficients = own if own is not None else packaged_confidence_model(model_name)
    return (coefficients, True) if coefficients is not None else (CONFIDENCE_MODEL, False)


def confidence(evidence: dict[str, Any], model: dict[str, float] | None = None) -> float:
    """P(the main source is right), from the evidence, by the fitted logistic model."""
    if not evidence.get("main"):
        return 0.0
    m = model or CONFIDENCE_MODEL
    z = m["bias"] + sum(m[k] * float(evidence.get(k, 0.0)) for k in m if k != "bias")
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))
