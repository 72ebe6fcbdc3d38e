"""Suggested answers: short answers built only from the knowledge base, each sentence traced to its source.

The extractive engine (the default, offline):

1. One query embedding, shared by everything below, and one hybrid search (`kb.search`).
2. The main SOP. Candidates are the SOPs nearest by their best chunk (an exact scan of the SOP
   chunk vectors, which are few) and by hybrid rank. Each candidate is scored by its best chunk
   cosine, its best sentence/step cosine, its hybrid rank and votes from the most similar past
   tickets (a ticket votes for the SOP nearest to it).
3. The answer. In the main SOP, the section(s) nearest the question; in them, the sentences and
   numbered steps nearest the question, redundancy removed (MMR), in their original order, steps
   with their own numbers; then a sentence from the resolution of the most similar past ticket.
   Every sentence is a verbatim slice of its source's text: nothing is invented.
4. Confidence: a logistic model over the retrieval evidence (best sentence cosine, the margin of
   the main SOP over the next one, the share of the question's words found in it or in the most
   similar past tickets), fitted on the
   dev queries plus out-of-scope questions (`bench/bench_answers.py calibrate`), so that it reads as
   the probability that the main source is the right one. Below `answer_threshold` the answer
   abstains and lists the closest procedures instead.

Sentence and step vectors are cached by text hash, in memory and in a file beside the database
(`<db>.answers.npz`, derived and rebuildable), so SOP text is embedded once, not per answer. Past
tickets' sentences are not embedded at answer time: a ticket's stored chunk vector stands for its
sentences, and word overlap with the question picks among them.
"""

from __future__ import annotations

import math
import os
import re
import statistics
import threading
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kb.config import Setting, register_settings
from kb.models import Document, content_hash
from kb.text import content_terms, load_spacy, normalize_ws, sentence_spans, stem

ENGINES = ("extractive", "llm")
register_settings(
    Setting("answer_engine", "extractive", "Suggested answers: 'extractive' (offline, the default) or 'llm' (a "
            "chat-completions server, see llm_base_url); the llm engine falls back to the extractive answer."),
    Setting("answer_threshold", 0.55, "Suggested answers: confidence (0-1) below which Deskbook abstains and lists the "
            "closest procedures instead; chosen on the dev and out-of-scope queries, see docs/answers.md."),
    Setting("answer_max_sentences", 5, "Suggested answers: most sentences or steps taken from the main SOP."),
    Setting("answer_ticket_sentences", 1, "Suggested answers: sentences added from past tickets' resolutions (0 = none)."),
    Setting("llm_base_url", "", "OpenAI-compatible API base URL for answer_engine=llm, e.g. http://localhost:11434/v1 "
            "(Ollama), http://localhost:8000/v1 (vLLM), http://localhost:8080/v1 (llama.cpp server)."),
    Setting("llm_model", "", "Model name for answer_engine=llm, as the server knows it (e.g. llama3.1:8b)."),
    Setting("llm_api_key", "", "API key sent as a Bearer token (empty for local servers); prefer DESKBOOK_LLM_API_KEY "
            "to writing it in a file."),
    Setting("llm_timeout", 20.0, "Seconds to wait for the LLM server before falling back to the extractive answer."),
)

# Fitted by `python bench/bench_answers.py calibrate` on corpus/eval/queries.jsonl + out_of_scope.jsonl.
CONFIDENCE_MODEL = {"bias": -6.185, "unit": 3.501, "margin": 5.85, "coverage": 5.006}
ENGINE = "extractive.v1"
N_CANDIDATES = 4  # SOPs scored in full (sentence vectors) per answer
SEARCH_K = 20
MAX_CHARS = 900  # an answer an agent can read in a few seconds
_META_SECTION = re.compile(r"^(purpose|scope|why this matters|overview|introduction|background|about)\b", re.I)
_GENERAL = re.compile(r"(explained|told|advised|confirmed|let \w+ know)\b", re.I)  # what was said, not done
_GREETING = re.compile(r"(dear|hi|hello|hey|thanks|thank you)\b", re.I)
_PROCEDURE = re.compile(r"procedure|steps|process|what to do|how to", re.I)
_STEP = re.compile(r"\s*(\d{1,3})[.)]\s+")
_BULLET = re.compile(r"\s*[-*+•]\s+")
_CASE_DETAIL = re.compile(r"\b(?:BC-(?:ORD-)?\d{4,}|ID&V|\d{1,2}(?:st|nd|rd|th)?\s+(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|"
                          r"Nov|Dec)[a-z]*|(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day|yesterday|today|tomorrow)\b|\d{1,2}/\d{1,2}",
                          re.I)


# -- what an answer is ---------------------------------------------------------------------------
@dataclass
class Citation:
    id: str
    type: str  # sop | ticket
    title: str
    heading: str = ""


@dataclass
class Source:
    """A document consulted for the answer (or, when abstaining, one of the closest procedures)."""

    id: str
    type: str
    title: str
    score: float
    heading: str = ""
    status: str = ""


@dataclass
class AnswerSentence:
    text: str  # verbatim from the source (modulo whitespace)
    source: str  # document id
    heading: str
    kind: str  # step | sentence
    number: int | None = None  # a step's number in its SOP


@dataclass
class Answer:
    question: str
    answer: str
    confidence: float
    abstained: bool
    citations: list[Citation] = field(default_factory=list)  # the first is the main source
    sources: list[Source] = field(default_factory=list)
    sentences: list[AnswerSentence] = field(default_factory=list)
    latency_ms: float = 0.0
    engine: str = ENGINE
    fallback: str | None = None  # why a configured generative engine was not used
    warnings: list[str] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)  # the features behind the confidence

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary_dict(self) -> dict[str, Any]:
        """The shape of `deskbook answer --json`."""
        d = self.to_dict()
        return {k: d[k] for k in ("answer", "confidence", "abstained", "citations", "sources")}


@dataclass
class Passage:
    """A numbered source passage, as given to a generative engine."""

    n: int
    id: str
    type: str
    title: str
    heading: str
    text: str


# -- units: the sentences and steps an answer is made of ------------------------------------------
@dataclass
class Unit:
    doc_id: str
    text: str  # a verbatim slice of the document body, stripped
    start: int
    kind: str  # step | sentence
    heading: str
    number: int | None = None

    @property
    def key(self) -> str:
        return content_hash(self.text)


def sop_units(doc: Document, nlp) -> list[Unit]:
    """Steps (whole, with their sub-bullets), bullets and sentences of an SOP, in document order."""
    from kb.structure import parse_sections

    out: list[Unit] = []
    for sec in parse_sections(doc):
        heading = " > ".join(sec.path)
        for b in sec.blocks:
            raw = doc.body[b.start:b.end]
            if b.kind == "code" or raw.lstrip().startswith((">", "|")):
                continue  # notes, tables and code are not read out
            if b.kind in ("step", "bullet"):
                m = (_STEP if b.kind == "step" else _BULLET).match(raw)
                off = m.end() if m else 0
                text = raw[off:].strip()
                if text:
                    number = int(m.group(1)) if (m and b.kind == "step") else None
                    out.append(Unit(doc.id, text, b.start + off, "step" if b.kind == "step" else "sentence",
                                    heading, number))
                continue
            for s, e in sentence_spans(raw, nlp):
                if len(raw[s:e].split()) >= 3:
                    out.append(Unit(doc.id, raw[s:e], b.start + s, "sentence", heading))
    return out


def ticket_units(doc: Document, nlp) -> list[Unit]:
    """The sentences of a ticket's resolution."""
    marker = "Resolution:\n"
    i = doc.body.find(marker)
    if i < 0:
        return []
    i += len(marker)
    part = doc.body[i:]
    return [Unit(doc.id, part[s:e], i + s, "sentence", "Resolution") for s, e in sentence_spans(part, nlp)
            if len(part[s:e].split()) >= 4]


def _stems(text: str) -> set[str]:
    return {stem(w) for w in content_terms(text)}


# -- caches ---------------------------------------------------------------------------------------
class VectorCache:
    """Sentence/step vectors by text hash, in memory and (optionally) in an .npz file."""

    def __init__(self, path: Path | None, model: str, max_items: int = 100_000):
        self.path = path
        self.model = model
        self.max_items = max_items
        self._vecs: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self._save_lock = threading.Lock()
        self._dirty = 0
        self._load()

    def _load(self) -> None:
        if not self.path or not self.path.exists():
            return
        try:
            with np.load(self.path, allow_pickle=False) as z:
                if str(z["model"]) != self.model:
                    return  # made with another model: ignored, and overwritten on the next save
                for k, v in zip(z["keys"].tolist(), z["vectors"], strict=True):
                    self._vecs[k] = np.asarray(v, dtype=np.float32)
        except (OSError, ValueError, KeyError):
            self._vecs.clear()  # a damaged cache is only a cache

    def vectors(self, embedder, texts: list[str]) -> np.ndarray:
        """A row per text; the missing ones are embedded in one batch."""
        keys = [content_hash(t) for t in texts]
        if not keys:
            return np.zeros((0, getattr(embedder, "dim", 0)), dtype=np.float32)
        with self._lock:
            got = {k: self._vecs[k] for k in keys if k in self._vecs}
        missing = [k for k in dict.fromkeys(keys) if k not in got]
        if missing:
            by_key = dict(zip(keys, texts, strict=True))
            got.update(zip(missing, embedder.encode_documents([by_key[k] for k in missing]), strict=True))
            with self._lock:
                for k in missing:
                    self._vecs[k] = got[k]
                self._dirty += len(missing)
                while len(self._vecs) > self.max_items:
                    self._vecs.popitem(last=False)
        return np.vstack([got[k] for k in keys])

    def save(self) -> None:
        """Write the file if something was added (atomic rename; a read-only folder is fine)."""
        if not self.path or not self._dirty:
            return
        with self._lock:
            keys = list(self._vecs)
            mat = np.vstack([self._vecs[k] for k in keys]) if keys else np.zeros((0, 0), np.float32)
            self._dirty = 0
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}-{threading.get_ident()}.tmp.npz")
        with self._save_lock:
            try:
                np.savez(tmp, keys=np.array(keys), vectors=mat, model=np.array(self.model))
                os.replace(tmp, self.path)
            except OSError:
                tmp.unlink(missing_ok=True)


@dataclass
class _SopMatrix:
    generation: int
    chunk_ids: np.ndarray
    doc_ids: list[str]  # one per document, in the order of `starts`
    starts: np.ndarray  # row where each document's chunks begin
    matrix: np.ndarray
    row_of: dict[int, int]


# -- the engine -----------------------------------------------------------------------------------
class Answerer:
    """Builds extractive answers over one knowledge base. Build once per process and reuse."""

    def __init__(self, searcher, config=None, *, cache: VectorCache | None = None):
        self.searcher = searcher
        self.store = searcher.store
        self.config = config or searcher.config
        self._sops: _SopMatrix | None = None
        self._docs: OrderedDict[tuple[str, str], list[Any]] = OrderedDict()  # [doc, stems, units or None]
        self._lock = threading.RLock()
        self._cache = cache  # default: in memory and in <db>.answers.npz

    # -- shared pieces ---------------------------------------------------------------------------
    @property
    def nlp(self):
        return load_spacy(self.config.spacy_model)

    @property
    def cache(self) -> VectorCache:
        if self._cache is None:
            path = getattr(self.store, "path", None)
            self._cache = VectorCache(Path(str(path) + ".answers.npz") if path else None,
                                      getattr(self.searcher.embedder, "name", ""))
        return self._cache

    def _sop_matrix(self) -> _SopMatrix:
        gen = self.store.vectors_generation()
        with self._lock:
            if self._sops is not None and self._sops.generation == gen:
                return self._sops
            ids = self.store.chunk_ids_where(types=["sop"])
            ids, mat = self.store.get_vectors(ids.tolist())
            info = self.store.chunk_docs(ids.tolist())
            order = sorted(range(len(ids)), key=lambda i: (info[int(ids[i])]["doc_id"], int(ids[i])))
            ids, mat = ids[order], mat[order] if len(order) else mat
            docs, starts = [], []
            for row, cid in enumerate(ids.tolist()):
                d = info[cid]["doc_id"]
                if not docs or docs[-1] != d:
                    docs.append(d)
                    starts.append(row)
            self._sops = _SopMatrix(gen, ids, docs, np.array(starts, dtype=np.int64), mat,
                                    {c: r for r, c in enumerate(ids.tolist())})
            return self._sops

    def _doc(self, doc_id: str) -> tuple[Document, set[str]]:
        """A document and the stems of its words (cached by content hash)."""
        doc = self.store.get_document(doc_id)
        key = (doc_id, doc.hash)
        with self._lock:
            hit = self._docs.get(key)
            if hit:
                self._docs.move_to_end(key)
                return hit[0], hit[1]
        entry: list[Any] = [doc, _stems(f"{doc.title}\n{doc.body}"), None]
        with self._lock:
            self._docs[key] = entry
            while len(self._docs) > 2000:
                self._docs.popitem(last=False)
        return doc, entry[1]

    def _units(self, doc_id: str) -> tuple[Document, list[Unit]]:
        """A document and its sentences/steps (split once, on first use)."""
        doc, _ = self._doc(doc_id)
        with self._lock:
            entry = self._docs.get((doc_id, doc.hash))
        if entry is not None and entry[2] is not None:
            return doc, entry[2]
        units = sop_units(doc, self.nlp) if doc.type == "sop" else ticket_units(doc, self.nlp)
        if entry is not None:
            entry[2] = units
        return doc, units

    def warm(self) -> int:
        """Embed the sentences and steps of every SOP now (the web app calls this at start-up)."""
        n = 0
        for doc_id in self._sop_matrix().doc_ids:
            _, units = self._units(doc_id)
            self.cache.vectors(self.searcher.embedder, [u.text for u in units])
            n += len(units)
        self.cache.save()
        return n

    # -- answering -------------------------------------------------------------------------------
    def answer(self, question: str, *, qvec: np.ndarray | None = None, prefer: str | None = None) -> Answer:
        """An extractive answer to `question` (in the customer's words).

        `qvec` replaces the question's own embedding (live assist passes a weighted conversation
        vector); `prefer` names an SOP to keep as the main source (live assist, within a topic).
        """
        from kb.search import parse_query

        t0 = time.perf_counter()
        parsed = parse_query(question)  # raises InputError on an empty question
        if qvec is None:
            qvec = self.searcher.encode_query(parsed.text)
        hits = self.searcher.search(question, k=SEARCH_K, qvec=qvec, snippets=False)
        ranked, tickets = self._rank(qvec, hits, prefer)
        if prefer:  # live assist keeps the current topic's SOP first
            ranked.sort(key=lambda r: r["id"] != prefer)
        evidence = self._evidence(question, ranked, tickets)
        conf = confidence(evidence)
        threshold = float(self.config.answer_threshold)
        sources = [Source(d["id"], d["type"], d["title"], round(d["score"], 4), d.get("heading", ""),
                          d.get("status", "")) for d in ranked]
        sources += [Source(t["id"], "ticket", t["title"], round(t["cos"], 4), "Resolution", t["status"])
                    for t in tickets[:5] if all(t["id"] != s.id for s in sources)]
        ans = Answer(question=question, answer="", confidence=round(conf, 4), abstained=True, sources=sources,
                     evidence=evidence)
        if not ranked or conf < threshold:
            closest = [s for s in sources if s.type == "sop"][:3] or sources[:3]
            lines = ["No confident answer found. Closest procedures:"]
            lines += [f"- {s.title} ({s.id})" for s in closest]
            ans.answer = "\n".join(lines) if closest else "No confident answer found: the knowledge base has nothing close."
        else:
            self._compose(ans, ranked[0], qvec, question, tickets)
        self.cache.save()
        ans.latency_ms = round((time.perf_counter() - t0) * 1000, 2)
        return ans

    def passages(self, ans: Answer, qvec: np.ndarray, limit: int = 5) -> list[Passage]:
        """Source passages behind `ans`, best first (what a generative engine is given to read):
        the main SOP's chosen section, the best chunk of the next SOPs, past tickets' resolutions."""
        out: list[Passage] = []
        sm = self._sop_matrix()
        main_heading = ans.citations[0].heading if ans.citations else ""
        sops = [s for s in ans.sources if s.type == "sop"][:3]
        tickets = [s for s in ans.sources if s.type == "ticket"]
        chosen = sops[:max(1, limit - min(2, len(tickets)))]  # the SOPs first, two tickets if there are
        chosen += tickets[:limit - len(chosen)]
        for s in chosen:
            doc = self._doc(s.id)[0]
            if doc.type == "ticket":
                i = doc.body.find("Resolution:\n")
                text = doc.body[i + len("Resolution:\n"):] if i >= 0 else doc.body
                out.append(Passage(len(out) + 1, doc.id, "ticket", doc.title, "Resolution", text.strip()[:1200]))
                continue
            chunks = self.store.get_chunks(doc.id)
            if not chunks:
                continue
            if not out and main_heading:
                picked = [c for c in chunks if c.heading == main_heading] or chunks[:1]
                heading = main_heading
            else:
                rows = [(float(sm.matrix[sm.row_of[c.id]] @ qvec), c) for c in chunks if c.id in sm.row_of]
                best = max(rows, key=lambda r: r[0])[1] if rows else chunks[0]
                picked, heading = [best], best.heading
            text = "\n".join(c.text for c in picked)
            out.append(Passage(len(out) + 1, doc.id, "sop", doc.title, heading, text[:2000]))
        return out

    def _rank(self, qvec: np.ndarray, hits, prefer: str | None = None) -> tuple[list[dict], list[dict]]:
        """Candidate SOPs, best first, with their evidence; and the most similar tickets."""
        sm = self._sop_matrix()
        rrf_max = 2.0 / (float(self.config.rrf_k) + 1.0)
        rrf = {h.id: h.score / rrf_max for h in hits if h.type == "sop"}
        chunk_cos = sm.matrix @ qvec if len(sm.chunk_ids) else np.zeros(0, np.float32)
        best_chunk = np.maximum.reduceat(chunk_cos, sm.starts) if len(sm.starts) else np.zeros(0)
        doc_chunk = dict(zip(sm.doc_ids, best_chunk.tolist(), strict=True))
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
            nearest = [int(np.argmax(sm.matrix @ v)) for v in tv] if len(ids) and len(sm.chunk_ids) else None
            for h in t_hits:
                if h.chunk_id not in row:
                    continue
                i = row[h.chunk_id]
                cos = float(t_cos[i])
                d = None
                if nearest is not None:
                    d = sm.doc_ids[int(np.searchsorted(sm.starts, nearest[i], side="right") - 1)]
                    votes[d] = votes.get(d, 0.0) + cos
                tickets.append({"id": h.id, "title": h.title, "cos": cos, "chunk_id": h.chunk_id, "status": "",
                                "sop": d})
            tickets.sort(key=lambda t: -t["cos"])

        cands = sorted(pre, key=lambda d: -pre[d])[:N_CANDIDATES]
        if prefer in pre and prefer not in cands:
            cands.append(prefer)
        ranked = []
        for d in cands:
            doc, units = self._units(d)
            u = self.cache.vectors(self.searcher.embedder, [x.text for x in units]) @ qvec if units else np.zeros(0)
            unit = float(u.max()) if len(u) else doc_chunk[d]
            score = doc_chunk[d] + unit + rrf.get(d, 0.0) / 3 + 0.1 * votes.get(d, 0.0)
            ranked.append({"id": d, "type": "sop", "title": doc.title, "status": doc.status, "score": score,
                           "chunk": doc_chunk[d], "unit": unit, "rrf": rrf.get(d, 0.0), "votes": votes.get(d, 0.0)})
        if not ranked and tickets:  # a knowledge base of tickets only
            for t in tickets[:N_CANDIDATES]:
                ranked.append({"id": t["id"], "type": "ticket", "title": t["title"], "status": "", "score": t["cos"],
                               "chunk": t["cos"], "unit": t["cos"], "rrf": 0.0, "votes": 0.0})
        ranked.sort(key=lambda r: -r["score"])
        return ranked, tickets

    def _evidence(self, question: str, ranked: list[dict], tickets: list[dict]) -> dict[str, Any]:
        """The features of the confidence model, for the first of `ranked`: its best sentence cosine,
        its margin over the next SOP, and the share of the question's words that it or the three
        most similar past tickets contain (words the knowledge base knows in this context)."""
        if not ranked:
            return {"main": None, "unit": 0.0, "chunk": 0.0, "margin": 0.0, "coverage": 0.0, "votes": 0.0}
        top = ranked[0]
        q_stems = _stems(question)
        doc_stems = self._doc(top["id"])[1].union(*(self._doc(t["id"])[1] for t in tickets[:3]))
        margin = top["score"] - (max(r["score"] for r in ranked[1:]) if len(ranked) > 1 else 0.0)
        return {
            "main": top["id"],
            "unit": round(top["unit"], 4),
            "chunk": round(top["chunk"], 4),
            "margin": round(min(1.0, max(0.0, margin)), 4),
            "coverage": round(len(q_stems & doc_stems) / len(q_stems), 4) if q_stems else 0.0,
            "votes": round(top["votes"], 4),
        }

    def _compose(self, ans: Answer, main: dict, qvec: np.ndarray, question: str, tickets: list[dict]) -> None:
        doc, units = self._units(main["id"])
        picked: list[tuple[Unit, float]] = []
        heading = ""
        if doc.type == "sop" and units:
            picked, heading = self._pick_sop_units(doc, units, qvec)
        n_tickets = int(self.config.answer_ticket_sentences) if doc.type == "sop" else int(
            self.config.answer_max_sentences)
        # past tickets on the same subject: those nearest to the main SOP
        same = [t for t in tickets if (t["sop"] == doc.id if doc.type == "sop" else t["id"] == doc.id)]
        extra = self._pick_ticket_units(same, question, [u for u, _ in picked], n_tickets)
        lines, sentences = [], []
        for u, _ in sorted(picked, key=lambda p: p[0].start):
            lines.append(_render(u))
            sentences.append(AnswerSentence(u.text, u.doc_id, u.heading, u.kind, u.number))
        for u, _ in extra:
            lines.append(_render(u))
            sentences.append(AnswerSentence(u.text, u.doc_id, u.heading, "sentence"))
        ans.answer = "\n".join(lines)
        ans.sentences = sentences
        ans.abstained = False
        cited: list[Citation] = []
        for s in sentences:
            if all(c.id != s.source for c in cited):
                d = self._doc(s.source)[0]
                cited.append(Citation(d.id, d.type, d.title, heading if d.id == doc.id else s.heading))
        if all(c.id != doc.id for c in cited):
            cited.insert(0, Citation(doc.id, doc.type, doc.title, heading))
        ans.citations = cited
        for s in ans.sources:
            if s.id == doc.id:
                s.heading = heading
        if doc.type == "sop" and doc.status in ("draft", "archived"):
            ans.warnings.append(f"The main source, {doc.id}, is {doc.status}: check it before quoting it.")

    def _pick_sop_units(self, doc: Document, units: list[Unit], qvec: np.ndarray) -> tuple[list[tuple[Unit, float]],
                                                                                            str]:
        vecs = self.cache.vectors(self.searcher.embedder, [u.text for u in units])
        cos = vecs @ qvec
        # sections: their best unit and their best chunk; "Purpose"/"Scope" only if nothing else
        sm = self._sop_matrix()
        chunk_cos: dict[str, float] = {}
        for ch in self.store.get_chunks(doc.id):
            r = sm.row_of.get(ch.id)
            if r is not None:
                c = float(sm.matrix[r] @ qvec)
                chunk_cos[ch.heading] = max(chunk_cos.get(ch.heading, -1.0), c)
        sec_unit: dict[str, list[float]] = {}
        for u, c in zip(units, cos.tolist(), strict=True):
            sec_unit.setdefault(u.heading, []).append(c)
        for h in sec_unit:
            sec_unit[h].sort(reverse=True)
        def useful(h: str) -> bool:
            return not _META_SECTION.match(h.rsplit(" > ", 1)[-1])
        secs = [h for h in sec_unit if useful(h)] or list(sec_unit)
        # a section's best two units and its best chunk; procedure sections first on a near tie
        score = {h: 0.5 * float(np.mean(sec_unit[h][:2])) + 0.5 * chunk_cos.get(h, sec_unit[h][0])
                 + (0.04 if _PROCEDURE.search(h) else 0.0) for h in secs}
        order = sorted(secs, key=lambda h: -score[h])
        chosen = [order[0]] + [h for h in order[1:2] if score[h] >= score[order[0]] - 0.03]
        pool = [i for i, u in enumerate(units) if u.heading in chosen]
        picked = _mmr(pool, cos, vecs, int(self.config.answer_max_sentences), [len(u.text) for u in units])
        return [(units[i], float(cos[i])) for i in picked], order[0]

    def _pick_ticket_units(self, tickets: list[dict], question: str, taken: list[Unit],
                           limit: int) -> list[tuple[Unit, float]]:
        if limit <= 0:
            return []
        q = _stems(question)
        taken_stems = [_stems(u.text) for u in taken]
        out: list[tuple[Unit, float]] = []
        for t in tickets[:2]:
            if t["cos"] < 0.45:
                break
            best = None
            for u in self._units(t["id"])[1]:
                if _CASE_DETAIL.search(u.text) or _GREETING.match(u.text):
                    continue
                s = _stems(u.text)
                if not s & q or any(len(s & o) / max(1, len(s | o)) > 0.4 for o in taken_stems):
                    continue  # off the question, or says what the SOP already says
                score = t["cos"] + 0.1 * len(s & q) / max(1, len(q)) + (0.05 if _GENERAL.match(u.text) else 0.0)
                if best is None or score > best[1]:
                    best = (u, score)
            if best:
                out.append(best)
                taken_stems.append(_stems(best[0].text))
            if len(out) >= limit:
                break
        return out


def _render(u: Unit) -> str:
    """A unit as a line of the answer: sentences on one line; steps numbered, their sub-bullets
    kept on indented lines (so every line that starts at the margin begins a new unit)."""
    if u.kind != "step":
        return normalize_ws(u.text)
    first, *rest = u.text.split("\n")
    rest = [line.rstrip() if line[:1].isspace() else "   " + line.rstrip() for line in rest if line.strip()]
    return "\n".join([f"{u.number}. {first.strip()}" if u.number is not None else first.strip(), *rest])


def get_answerer(searcher, config=None):
    """The configured engine: `Answerer`, or `kb.llm.GenerativeAnswerer` around one."""
    from kb.errors import ConfigError

    config = config or searcher.config
    engine = str(config.answer_engine)
    if engine not in ENGINES:
        raise ConfigError(f"Unknown answer engine {engine!r}", hint="set answer_engine to extractive or llm",
                          field="answer_engine")
    answerer = Answerer(searcher, config)
    if engine == "llm":
        from kb.llm import GenerativeAnswerer

        return GenerativeAnswerer(answerer, config)
    return answerer


def _mmr(pool: list[int], cos: np.ndarray, vecs: np.ndarray, limit: int, lengths: list[int],
         max_chars: int = MAX_CHARS, lam: float = 0.7) -> list[int]:
    """Maximal marginal relevance over `pool`, stopping when units fall well below the best one or
    the answer would grow past `max_chars` (the first unit is always taken)."""
    if not pool:
        return []
    top = max(float(cos[i]) for i in pool)
    floor = min(top, max(0.15, top - 0.15))
    chosen: list[int] = []
    used = 0
    left = [i for i in pool if cos[i] >= floor]
    while left and len(chosen) < limit:
        def gain(i: int) -> float:
            red = max((float(vecs[i] @ vecs[j]) for j in chosen), default=0.0)
            return lam * float(cos[i]) - (1 - lam) * red
        i = max(left, key=gain)
        left.remove(i)
        if chosen and max(float(vecs[i] @ vecs[j]) for j in chosen) > 0.9:
            continue  # near duplicate
        if chosen and used + lengths[i] > max_chars:
            continue
        chosen.append(i)
        used += lengths[i]
    return chosen


def confidence(evidence: dict[str, Any], model: dict[str, float] | None = None) -> float:
    """P(the main source is right), from the evidence, by the fitted logistic model."""
    if not evidence.get("main"):
        return 0.0
    m = model or CONFIDENCE_MODEL
    z = m["bias"] + sum(m[k] * float(evidence.get(k, 0.0)) for k in m if k != "bias")
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


# -- evaluation -----------------------------------------------------------------------------------
def outcome_rates(rows: list[tuple[dict, bool, str | None]]) -> dict[str, Any]:
    """Rates from (query row, abstained, first citation id) triples."""
    ans = [r for r in rows if r[0]["relevant"]]
    una = [r for r in rows if not r[0]["relevant"]]

    def rate(n: int, d: int) -> float:
        return round(n / d, 4) if d else 0.0

    return {
        "answered_correctly": rate(sum(1 for q, a, c in ans if not a and c in q["relevant"]), len(ans)),
        "wrong_answer": rate(sum(1 for q, a, c in ans if not a and c not in q["relevant"]), len(ans)),
        "abstained_answerable": rate(sum(1 for _, a, _ in ans if a), len(ans)),
        "correct_abstention": rate(sum(1 for _, a, _ in una if a), len(una)),
        "n_answerable": len(ans),
        "n_unanswerable": len(una),
    }


def evaluate_answers(answerer: Answerer, queries: list[dict]) -> tuple[dict[str, Any], list[tuple[dict, Answer]]]:
    """The `deskbook eval answers` figures, and each query's answer (for threshold sweeps)."""
    from kb.errors import InputError

    if not queries:
        raise InputError("The query set is empty")
    answerer.answer(queries[0]["query"])  # warm the model, the index and the sentence cache
    results, lat = [], []
    for q in queries:
        a = answerer.answer(q["query"])
        lat.append(a.latency_ms)
        results.append((q, a))
    rows = [(q, a.abstained, a.citations[0].id if a.citations else None) for q, a in results]
    out = outcome_rates(rows)
    out["latency_ms"] = round(statistics.fmean(lat), 2)
    return out, results


def threshold_sweep(results: list[tuple[dict, Answer]], thresholds: list[float]) -> list[dict[str, Any]]:
    """The evaluation rates had the threshold been each of `thresholds` (the main source does not change)."""
    table = []
    for t in thresholds:
        rows = [(q, a.confidence < t or not a.evidence.get("main"), a.evidence.get("main")) for q, a in results]
        table.append({"threshold": t, **outcome_rates(rows)})
    return table


def normalized(text: str) -> str:
    """Whitespace-normalised text: how answer sentences are compared with their sources."""
    return normalize_ws(text)
