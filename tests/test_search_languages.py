"""Lexical search per language: each language's analysis, a mixed-language knowledge base in both
backends, queries read in their own language, the analyzer version and re-analysis on re-indexing."""

from __future__ import annotations

import numpy as np
import pytest

from kb.analysis import ANALYZER_VERSION, LexicalQuery, get_analyzer, read_query
from kb.models import Chunk, Document


# -- analysis per language ---------------------------------------------------------------------
def test_english_stems_and_splits_apostrophes():
    a = get_analyzer("en")
    assert a.tokens("Refunds were processed") == ["refund", "were", "process"]
    assert a.tokens("don't") == ["don", "t"]  # only letters and digits reach the store
    assert a.query("how do I cancel my order").terms == ("cancel", "order")  # stopwords left out


def test_german_umlauts_eszett_and_stems_meet_their_transliterations():
    a = get_analyzer("de")
    assert a.tokens("Rückgabe") == a.tokens("Rueckgabe") == a.tokens("RUCKGABE")
    assert a.tokens("Straße") == a.tokens("STRASSE")
    assert a.tokens("Rücksendungen") == a.tokens("Rücksendung")
    assert "nicht" in a.query("Paket nicht angekommen").terms  # negation is not a stopword
    assert "und" not in a.query("Rechnung und Lieferschein").terms


def test_turkish_dotted_and_dotless_i_and_suffixes():
    a = get_analyzer("tr")
    assert a.tokens("ŞİFREMİ") == a.tokens("şifremi") == a.tokens("sifremi")
    assert a.tokens("KARTIM") == a.tokens("kartım")  # I is dotless ı in Turkish
    assert a.tokens("siparişlerim") == a.tokens("siparişim") or a.tokens("siparişlerim")[0].startswith("sipari")
    assert a.tokens("Trendyol'dan") == ["trendyol"]


def test_a_query_read_in_several_languages_keeps_each_reading_apart():
    q = read_query("Paket nicht angekommen", [], ["de", "tr"])
    assert [r.language for r in q.readings()] == ["de", "tr"]
    assert q.readings()[0].terms != q.readings()[1].terms
    assert not LexicalQuery() and bool(q)
    assert read_query("Paket", [], ["de"], filter_languages=False).language == ""


def test_a_dense_search_reads_only_the_languages_and_phrases_of_its_query():
    """A dense search needs no stemmed terms (they cost a fifth of its time besides the encode): only the
    languages the query may be in and its quoted phrases, which still filter."""
    from kb.query import parse_query

    full = parse_query("Paket nicht angekommen", languages=["de", "tr"], filter_languages=True)
    dense = parse_query("Paket nicht angekommen", languages=["de", "tr"], filter_languages=True, lexical=False)
    assert dense.text == full.text and dense.terms == full.terms
    assert dense.languages == full.languages == ["de", "tr"]
    assert not dense.lexical and full.lexical
    quoted = parse_query('"nicht angekommen" Paket', languages=["de"], lexical=False)
    assert quoted.phrases == ["nicht angekommen"] and quoted.lexical.phrases


def test_likely_languages_asks_each_detector_once_and_the_full_one_only_when_unsure(monkeypatch):
    from kb import lang

    calls = []
    real = lang.language_confidences
    monkeypatch.setattr(lang, "language_confidences",
                        lambda text, langs, low_accuracy=None: calls.append((text, low_accuracy))
                        or real(text, langs, low_accuracy=low_accuracy))
    assert len(lang.likely_languages("Paket", ("en", "de", "tr"))) >= 1  # ambiguous: maybe several
    assert calls == [("Paket", True), ("Paket", None)]  # the quick detector is unsure: the full one decides
    calls.clear()
    assert lang.likely_languages("Where is my parcel, it has not arrived yet", ("en", "de", "tr")) == ["en"]
    assert calls == [("Where is my parcel, it has not arrived yet", True)]  # sure: the full one is not asked
    calls.clear()
    assert lang.likely_languages("?!", ("en", "de", "tr"), default="de") == ["de"]  # too short to detect
    assert calls == []


def test_the_quick_reading_never_names_a_language_the_full_detector_rules_out():
    """Over the questions in English, German and Turkish of corpus/eval, a query the quick detector is sure
    of is read in one of the languages the full detector gives (kb.lang.QUICK_SURE)."""
    import json

    from kb import lang
    from tests.conftest import ROOT

    langs = ("en", "de", "tr")
    questions = [json.loads(line)["query"] for f in sorted((ROOT / "corpus" / "eval").glob("queries*.jsonl"))
                 for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(questions) > 200
    quick = 0
    for q in questions:
        ranked = lang.language_confidences(q, langs, low_accuracy=True)
        if ranked[0][1] >= lang.QUICK_SURE:
            quick += 1
            full = [c for c, share in lang.language_confidences(q, langs) if share >= 0.2]
            assert ranked[0][0] in full, q
    assert quick >= 0.8 * len(questions)


# -- a mixed-language knowledge base in each backend ------------------------------------------------
def _doc(doc_id: str, lang: str, title: str, text: str) -> tuple[Document, list[Chunk]]:
    d = Document(id=doc_id, type="sop", title=title, body=f"# {title}\n\n{text}\n", language=lang)
    return d, [Chunk(doc_id, 0, title, text)]


@pytest.fixture()
def mixed(backend_store):
    s = backend_store
    for i, (doc_id, lang, title, text) in enumerate([
        ("en-return", "en", "Returns", "Customers return a parcel within 30 days for a refund."),
        ("de-ruecksendung", "de", "Rücksendung", "Kunden senden das Paket innerhalb von 30 Tagen zurück."),
        ("tr-iade", "tr", "İade", "Müşteri paketi 30 gün içinde iade edebilir."),
    ]):
        d, chunks = _doc(doc_id, lang, title, text)
        v = np.zeros((1, 4), dtype=np.float32)
        v[0, i] = 1
        s.save_document(d, chunks, v)
    return s


def _ids(store, q: LexicalQuery) -> list[str]:
    hits = store.lexical_search(q, 10)
    info = store.chunk_docs([c for c, _ in hits])
    return [info[c]["doc_id"] for c, _ in hits]


def test_each_reading_matches_only_documents_of_its_language(mixed):
    assert mixed.lexical_languages() == {"en": 1, "de": 1, "tr": 1}
    # "paket" is a word in German and Turkish; read as German it only finds the German document
    assert _ids(mixed, read_query("Paket", [], ["de"])) == ["de-ruecksendung"]
    assert _ids(mixed, read_query("paketi", [], ["tr"])) == ["tr-iade"]
    both = read_query("Paket", [], ["de", "tr"])
    assert set(_ids(mixed, both)) == {"de-ruecksendung", "tr-iade"}
    # a German question has no lexical matches in English documents ("30" would be one otherwise)
    assert _ids(mixed, read_query("Rücksendung in 30 Tagen", [], ["de"])) == ["de-ruecksendung"]
    # without a language, a reading matches every document (a knowledge base in one language)
    assert set(_ids(mixed, read_query("30", [], ["en"], filter_languages=False))) == {
        "en-return", "de-ruecksendung", "tr-iade"}


def test_phrases_per_language(mixed):
    q = read_query("", ['"das Paket"'.strip('"')], ["de"])
    assert _ids(mixed, q) == ["de-ruecksendung"]
    ids = mixed.chunk_ids_where(query=q)
    assert len(ids) == 1


def test_reanalysis_rewrites_the_lexical_index(mixed):
    mixed.set_meta("lexical_analyzer", "analysis.v1")
    assert mixed.reanalyse_lexical() == 3
    assert mixed.get_meta("lexical_analyzer") == ANALYZER_VERSION
    assert _ids(mixed, read_query("Rueckgabe Paket", [], ["de"])) == ["de-ruecksendung"]


# -- indexing: languages detected, front matter wins, re-analysis on an analyzer change --------------
@pytest.fixture()
def mixed_dir(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "returns.md").write_text("# Returns\n\nCustomers may return any parcel within 30 days of delivery "
                                    "and get a full refund to the original payment method.\n")
    (src / "ruecksendung.md").write_text("# Rücksendung\n\nKundinnen und Kunden können jedes Paket innerhalb von "
                                         "30 Tagen nach der Lieferung zurücksenden und erhalten eine Erstattung.\n")
    (src / "iade.md").write_text("---\nlanguage: tr\n---\n# İade\n\nMüşteriler teslimattan sonraki 30 gün içinde "
                                 "paketi iade edebilir ve ödemelerinin tamamını geri alır.\n")
    return src


def test_indexing_detects_languages_and_searches_each_in_its_own(mixed_dir, tmp_path, embedder):
    from indexer.pipeline import index_paths
    from kb.config import load_config
    from kb.search import Searcher
    from kb.storage import open_store

    config = load_config(data_dir=str(tmp_path), db=str(tmp_path / "kb.db"))
    store = open_store(config.database)
    index_paths(store, embedder, config, [mixed_dir], progress=False)
    langs = {d.id: d.language for d in store.list_documents()}
    assert langs == {"returns": "en", "ruecksendung": "de", "iade": "tr"}
    s = Searcher(store, config, embedder)
    hits = s.search("Rückgabe Paket Erstattung", k=3, mode="lexical")
    assert [h.id for h in hits] == ["ruecksendung"]
    assert "<mark>Erstattung</mark>" in hits[0].snippet
    assert s.search("return parcel refund", k=1, mode="lexical")[0].id == "returns"
    assert s.search("paketi iade", k=1, mode="lexical")[0].id == "iade"
    # an upgrade from the English-only analyzer: the next index detects and re-analyses
    store.set_meta("lexical_analyzer", "analysis.v1")
    report = index_paths(store, embedder, config, [mixed_dir], progress=False)
    assert report.chunks_embedded == 0 and store.get_meta("lexical_analyzer") == ANALYZER_VERSION


def test_old_databases_get_the_language_column(tmp_path):
    """A database made before kb.0003 keeps its lexical text and records the old analyzer."""
    from kb.storage import open_store

    store = open_store(tmp_path / "kb.db")
    assert "kb.0003_lexical_languages" in store.schema_migrations()
    assert store.get_meta("lexical_analyzer") == ANALYZER_VERSION  # a new, empty database
