"""The extractive engine: `Answerer` (build once per process) and `get_answerer` (the configured engine)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np

from kb.answers.compose import Composition
from kb.answers.model import Answer, Passage, Source
from kb.answers.ranking import Ranking, confidence, confidence_model_for, ticket_model_for
from kb.answers.units import Unit, VectorCache, _stems, mark_case_details, sop_units, ticket_units
from kb.models import AGENT_STATUSES, Document
from kb.storage import SearchFilters
from kb.text import load_spacy

ENGINES = ("extractive", "llm")
SEARCH_K = 20
ANSWER_TICKET_WEIGHT = 0.5  # the past tickets' weight in that search (what the confidence model was fitted with)
CLOSE_SCORE = 0.05  # a second SOP this close to the main one (score) ...
CLOSE_UNIT = 0.02  # ... and with a best sentence this close: "another procedure fits almost as well"


def review_overdue(review_by: str, today: date | None = None) -> bool:
    """True when an SOP's review-by date (ISO) has passed."""
    try:
        return bool(review_by) and date.fromisoformat(review_by[:10]) < (today or date.today())
    except ValueError:
        return False


@dataclass
class _SopMatrix:
    generation: int
    chunk_ids: np.ndarray
    doc_ids: list[str]  # one per document, in the order of `starts`
    starts: np.ndarray  # row where each document's chunks begin
    matrix: np.ndarray
    row_of: dict[int, int]


# -- the engine -----------------------------------------------------------------------------------
class Answerer(Ranking, Composition):
    """Builds extractive answers over one knowledge base. Build once per process and reuse."""

    def __init__(self, searcher, config=None, *, cache: VectorCache | None = None):
        self.searcher = searcher
        self.store = searcher.store
        self.config = config or searcher.config
        self._sops: _SopMatrix | None = None
        self._docs: OrderedDict[tuple[str, str], list[Any]] = OrderedDict()  # [doc, stems, units or None]
        self._read_gen: Any = None
        self._read_docs: dict[str, tuple[Document, str]] = {}
        self._lock = threading.RLock()
        self._cache = cache  # default: in memory and in <db>.answers.npz

    # -- shared pieces ---------------------------------------------------------------------------
    @property
    def nlp(self):
        return load_spacy(self.config.spacy_model)

    @property
    def nlp_full(self):
        """The configured pipeline with tagger, parser and NER (reads past tickets' sentences), or
        None when it has no parser (a blank pipeline: ticket sentences are then never quoted)."""
        nlp = load_spacy(self.config.spacy_model, full=True)
        return nlp if "parser" in nlp.pipe_names else None

    @property
    def cache(self) -> VectorCache:
        if self._cache is None:
            from kb.storage import derived_path

            self._cache = VectorCache(derived_path(self.store, self.config.data_dir, "answers.npz"),
                                      getattr(self.searcher.embedder, "name", ""))
        return self._cache

    def _sop_matrix(self) -> _SopMatrix:
        gen = self.store.vectors_generation()
        with self._lock:
            if self._sops is not None and self._sops.generation == gen:
                return self._sops
            ids = self.store.chunk_ids_where(SearchFilters.of(types=["sop"]))
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

    def _read(self, doc_id: str) -> tuple[Document, str]:
        """A document and its content hash, read once per store generation (every saved, deleted, published
        or re-tagged document starts a new one; each answer's search checks it first): an answer looks at
        ~15 documents, and reading and hashing each from the store was an eighth of a warm answer."""
        gen = self.searcher.generation()
        with self._lock:
            if self._read_gen != gen:
                self._read_gen, self._read_docs = gen, {}
            got = self._read_docs.get(doc_id)
        if got is None:
            doc = self.store.get_document(doc_id)
            got = (doc, doc.hash)
            with self._lock:
                if len(self._read_docs) >= 5000:
                    self._read_docs.clear()
                self._read_docs[doc_id] = got
        return got

    def _doc(self, doc_id: str) -> tuple[Document, set[str]]:
        """A document and the stems of its words (cached by content hash)."""
        doc, digest = self._read(doc_id)
        key = (doc_id, digest)
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
            entry = self._docs.get((doc_id, self._read(doc_id)[1]))
        if entry is not None and entry[2] is not None:
            return doc, entry[2]
        if doc.type == "sop":
            units = sop_units(doc, self.nlp)
        else:
            units = mark_case_details(doc, ticket_units(doc, self.nlp), self.nlp_full,
                                      tuple(getattr(self.config, "redact_keep", ()) or ()))
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
    def answer(self, question: str, *, qvec: np.ndarray | None = None, prefer: str | None = None,
               statuses: Sequence[str] | None = AGENT_STATUSES, threshold: float | None = None) -> Answer:
        """An extractive answer to `question` (in the customer's words).

        `qvec` replaces the question's own embedding (live assist passes a weighted conversation
        vector); `prefer` names an SOP to keep as the main source (live assist, within a topic);
        `statuses` are the SOP statuses used (default: published only, what agents see; empty: all);
        `threshold` replaces the answer_threshold setting (live assist passes assist_threshold).
        """
        from kb.search import parse_query

        t0 = time.perf_counter()
        statuses = tuple(statuses or ())
        parsed = parse_query(question)  # raises InputError on an empty question
        if qvec is None:
            qvec = self.searcher.encode_query(parsed.text)
        # reciprocal rank fusion: the candidates and evidence the confidence model was fitted on
        # (docs/answers.md), whatever fusion orders the agent's list of results
        hits = self.searcher.search(question, k=SEARCH_K, qvec=qvec, snippets=False, sop_statuses=statuses,
                                    fusion="rrf", ticket_weight=ANSWER_TICKET_WEIGHT)
        ranked, tickets = self._rank(question, qvec, hits, prefer, self._sop_rows(statuses))
        if prefer:  # live assist keeps the current topic's SOP first
            ranked.sort(key=lambda r: r["id"] != prefer)
        evidence = self._evidence(question, ranked, tickets)
        model_name = self.searcher.scale_model()
        coefficients, calibrated = confidence_model_for(self.config, model_name)
        if ranked and ranked[0]["type"] == "ticket":  # past tickets only: evidence of another kind
            own = ticket_model_for(self.config, model_name, tagged="agree" in evidence)
            coefficients, calibrated = own if own is not None else (coefficients, False)
        conf = confidence(evidence, coefficients)
        threshold = float(self.config.answer_threshold if threshold is None else threshold)
        sources = [Source(d["id"], d["type"], d["title"], round(d["score"], 4), d.get("heading", ""),
                          d.get("status", "")) for d in ranked]
        sources += [Source(t["id"], "ticket", t["title"], round(t["cos"], 4), "Resolution", t["status"])
                    for t in tickets[:5] if all(t["id"] != s.id for s in sources)]
        ans = Answer(question=question, answer="", confidence=round(conf, 4), abstained=True, sources=sources,
                     evidence=evidence, statuses=list(statuses))
        if not ranked or conf < threshold:
            closest = [s for s in sources if s.type == "sop"][:3] or sources[:3]
            kind = "procedures" if any(s.type == "sop" for s in closest) else "past tickets"
            lines = [f"No confident answer found. Closest {kind}:"]
            lines += [f"- {s.title} ({s.id})" for s in closest]
            ans.answer = "\n".join(lines) if closest else "No confident answer found: the knowledge base has nothing close."
        else:
            self._compose(ans, ranked[0], qvec, question, tickets)
            ans.warnings = self._warnings(ranked)
            if not calibrated:
                ans.warnings.append(f"The confidence is not calibrated for the embedding model {model_name!r}: "
                                    "it may read higher or lower than it should. Calibrate it with your own "
                                    "questions (docs/answers.md) and set answer_confidence_model.")
        self.cache.save()
        ans.latency_ms = round((time.perf_counter() - t0) * 1000, 2)
        return ans

    def _sop_rows(self, statuses: tuple[str, ...]) -> np.ndarray | None:
        """Which rows of the SOP chunk matrix belong to SOPs with one of `statuses` (None: all).
        Read from the store on each answer: publishing or archiving an SOP changes no vector."""
        if not statuses:
            return None
        sm = self._sop_matrix()
        ids = self.store.chunk_ids_where(SearchFilters.of(types=["sop"], sop_statuses=statuses))
        return np.isin(sm.chunk_ids, ids)

    def _warnings(self, ranked: list[dict]) -> list[str]:
        """What the agent should know before quoting the main source: it is a draft or archived, its
        review date has passed, or another procedure fits the question almost as well."""
        main = ranked[0]
        doc = self._doc(main["id"])[0]
        out = []
        if doc.type == "sop" and doc.status in ("draft", "archived"):
            out.append(f"The main source, {doc.title} ({doc.id}), is {doc.status}: agents do not see it; check it "
                       "before quoting it.")
        if doc.type == "sop" and review_overdue(doc.review_by):
            out.append(f"The main source, {doc.title} ({doc.id}), was due for review on {doc.review_by[:10]}: "
                       "check that it is still current.")
        runner = next((r for r in ranked[1:] if r["type"] == "sop"), None)
        if (runner is not None and main["type"] == "sop" and main["score"] - runner["score"] < CLOSE_SCORE
                and runner["unit"] >= main["unit"] - CLOSE_UNIT):
            out.append(f"Another procedure fits almost as well: {runner['title']} ({runner['id']}). Check which one "
                       "applies; they may say different things.")
        return out

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
                # only what holds nothing of that ticket's customer: the model must not read it out
                text = " ".join(u.text for u in self._units(doc.id)[1] if not u.case)
                if text:
                    out.append(Passage(len(out) + 1, doc.id, "ticket", doc.title, "Resolution", text[:1200]))
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
