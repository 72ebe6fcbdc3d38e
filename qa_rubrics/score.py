"""Scoring: a rubric applied to transcripts gives scorecards.

A `Scorer` is built once per run (rubric, settings, embedding model, optional knowledge base):
the rubric's phrases are embedded once, in one batch, and SOP steps once per SOP version. Each
transcript is parsed once by spaCy, redacted, and its sentences embedded once.

Per criterion: `pass`, `fail` or `na`, a confidence, a score and the evidence (turn, speaker,
character offsets into the redacted turn text, the text, what it matched). Total: points earned
over points available, N/A criteria left out of both; a failed critical criterion fails the
rubric whatever the total (the rule is `qa_rubrics.totals`). Section subtotals likewise.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qa_rubrics.conversation import Conversation
from qa_rubrics.criteria import Evidence, Outcome
from qa_rubrics.criteria.semantic import BOILERPLATE, SemanticOptions
from qa_rubrics.phrases import PhraseBank
from qa_rubrics.results import CriterionResult, Scorecard, now_iso  # noqa: F401  (re-exported)
from qa_rubrics.rubric import Check, Criterion, Rubric, order_of_evaluation
from qa_rubrics.services import CriterionServices
from qa_rubrics.totals import Item, total
from qa_rubrics.transcripts import LoadFailure, Transcript

VERDICTS = ("pass", "fail", "na")
SEMANTIC_METHODS = ("semantic", "llm")  # methods that compare sentences with the rubric's examples
BATCH = 8  # transcripts whose sentences are embedded together by `score_many` (and parsed ahead)
SENTENCE_CACHE = 20000  # sentence vectors a scorer keeps (~30 MB): repeated lines are embedded once


@dataclass
class EvalContext:
    """What an evaluator sees: the prepared conversation, the scorer, results so far."""

    conv: Conversation
    scorer: Scorer
    results: dict[str, Outcome] = field(default_factory=dict)


def _all_checks(rubric: Rubric) -> Iterator[Check]:
    for c in rubric.criteria:
        stack = [c.check] + ([c.applies_when] if c.applies_when else [])
        while stack:
            ch = stack.pop()
            yield ch
            inner = ch.params.get("check")
            if isinstance(inner, Check):
                stack.append(inner)


class Scorer(CriterionServices):
    """Scores transcripts against one rubric; build once per run."""

    def __init__(self, rubric: Rubric, config, embedder=None, *, store=None, searcher=None,
                 semantic_options: SemanticOptions | None = None, nlp=None, learned=None):

        self.rubric = rubric
        self.config = config
        self._embedder = embedder
        self.store = store
        self._searcher = searcher
        self.semantic_options = semantic_options or SemanticOptions()
        self.nlp = nlp or _pipeline_for(rubric, config)
        self._phrases: PhraseBank | None = None
        self._kw_cache: dict[str, list[tuple[str, str]]] = {}
        self._sop_cache: dict[tuple[str, int], tuple] = {}
        self._boiler: dict[tuple[str, ...], list[str]] = {}
        self._sop_search_cache: dict[str, tuple] = {}
        self._has_steps: dict[str, bool] = {}
        self.order = order_of_evaluation(rubric)
        # whole multi-sentence turns are compared only by semantic.v1 (v2 classifies sentences)
        self.whole_turns = any(ch.method == "semantic.v1" for ch in _all_checks(rubric))
        self.warnings: list[str] = []
        self.keep_conversations = False
        self._sentence_cache: dict[str, np.ndarray] = {}
        self._conversations: dict[int, Conversation] = {}
        self._learned_arg = learned
        self._learned = None
        self._models: dict[int, object] = {}
        # the criterion a semantic check belongs to (its own check, or the check an `absent` wraps):
        # learned classifiers are per criterion
        self._owner: dict[int, str] = {}
        self._absent_inner: set[int] = set()  # checks an `absent` wraps: narrow (see classifier.prior_training)
        for crit in rubric.criteria:
            ch = crit.check
            if ch.method_name == "absent" and isinstance(ch.params.get("check"), Check):
                ch = ch.params["check"]
                self._absent_inner.add(id(ch))
            if ch.method_name in SEMANTIC_METHODS:
                self._owner[id(ch)] = crit.id

    # -- shared, lazily built services -------------------------------------------------------
    @property
    def embedder(self):
        if self._embedder is None:
            from kb.embed import get_embedder

            self._embedder = get_embedder(self.config)
        return self._embedder

    @property
    def phrases(self) -> PhraseBank:
        """All the rubric's phrases embedded in one batch, the first time one is needed."""
        if self._phrases is None:
            from qa_rubrics.criteria.semantic import question_statement

            bank = PhraseBank(self.embedder, self.nlp, normalise_names=self.semantic_options.normalise_names,
                              keep=self.config.redact_keep or ())
            texts: list[str] = []
            for ch in _all_checks(self.rubric):
                if ch.method_name in SEMANTIC_METHODS:
                    texts += ch.params.get("examples", []) + ch.params.get("counter_examples", [])
                    if ch.question:
                        texts.append(question_statement(ch.question))
            if texts:
                texts += list(BOILERPLATE)
            bank.add(texts)
            self._phrases = bank
        return self._phrases

    @property
    def searcher(self):
        if self._searcher is None and self.store is not None:
            from kb.search import Searcher

            self._searcher = Searcher(self.store, self.config, self.embedder)
        return self._searcher

    # -- classifiers of semantic criteria -----------------------------------------------------
    # -- evaluation --------------------------------------------------------------------------
    def prepare(self, transcript: Transcript) -> Conversation:
        return Conversation(transcript, self.nlp, redact=bool(self.config.redact_pii),
                            keep=self.config.redact_keep or (), clean=self.semantic_options.clean,
                            normalise_names=self.semantic_options.normalise_names, whole_turns=self.whole_turns)

    def conversation(self, transcript: Transcript, *, embed: bool = True) -> Conversation:
        """The prepared (and embedded) conversation; kept for reuse when `keep_conversations` is set
        (scoring then learning from the same transcripts embeds them once)."""
        key = id(transcript)
        conv = self._conversations.get(key) if self.keep_conversations else None
        if conv is None:
            conv = self.prepare(transcript)
            if self.keep_conversations:
                self._conversations[key] = conv
        if embed:
            self.embed(conv)
        return conv

    def evaluate_check(self, check: Check, ctx: EvalContext) -> Outcome:
        return check.spec().evaluate(check, ctx)

    def evaluate_criterion(self, crit: Criterion, ctx: EvalContext) -> Outcome:
        if crit.applies_when is not None:
            cond = self.evaluate_check(crit.applies_when, ctx)
            if cond.result != "pass":
                return Outcome("na", 0.0, cond.confidence, [], detail={"applies_when": cond.reason},
                               reason=f"does not apply: the applies_when check ({crit.applies_when.method_name}) "
                                      "found nothing")
        return self.evaluate_check(crit.check, ctx)

    def embedded_speakers(self) -> set[str]:
        """Whose sentences the rubric compares with vectors (semantic and sop_steps checks)."""
        return {ch.speaker for ch in _all_checks(self.rubric) if ch.method_name in (*SEMANTIC_METHODS, "sop_steps")}

    def _needed_units(self, conv: Conversation) -> list[int]:
        speakers = self.embedded_speakers()
        if not speakers:
            return []
        turns = conv.turn_indices("any") if "any" in speakers else \
            sorted(t for sp in speakers for t in conv.turn_indices(sp))
        return conv.unit_indices(turns)

    def embed(self, conv: Conversation) -> None:
        """Embed, in one batch, every sentence and turn of the speakers the rubric compares."""
        self.embed_many([conv])

    def embed_many(self, convs: list[Conversation]) -> None:
        """The units of several conversations in one call to the model (it sorts texts by length, so
        a larger batch wastes less on padding than one call per conversation)."""
        todo = [(c, c.missing(self.embedder, self._needed_units(c))) for c in convs]
        wanted = {c.units[u].text for c, units in todo for u in units}
        known = {t: self._sentence_cache[t] for t in wanted if t in self._sentence_cache}
        texts = sorted(wanted - known.keys())
        if texts:  # scripted lines ("Is there anything else I can help with?") recur across calls
            V = self.embedder.encode_documents(texts)
            known.update(zip(texts, V, strict=True))
            if len(self._sentence_cache) + len(texts) > SENTENCE_CACHE:
                self._sentence_cache.clear()
            self._sentence_cache.update(zip(texts, V, strict=True))
        for c, units in todo:
            if units:
                c.set_vectors(units, np.stack([known[c.units[u].text] for u in units]))

    def outcomes(self, conv: Conversation) -> dict[str, Outcome]:
        """Raw outcomes per criterion id (evidence offsets still in the original text)."""
        self.embed(conv)
        ctx = EvalContext(conv, self)
        for crit in self.order:
            ctx.results[crit.id] = self.evaluate_criterion(crit, ctx)
        return ctx.results

    def score(self, transcript: Transcript) -> Scorecard:
        conv = self.conversation(transcript)
        return self.scorecard(conv, self.outcomes(conv))

    def score_many(self, items: Iterable[Transcript | LoadFailure], *, progress: bool = False,
                   total: int | None = None, batch: int = BATCH) -> Iterator[Scorecard | LoadFailure]:
        """Scorecards in input order; LoadFailures are passed through for the caller to report.

        Transcripts go in batches of `batch`: a batch's sentences are embedded in one call, and the
        next batch is parsed (spaCy: sentences, lemmas, names for redaction; it holds Python's lock)
        on a side thread meanwhile (the model's encode and its matrix work run outside the lock)."""
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=total, unit="transcript", desc="scoring", leave=False, dynamic_ncols=True)
        try:
            with ThreadPoolExecutor(1, thread_name_prefix="deskbook-qa-parse") as ahead:
                pending = None
                for chunk in _batches(items, max(1, batch)):
                    parsing = ahead.submit(self._prepare_chunk, chunk)
                    if pending is not None:
                        yield from self._score_chunk(*pending, bar)
                    pending = (chunk, parsing)
                if pending is not None:
                    yield from self._score_chunk(*pending, bar)
        finally:
            if bar is not None:
                bar.close()

    def _prepare_chunk(self, chunk: list[Transcript | LoadFailure]) -> dict[int, Conversation]:
        return {id(t): self.conversation(t, embed=False) for t in chunk if not isinstance(t, LoadFailure)}

    def _score_chunk(self, chunk, parsing: Future, bar) -> Iterator[Scorecard | LoadFailure]:
        convs = parsing.result()
        self.embed_many(list(convs.values()))
        for item in chunk:
            if isinstance(item, LoadFailure):
                yield item
            else:
                conv = convs[id(item)]
                yield self.scorecard(conv, self.outcomes(conv))
            if bar is not None:
                bar.update(1)

    # -- scorecard ---------------------------------------------------------------------------
    def _shown_evidence(self, conv: Conversation, ev: list[Evidence]) -> list[dict[str, Any]]:
        out = []
        for e in ev:
            a, b, text = conv.shown_span(e.turn, e.start, e.end)
            d = Evidence(e.turn, e.speaker, a, b, text if e.matched_is_text else e.matched, e.similarity, text)
            out.append(d.to_dict())
        return out

    def _shown_detail(self, conv: Conversation, detail: dict[str, Any]) -> dict[str, Any]:
        detail = copy.deepcopy(detail)
        near = detail.get("nearest")
        if near:
            a, b, text = conv.shown_span(near["turn"], near["start"], near["end"])
            near.update(start=a, end=b, text=text)
        return detail

    def scorecard(self, conv: Conversation, outcomes: dict[str, Outcome]) -> Scorecard:
        rubric = self.rubric
        results: list[CriterionResult] = []
        for crit in rubric.criteria:
            o = outcomes[crit.id]
            earned = crit.points if o.result == "pass" else 0.0
            results.append(CriterionResult(
                id=crit.id, section=crit.section, method=crit.check.method, result=o.result,
                confidence=float(o.confidence), score=float(o.score), points=crit.points,
                earned=earned if o.result != "na" else 0.0, critical=crit.critical,
                evidence=self._shown_evidence(conv, o.evidence), reason=o.reason,
                detail=self._shown_detail(conv, o.detail), raw=o.raw,
                needs_review=float(o.confidence) < float(self.config.qa_review_confidence)))
        sections = []
        for sec in rubric.sections:
            rs = [r for r in results if r.section == sec.id and r.result != "na"]
            avail = sum(r.points for r in rs)
            got = sum(r.earned for r in rs)
            sections.append({"id": sec.id, "name": sec.name, "earned": got, "available": avail,
                             "score": round(100.0 * got / avail, 1) if avail else None})
        tot = total((Item(r.id, r.points, r.critical, r.result) for r in results), rubric.pass_mark)
        score, verdict, reason, earned, available = tot.score, tot.verdict, tot.reason, tot.earned, tot.available
        t = conv.transcript
        turns = [{**turn.to_dict(), "text": red} for turn, red in zip(t.turns, conv.redacted, strict=True)]
        if self.config.redact_pii:  # a speaker label may be a person's name ("Daniel: ...")
            for d in turns:
                d.pop("label", None)
        original = [turn.to_dict() for turn in t.turns] if self.config.store_original_text else None
        return Scorecard(transcript_id=t.id, rubric_id=rubric.id, rubric_version=rubric.version,
                         rubric_hash=rubric.hash, pass_mark=rubric.pass_mark, score=score, verdict=verdict, reason=reason, earned=earned,
                         available=available, sections=sections, criteria=results, agent=t.agent,
                         channel=t.channel, started_at=t.started_at, turns=turns, original_turns=original,
                         redacted=bool(self.config.redact_pii))


def _batches(items: Iterable, size: int) -> Iterator[list]:
    chunk: list = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _pipeline_for(rubric: Rubric, config):
    """The spaCy pipeline for the rubric's language: the configured one for English, else that
    language's sentence splitter (no English name model over German or Turkish text)."""
    from kb.text import nlp_for_language

    return nlp_for_language(rubric.language, config.spacy_model, full=True)
