"""spaCy's tokenizer is quadratic in the length of a run without spaces (an uploaded file of 20,000
nested brackets took minutes per call); every pipeline Deskbook loads cuts such runs into plain
tokens, and keeps the text exactly."""

from __future__ import annotations

import random

import pytest

from kb.text import LONG_RUN_PIECE, load_ner, load_spacy, nlp_for_language, sentence_spans


@pytest.fixture(scope="module")
def pipelines():
    return {"light": load_spacy(), "full": load_spacy(full=True), "ner": load_ner(), "de": nlp_for_language("de")}


def test_a_long_run_becomes_plain_tokens_and_the_text_is_kept(pipelines):
    text = "Refunds SOP. " + "[" * 20_000 + "]" * 20_000 + " tail. Call Sarah Jones."
    for name, nlp in pipelines.items():
        doc = nlp(text)
        assert doc.text == text, name
        assert max(len(t.text) for t in doc) <= LONG_RUN_PIECE, name
    assert sentence_spans(text, pipelines["light"])[-1] == (text.index("Call"), len(text))
    assert ("Sarah Jones", "PERSON") in [(e.text, e.label_) for e in pipelines["ner"](text).ents]


def test_ordinary_text_is_tokenised_as_spacy_does(pipelines):
    text = "My order BC-40512230 hasn't arrived; see https://example.com/track?id=1 (sent 2 May)."
    nlp = pipelines["full"]
    assert [t.text for t in nlp(text)] == [t.text for t in nlp.tokenizer.inner(text)]


def test_any_mix_of_runs_and_spaces_keeps_the_text(pipelines):
    rng = random.Random(3)
    alphabet = ["a", "[", "]", " ", "  ", "\n", ".", "é", "\t", "-"]
    for _ in range(200):
        text = "".join(rng.choice(alphabet) * rng.choice([1, 2, 150, 260]) for _ in range(rng.randint(1, 10)))
        for name, nlp in pipelines.items():
            assert nlp(text).text == text, (name, text[:60])


def test_a_guarded_pipeline_still_pickles(pipelines):
    """spaCy pickles a pipeline to run it in several processes (`nlp.pipe(n_process=...)`)."""
    import pickle

    nlp = pickle.loads(pickle.dumps(pipelines["light"]))
    text = "Hello there. " + "x" * 300 + " end."
    assert nlp(text).text == text and max(len(t.text) for t in nlp(text)) <= LONG_RUN_PIECE
