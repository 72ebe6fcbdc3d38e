"""German and Turkish speaker labels (QA transcripts and live assist), the assist small-talk filter in
both languages, and the chunker splitting German text with the German pipeline."""

from __future__ import annotations

import pytest

from indexer.chunk import Chunker
from kb.assist import is_small_talk, need_terms, normalize_turns, parse_transcript
from kb.models import Document
from qa_rubrics.transcripts import SpeakerMap, load_transcript


@pytest.mark.parametrize("label, role", [
    ("Kunde", "customer"), ("Kundin", "customer"), ("Anruferin", "customer"),
    ("Mitarbeiter", "agent"), ("Mitarbeiterin", "agent"), ("Mitarbeiter/in", "agent"), ("Agent", "agent"),
    ("Berater", "agent"), ("Beraterin", "agent"), ("Kundenberaterin", "agent"),
    ("Müşteri", "customer"), ("MÜŞTERİ", "customer"), ("Musteri", "customer"),
    ("Temsilci", "agent"), ("Danışman", "agent"), ("DANIŞMAN", "agent"), ("Danisman", "agent"),
    ("Müşteri Temsilcisi", "agent"), ("MÜŞTERİ TEMSİLCİSİ", "agent"), ("Musteri Temsilcisi", "agent"),
])
def test_german_and_turkish_speaker_labels(label, role):
    assert SpeakerMap().role(label) == role


def test_german_and_turkish_transcripts_parse_with_their_own_labels():
    de = load_transcript("corpus/transcripts/de/de-call-05.txt")
    assert de.agent == "Melanie Braun"
    assert [t.speaker for t in de.turns[:3]] == ["agent", "customer", "agent"]
    tr = load_transcript("corpus/transcripts/tr/tr-call-03.txt")  # "Müşteri Temsilcisi:" and "Müşteri:"
    assert [t.speaker for t in tr.turns[:3]] == ["agent", "customer", "agent"]
    assert tr.turns[0].label == "Müşteri Temsilcisi"


@pytest.mark.parametrize("text", [
    "Ja, danke, das wäre dann alles.", "Guten Tag, vielen Dank!", "Moment, ich schaue kurz nach.",
    "Alles klar, tschüss!", "Tamam, çok teşekkür ederim, iyi günler.", "Merhaba, kolay gelsin.",
    "Evet, anladım.", "Rica ederim, hoşça kalın.",
])
def test_small_talk_in_german_and_turkish(text):
    assert is_small_talk(text)


@pytest.mark.parametrize("text", [
    "Mein Paket ist nicht angekommen, die Sendungsverfolgung zeigt seit Tagen nichts.",
    "Ich möchte mein Geld zurück",
    "Siparişim hâlâ gelmedi, kargo takip numarası çalışmıyor.",
    "Şifremi unuttum, sıfırlama e-postası gelmiyor.",
])
def test_needs_in_german_and_turkish_are_not_small_talk(text):
    assert not is_small_talk(text) and need_terms(text) >= 2


def test_english_needs_are_still_needs():
    assert need_terms("I ordered a pedal bin and a hat and neither came") >= 3


def test_assist_reads_german_and_turkish_labels():
    turns = parse_transcript("Mitarbeiterin: Guten Tag, Brightcart.\nKunde: Mein Paket ist nicht da.")
    assert [t.speaker for t in turns] == ["agent", "customer"]
    turns = normalize_turns([{"speaker": "Müşteri Temsilcisi", "text": "Merhaba"},
                             {"speaker": "Müşteri", "text": "Kargom gelmedi"}])
    assert [t.speaker for t in turns] == ["agent", "customer"]
    turns = normalize_turns([{"speaker": "Danışman", "text": "Merhaba"}, {"speaker": "X", "text": "Kargom gelmedi"}])
    assert [t.speaker for t in turns] == ["agent", "customer"]


def test_the_chunker_splits_german_text_with_the_german_pipeline():
    from kb.lang import document_language
    from kb.text import nlp_for_language

    sentence = "Die Bestell-Nr. steht z. B. auf der Rechnung, bitte geben Sie sie bei jeder Rückfrage an. "
    body = "# Rechnung\n\n" + sentence * 12 + "\n"
    doc = Document("sop-x", "sop", "Rechnung", body)
    used: list[str] = []

    def nlp_for(lang):
        used.append(lang)
        return nlp_for_language(lang)

    chunker = Chunker(lambda t: len(t.split()), max_tokens=40, nlp=None, nlp_for=nlp_for,
                      language_of=lambda d: document_language(d))
    chunks = chunker.chunk(doc)
    assert used == ["de"] and len(chunks) > 1
    # every chunk ends where a sentence ends: "Bestell-Nr." and "z. B." are not sentence ends
    assert all(c.text.rstrip().endswith("an.") for c in chunks)
