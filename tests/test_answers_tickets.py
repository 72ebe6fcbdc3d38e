"""Answers from a knowledge base of past tickets alone (no SOP yet): the main ticket is the one its
neighbours' tags vote for, and the confidence is the ticket model's (kb.answers.ranking), so that a
clear question is answered and a question from another domain is not."""

from __future__ import annotations

import pytest

from kb.answers import Answerer
from kb.answers.ranking import TICKET_CONFIDENCE_MODELS, ticket_vote
from kb.config import load_config
from tests.conftest import CORPUS


def test_the_tag_with_the_most_similarity_names_the_main_ticket():
    tickets = [{"id": "a", "cos": 0.70}, {"id": "b", "cos": 0.66}, {"id": "c", "cos": 0.64}, {"id": "d", "cos": 0.2}]
    tags = {"a": ["gift-cards"], "b": ["refunds", "returns"], "c": ["refunds"], "d": []}
    main, agree = ticket_vote(tickets, tags)
    assert main["id"] == "b"  # refunds: 0.66 + 0.64 > gift-cards: 0.70
    assert agree == pytest.approx((0.66 + 0.64) / (0.70 + 0.66 + 0.64 + 0.2))
    # no tags anywhere: the nearest ticket, agreeing with itself only
    main, agree = ticket_vote(tickets, {})
    assert main["id"] == "a" and agree == pytest.approx(0.70 / 2.2)
    # a tie goes to the tag of the nearer ticket
    main, _ = ticket_vote([{"id": "a", "cos": 0.5}, {"id": "b", "cos": 0.5}], {"a": ["x"], "b": ["y"]})
    assert main["id"] == "a"


@pytest.fixture(scope="module")
def tickets_only(tmp_path_factory, embedder):
    from indexer.pipeline import index_paths
    from kb.search import Searcher
    from kb.storage import open_store

    d = tmp_path_factory.mktemp("tickets_only")
    config = load_config(data_dir=str(d), db=str(d / "kb.db"))
    store = open_store(config.database)
    index_paths(store, embedder, config, [CORPUS / "tickets" / "tickets_2025.jsonl"], progress=False)
    return Answerer(Searcher(store, config, embedder), config), store


@pytest.mark.parametrize("question, tag", [
    ("I was charged twice for my order", "billing-dispute"),
    ("how do I reset my password, the email never arrives", "password-reset"),
])
def test_a_clear_question_is_answered_from_the_tickets(tickets_only, question, tag):
    answerer, store = tickets_only
    assert "all-MiniLM-L6-v2" in TICKET_CONFIDENCE_MODELS
    ans = answerer.answer(question)
    assert not ans.abstained and ans.confidence >= 0.5, (ans.confidence, ans.evidence)
    main = store.get_document(ans.evidence["main"])
    assert main.type == "ticket" and tag in main.tags, (main.id, main.tags)
    assert ans.citations[0].id == main.id and "agree" in ans.evidence
    # the SOP model on the same evidence would have declined it: similar tickets leave no margin
    assert ans.evidence["margin"] < 0.1


@pytest.mark.parametrize("question", ["can you recommend a good accountant", "how do I renew my passport"])
def test_a_question_from_another_domain_is_declined(tickets_only, question):
    answerer, _ = tickets_only
    ans = answerer.answer(question)
    assert ans.abstained and ans.confidence < 0.5


def test_nothing_of_another_customers_case_is_quoted(tickets_only):
    answerer, store = tickets_only
    ans = answerer.answer("my parcel says delivered but I never got it")
    for s in ans.sentences:  # ticket sentences are quoted only when they hold nothing of that case
        doc, units = answerer._units(s.doc_id)
        assert any(u.text == s.text and not u.case for u in units), s.text
    assert not ans.abstained and all(c.type == "ticket" for c in ans.citations)


def test_tickets_without_tags_use_the_nearest_and_a_model_of_their_own(tmp_path, embedder):
    import json

    from indexer.pipeline import index_paths
    from kb.search import Searcher
    from kb.storage import open_store

    src = tmp_path / "tickets.jsonl"
    rows = [json.loads(line) for line in (CORPUS / "tickets" / "tickets_2025.jsonl").read_text().splitlines() if line]
    src.write_text("".join(json.dumps({**r, "tags": []}) + "\n" for r in rows), encoding="utf-8")
    config = load_config(data_dir=str(tmp_path), db=str(tmp_path / "kb.db"))
    store = open_store(config.database)
    index_paths(store, embedder, config, [src], progress=False)
    answerer = Answerer(Searcher(store, config, embedder), config)
    ans = answerer.answer("I was charged twice for my order")
    assert "agree" not in ans.evidence and not ans.abstained, ans.evidence
    assert ans.evidence["main"] == ans.sources[0].id  # the nearest ticket
    assert not any("not calibrated" in w for w in ans.warnings)
    assert answerer.answer("how do I renew my passport").abstained


def test_live_assist_keeps_its_ticket_with_the_agreement_measured_for_it(tickets_only):
    answerer, _ = tickets_only
    first = answerer.answer("I was charged twice for my order")
    other = next(s.id for s in first.sources[1:] if s.type == "ticket")
    kept = answerer.answer("I was charged twice for my order", prefer=other)
    assert kept.evidence["main"] == other and kept.citations[0].id == other
    assert "agree" in kept.evidence  # the tagged model still applies


def test_a_teams_own_ticket_confidence_model(tickets_only, tmp_path):
    import json

    from kb.answers import confidence
    from kb.answers.ranking import ticket_model_for
    from kb.errors import ConfigError

    answerer, _ = tickets_only
    f = tmp_path / "tickets.json"
    own = {"bias": -2.0, "unit": 3.0, "agree": 1.0}
    f.write_text(json.dumps({"embedding_model": "all-MiniLM-L6-v2", **own}))
    config = load_config(data_dir=str(tmp_path), answer_ticket_confidence_model=str(f))
    assert ticket_model_for(config, "all-MiniLM-L6-v2", tagged=True) == (own, True)
    mine = Answerer(answerer.searcher, config).answer("I was charged twice for my order")
    assert mine.confidence == pytest.approx(confidence(mine.evidence, own), abs=1e-4)
    assert not any("not calibrated" in w for w in mine.warnings)
    f.write_text('{"bias": 1, "cosine": 2}')
    with pytest.raises(ConfigError, match="answer_ticket_confidence_model: .*unknown field 'cosine'"):
        ticket_model_for(config, "all-MiniLM-L6-v2", tagged=True)
    f.write_text('{"unit": 2}')
    with pytest.raises(ConfigError, match="answer_ticket_confidence_model: .*'bias' is missing") as err:
        ticket_model_for(config, "all-MiniLM-L6-v2", tagged=True)
    assert "bench_ticket_answers.py --write FILE" in err.value.hint


def test_serve_stops_at_start_on_a_bad_ticket_confidence_file(tmp_path, monkeypatch, embedder):
    import waitress

    from kb.errors import ConfigError
    from webapp.cli import serve

    def served(*args, **kwargs):
        raise AssertionError("the server started with a broken answer_ticket_confidence_model")

    monkeypatch.setattr(waitress, "serve", served)
    f = tmp_path / "tickets.json"
    f.write_text('{"unit": 2}')
    config = load_config(data_dir=str(tmp_path), db=str(tmp_path / "kb.db"), secret_key="test-secret",
                         answer_ticket_confidence_model=str(f))
    with pytest.raises(ConfigError, match="answer_ticket_confidence_model: .*'bias' is missing"):
        serve(config, host="127.0.0.1", port=0, threads=1)
