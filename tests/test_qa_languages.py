"""QA in German and Turkish with the multilingual model: the sample rubrics score the sample calls
as the hand labels say on the clear cases, and German transcripts are redacted without the English
name model (names from introductions and the agent's name; "Geld" stays)."""

from __future__ import annotations

import json

import pytest

from kb.config import load_config
from kb.text import nlp_for_language
from qa_rubrics.rubric import load_rubric
from qa_rubrics.score import Scorer
from qa_rubrics.transcripts import load_transcript
from tests.conftest import CORPUS

DE = CORPUS / "transcripts" / "de"
TR = CORPUS / "transcripts" / "tr"


def _labels(folder):
    return {json.loads(line)["transcript_id"]: json.loads(line)["criteria"]
            for line in (folder / "labels.jsonl").read_text(encoding="utf-8").splitlines()}


@pytest.fixture(scope="module")
def ml_config(tmp_path_factory):
    return load_config(data_dir=str(tmp_path_factory.mktemp("qa_ml")), model="multilingual")


@pytest.fixture(scope="module")
def german_cards(ml_config):
    from kb.embed import get_embedder

    scorer = Scorer(load_rubric(CORPUS / "rubrics" / "telefon-support-de.yaml"), ml_config,
                    get_embedder(ml_config), nlp=nlp_for_language("de"))
    return {name: scorer.score(load_transcript(DE / name))
            for name in ("de-call-01.txt", "de-call-03.txt", "de-call-06.txt", "de-call-07.json")}


def test_a_good_german_call_passes(german_cards):
    card = german_cards["de-call-01.txt"]
    labels = _labels(DE)["de-call-01"]
    assert card.verdict == "pass" and card.score >= 90
    # zero-shot (no thresholds, nothing learned): at most one criterion differs from the grader
    assert sum(card.results()[c] == want for c, want in labels.items()) >= len(labels) - 1, card.results()


def test_asking_for_the_password_fails_the_german_call(german_cards):
    card = german_cards["de-call-03.txt"]
    assert card.verdict == "fail" and "keine_sensiblen_daten" in card.reason
    assert card.criterion("keine_sensiblen_daten").result == "fail"


def test_a_rude_german_call_fails_on_the_critical_criterion(german_cards):
    card = german_cards["de-call-06.txt"]
    results = card.results()
    assert results["keine_beleidigungen"] == "fail" and card.verdict == "fail"
    assert "keine_beleidigungen" in card.reason


def test_german_transcripts_are_redacted_without_the_english_name_model(german_cards):
    card = german_cards["de-call-07.json"]
    text = " ".join(t["text"] for t in card.turns)
    assert "Zimmermann" not in text and "Lehmann" not in text  # introduced, and the agent's name
    assert "[DATE_OF_BIRTH]" in text and "[POSTCODE]" in text and "[EMAIL]" in text
    assert "Glasvase" in text and "Geschenk" in text  # German nouns are not names
    labels = _labels(DE)["de-call-07"]
    agree = sum(card.results()[c] == want for c, want in labels.items())
    assert agree >= len(labels) - 2, card.results()


def test_the_turkish_rubric_agrees_with_the_labels(ml_config):
    from kb.embed import get_embedder

    scorer = Scorer(load_rubric(CORPUS / "rubrics" / "telefon-destek-tr.yaml"), ml_config,
                    get_embedder(ml_config), nlp=nlp_for_language("tr"))
    labels = _labels(TR)
    agree = total = 0
    for tid in ("tr-call-01", "tr-call-03", "tr-call-04"):
        card = scorer.score(load_transcript(TR / f"{tid}.txt"))
        for cid, want in labels[tid].items():
            total += 1
            agree += card.criterion(cid).result == want
    assert agree / total >= 0.8, (agree, total)  # zero-shot, rubric written without thresholds
    card = scorer.score(load_transcript(TR / "tr-call-03.txt"))
    assert card.criterion("hassas_bilgi_istemedi").result == "fail" and card.verdict == "fail"
