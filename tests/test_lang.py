"""Languages: detection, folding, tokens, stemming and analyzers (kb.lang), per-language sentences."""

from __future__ import annotations

import pytest

from kb.lang import (
    Analyzer,
    detect_language,
    document_language,
    fold,
    get_analyzer,
    likely_languages,
    normalize_code,
    plain,
    stem,
    stopwords,
    tokenize,
)
from kb.models import Document
from kb.text import nlp_for_language, split_sentences


# -- folding --------------------------------------------------------------------------------------
def test_turkish_dotted_and_dotless_i_fold_the_turkish_way():
    assert fold("KARTIM", "tr") == "kartım"  # I -> ı, not i
    assert fold("İADE", "tr") == "iade"  # İ -> i, without a stray combining dot
    assert fold("ISPARTA", "tr") == "ısparta"
    assert fold("KARTIM", "en") == "kartim"  # other languages keep the usual rule
    assert "\u0307" not in fold("İSTANBUL'DA", "tr")


def test_german_umlauts_and_eszett_fold_to_one_form():
    assert fold("Rückgabe", "de") == fold("RUECKGABE", "de") == "rueckgabe"
    assert fold("Straße", "de") == fold("STRASSE", "de") == "strasse"
    assert fold("Größe", "de") == fold("Groesse", "de")
    assert fold("ÜBER", "de") == "ueber"


def test_plain_letters_for_typed_without_accents():
    assert plain("şifremi") == "sifremi"
    assert plain("kartımı") == "kartimi"
    assert plain("café") == "cafe"
    assert plain("straße") == "strasse"


# -- tokens, stopwords, stems ---------------------------------------------------------------------
def test_tokenize_drops_turkish_suffixes_after_an_apostrophe():
    assert tokenize("Trendyol'dan aldım, İstanbul'a gelmedi", "tr") == ["trendyol", "aldım", "istanbul", "gelmedi"]
    assert tokenize("I don't know", "en") == ["i", "don't", "know"]  # English keeps contractions whole


def test_stopwords_per_language_keep_negations():
    assert {"und", "der", "ich", "ueber"} <= stopwords("de")  # folded like the tokens ("über")
    assert "nicht" not in stopwords("de") and "kein" not in stopwords("de")
    assert {"ve", "bir", "bu", "için"} <= stopwords("tr")
    assert "değil" not in stopwords("tr") and "yok" not in stopwords("tr")
    assert stopwords("xx") == frozenset()


def test_snowball_stems_per_language():
    assert stem(["refunds", "refunded"], "en") == ["refund", "refund"]
    assert len(set(stem(["bestellung", "bestellungen"], "de"))) == 1
    assert len(set(stem(["siparişim", "siparişimi", "siparişler"], "tr"))) == 1
    assert stem(["bc-12345", "10115"], "de") == ["bc-12345", "10115"]  # codes untouched
    assert stem(["words"], "xx") == ["words"]  # no stemmer: unchanged


def test_german_analyzer_matches_umlauts_transliterations_and_dropped_umlauts():
    a = get_analyzer("de")
    one = a.terms("Rückgabe")
    assert one == a.terms("Rueckgabe") == a.terms("RUCKGABE")
    assert a.terms("Straße") == a.terms("Strasse")
    assert a.terms("Bestellungen") == a.terms("Bestellung")


def test_turkish_analyzer_matches_text_typed_without_turkish_letters():
    a = get_analyzer("tr")
    assert a.terms("şifremi") == a.terms("sifremi") == a.terms("ŞİFREMİ")
    assert a.terms("siparişimi") == a.terms("SIPARISIMI".lower())
    assert a.terms("Trendyol'dan") == ["trendyol"]


def test_query_terms_drop_stopwords_and_repeats_but_never_return_nothing():
    a = get_analyzer("de")
    terms = a.query_terms("Ich möchte mein Geld zurück, mein Geld!")
    assert "geld" in terms and terms.count("geld") == 1 and "ich" not in terms
    assert a.query_terms("wie ist das") != []  # only stopwords: searched as they are
    assert a.index_text("Die Rücksendung ist nicht angekommen") == "rucksend nicht angekomm"


def test_analyzers_are_shared_and_unknown_languages_fold_only():
    assert get_analyzer("de") is get_analyzer("DE-at")
    assert isinstance(get_analyzer("xx"), Analyzer)
    assert get_analyzer("xx").terms("Ünïcode Words") == ["unicode", "words"]


# -- detection ------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, lang", [
    ("Ich möchte mein Geld zurück, die Rücksendung ist angekommen", "de"),
    ("mein paket ist nicht angekommen", "de"),
    ("Siparişim hâlâ gelmedi, kargo takip numarası çalışmıyor", "tr"),
    ("siparisim gelmedi hala", "tr"),
    ("where is my parcel, it was due on Friday", "en"),
])
def test_detect_language(text, lang):
    assert detect_language(text) == lang


def test_short_or_ambiguous_text_gets_the_default():
    assert detect_language("ok") == "en"
    assert detect_language("ok", default="de") == "de"
    assert detect_language("Paket", default="tr") == "tr"  # German or Turkish: cannot tell
    assert set(likely_languages("Paket")) == {"de", "tr"}  # a search can try both
    assert likely_languages("Bestellung storniert bitte") == ["de"]
    assert detect_language("Bestellung storniert bitte", ["en", "tr"]) in ("en", "tr")  # only candidates


def test_language_codes_are_normalised():
    assert normalize_code("de-DE") == "de" and normalize_code("TR") == "tr" and normalize_code("German") == "de"
    assert normalize_code("") == "" and normalize_code(None) == ""


def test_a_language_field_wins_over_detection():
    doc = Document("x", "sop", "Returns", "Return the item within 30 days.", metadata={"language": "de"})
    assert document_language(doc) == "de"
    doc.metadata = {}
    assert document_language(doc) == "en"
    german = Document("y", "sop", "Widerruf", "Sie können die Ware innerhalb von 14 Tagen zurückschicken.")
    assert document_language(german) == "de"


# -- sentences ------------------------------------------------------------------------------------
def test_german_sentences_with_abbreviations_and_ordinals():
    text = ("Ich habe am 3. April bestellt. Die Bestell-Nr. ist 123, z. B. bei DHL bzw. Hermes. "
            "Bitte prüfen Sie das ca. 2 Std. später! Danke.")
    assert split_sentences(text, language="de") == [
        "Ich habe am 3. April bestellt.", "Die Bestell-Nr. ist 123, z. B. bei DHL bzw. Hermes.",
        "Bitte prüfen Sie das ca. 2 Std. später!", "Danke."]


def test_turkish_sentences():
    text = "Siparişimi 3. gün iade ettim. Dr. Ahmet Bey aradı, vs. gibi şeyler. Kargo'dan bilgi gelmedi mi? Teşekkürler."
    assert split_sentences(text, language="tr") == [
        "Siparişimi 3. gün iade ettim.", "Dr. Ahmet Bey aradı, vs. gibi şeyler.", "Kargo'dan bilgi gelmedi mi?",
        "Teşekkürler."]


def test_pipeline_per_language_never_the_english_model_for_other_languages():
    assert nlp_for_language("de").lang == "de" and "ner" not in nlp_for_language("de").pipe_names
    assert nlp_for_language("tr").lang == "tr"
    assert nlp_for_language("en").lang == "en"
    assert nlp_for_language("de", "blank:de") is nlp_for_language("de")
