"""What the criteria ask the scorer for, built lazily and once per run: classifiers of semantic
criteria (learned or zero-shot, with the sentence bank), the LLM client, keyword lemmas, SOPs found
by search and their embedded steps. `qa_rubrics.score.Scorer` inherits these."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from qa_rubrics.criteria.semantic import BOILERPLATE, BOILERPLATE_KEEP_BELOW

if TYPE_CHECKING:  # pragma: no cover
    from qa_rubrics.rubric import Check


class CriterionServices:
    """Mixed into `Scorer`; expects `rubric`, `config`, `embedder`, `phrases`, `store`, `searcher`, `nlp`,
    `semantic_options` and the caches the scorer's constructor sets up."""

    def warm(self) -> None:
        """Build now what scoring would build on first need: the rubric's phrases, the sentence bank and
        each semantic criterion's classifier, and (for sop_steps) the steps of every SOP with a procedure,
        so that the first transcripts of a batch or a worker are not slower than the rest."""
        from qa_rubrics.rubric import Check

        checks = [c.check for c in self.rubric.criteria]
        checks += [ch.params["check"] for ch in checks if isinstance(ch.params.get("check"), Check)]
        for ch in checks:
            if ch.method_name in ("semantic", "llm") and ch.method != "semantic.v1":
                self.criterion_model(ch)
        if self.store is not None and any(ch.method_name == "sop_steps" for ch in checks):
            for doc in self.store.list_documents(type="sop"):
                if self._has_procedure(doc.id):
                    self.sop_steps(doc)

    @property
    def learned(self):
        """The rubric's learned classifiers (given, or from its `learned:` file), or None."""
        if self._learned is None:
            from qa_rubrics.learned import LearnedModels, load_for_rubric

            lm = self._learned_arg if self._learned_arg is not None else load_for_rubric(self.rubric)
            lm = lm or LearnedModels()
            model = lm.meta.get("embedding_model")
            if lm.models and model and model != getattr(self.embedder, "name", model):
                self.warnings.append(f"the learned classifiers of {self.rubric.id} were trained with the embedding "
                                     f"model {model!r}, not {self.embedder.name!r}: scoring with the rubric's "
                                     "examples only (re-run `deskbook qa eval --tune` to learn again)")
                lm = LearnedModels()
            self._learned = lm
        return self._learned

    def bank_vectors(self):
        """(bank, vectors) of the sentence bank in the rubric's language, prepared like the examples."""
        from qa_rubrics.bank import load_bank

        bank = load_bank(self.rubric.language)
        return bank, bank.vectors(self.embedder, self.phrases.model_texts, self._bank_preparation())

    def _bank_preparation(self) -> str:
        """Names how bank sentences are turned into what the model sees (a change misses the caches)."""
        return f"names={self.semantic_options.normalise_names};clean=1;keep={sorted(self.config.redact_keep or [])}"

    def bank_grams(self):
        """Character n-grams of the sentence bank, prepared like the examples (semantic.v3)."""
        from qa_rubrics.bank import load_bank

        return load_bank(self.rubric.language).grams(self.phrases.model_texts, self._bank_preparation())

    def prior_training(self, check: Check):
        """What the zero-shot classifier of a semantic check is trained on (see qa_rubrics.classifier)."""
        from qa_rubrics.classifier import prior_training

        examples = list(check.params["examples"])
        E, _, _ = self.phrases.lookup(examples)
        counters = list(check.params.get("counter_examples") or [])
        C = self.phrases.lookup(counters)[0] if counters else np.zeros((0, E.shape[1]), np.float32)
        bank, B = self.bank_vectors()
        grams = {}
        if uses_grams(check):
            grams = dict(example_grams=self.phrases.grams(examples), bank_grams=self.bank_grams(),
                         counter_grams=self.phrases.grams(counters) if counters else None)
        return prior_training(E, C, bank, B, check.speaker, narrow=id(check) in self._absent_inner, **grams)

    def criterion_model(self, check: Check):
        """The classifier of a semantic check: learned from labels when the rubric has one, else zero-shot."""
        key = id(check)
        if key not in self._models:
            owner = self._owner.get(key)
            learned = self.learned.models.get(owner) if owner else None
            self._models[key] = learned if learned is not None else _prior_cache(self, check)
        return self._models[key]

    def llm_client(self):
        """The chat-completions client of the `llm` method, or None when no server is configured."""
        if not hasattr(self, "_llm"):
            from kb.llm import ChatClient

            url, model = self.config.llm_base_url, self.config.llm_model
            self._llm = ChatClient(url, model, api_key=self.config.llm_api_key,
                                   timeout=float(self.config.llm_timeout)) if url and model else None
        return self._llm

    def _scale_model(self) -> str:
        """The model whose similarity scale applies: the knowledge base's, else the configured one."""
        from kb.scales import configured_model, store_model

        return (store_model(self.store) if self.store is not None else "") or configured_model(self.config)

    def cosine_setting(self, setting: str) -> float:
        """A similarity setting on the scale of that model (`kb.scales`)."""
        from kb.scales import cosine_setting

        return cosine_setting(self.config, setting, self._scale_model())

    def packaged_value(self, name: str) -> float:
        """A value of `kb.scales.PACKAGED` for that model."""
        from kb.scales import packaged_value

        return packaged_value(name, self._scale_model())

    def default_threshold(self, check: Check) -> float:
        if check.method_name == "semantic":
            return float(self.config.qa_semantic_threshold)
        if check.method_name == "sop_steps":
            return self.cosine_setting("qa_step_threshold")
        return float(check.spec().default_threshold or 0.5)

    def boilerplate_for(self, examples: list[str]) -> list[str]:
        key = tuple(examples)
        if key not in self._boiler:
            E, _, _ = self.phrases.lookup(list(examples))
            B, _, _ = self.phrases.lookup(list(BOILERPLATE))
            close = (B @ E.T).max(axis=1)
            self._boiler[key] = [b for b, s in zip(BOILERPLATE, close, strict=True) if s < BOILERPLATE_KEEP_BELOW]
        return self._boiler[key]

    def keyword_tokens(self, keyword: str) -> list[tuple[str, str]]:
        """(lower, lemma) per token of a keyword phrase, cached."""
        if keyword not in self._kw_cache:
            doc = self.nlp(keyword, disable=[p for p in ("ner", "parser") if p in self.nlp.pipe_names]) \
                if hasattr(self.nlp, "pipe_names") else self.nlp(keyword)
            has_lemma = doc.has_annotation("LEMMA")
            self._kw_cache[keyword] = [(t.lower_, t.lemma_.lower() if has_lemma else "") for t in doc
                                       if not t.is_space]
        return self._kw_cache[keyword]

    def find_sops(self, queries: list[str]) -> list[tuple[str, float]]:
        """SOPs ranked by their best cosine similarity to one of the queries (dense search per query).

        Only SOPs with numbered procedure steps count.
        """
        key = "\x1f".join(queries)
        if key not in self._sop_search_cache:
            best: dict[str, float] = {}
            vecs = self.embedder.encode_queries(queries)
            for q, v in zip(queries, vecs, strict=True):
                for h in self.searcher.search(q, k=5, mode="dense", types=["sop"], qvec=v):
                    if h.dense_score is not None and self._has_procedure(h.id):
                        best[h.id] = max(best.get(h.id, -1.0), float(h.dense_score))
            self._sop_search_cache[key] = sorted(best.items(), key=lambda kv: -kv[1])
        return self._sop_search_cache[key]

    def _has_procedure(self, doc_id: str) -> bool:
        if doc_id not in self._has_steps:
            from kb.errors import NotFoundError
            from kb.structure import procedure_steps

            try:
                self._has_steps[doc_id] = bool(procedure_steps(self.store.get_document(doc_id)))
            except NotFoundError:  # removed since the vector index was built
                self._has_steps[doc_id] = False
        return self._has_steps[doc_id]

    def sop_steps(self, doc):
        """(steps, per-step part vectors, per-step content stems) of an SOP version, cached."""
        from kb.structure import procedure_steps
        from qa_rubrics.criteria.sop_steps import step_parts, step_terms

        key = (doc.id, doc.version)
        if key not in self._sop_cache:
            steps = procedure_steps(doc)
            parts = [step_parts(s.text, s.sub_steps) for s in steps]
            flat = [p for ps in parts for p in ps]
            vecs = self.embedder.encode_documents(flat) if flat else np.zeros((0, self.embedder.dim), np.float32)
            out, i = [], 0
            for ps in parts:
                out.append(vecs[i:i + len(ps)])
                i += len(ps)
            self._sop_cache[key] = (steps, out, [step_terms(s.text) for s in steps])
        return self._sop_cache[key]


_PRIORS: dict[tuple, object] = {}


def uses_grams(check: Check) -> bool:
    """Whether a semantic check's classifier reads character n-grams beside the embedding (semantic.v3 on,
    and the fallback of llm.v2)."""
    version = check.spec().version
    return (check.method_name == "semantic" and version >= 3) or (check.method_name == "llm" and version >= 2)


def _prior_cache(scorer: CriterionServices, check: Check):
    """Zero-shot classifiers are the same for the same examples, speaker, language and model: fit once."""
    from qa_rubrics.classifier import fit

    key = (getattr(scorer.embedder, "name", ""), scorer.rubric.language, check.speaker,
           tuple(check.params["examples"]), tuple(check.params.get("counter_examples") or ()),
           scorer.semantic_options.normalise_names, tuple(scorer.config.redact_keep or ()),
           id(check) in scorer._absent_inner, uses_grams(check))
    if key not in _PRIORS:
        if len(_PRIORS) > 512:
            _PRIORS.clear()
        _PRIORS[key] = fit(scorer.prior_training(check))
    return _PRIORS[key]
