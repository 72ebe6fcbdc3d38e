"""The web app's in-memory copy of the lexical index (kb.lexical_memory): the same BM25 scores as FTS5,
in every language and under filters; never used for a store generation it was not built from; a copy
that cannot be trusted is not used, and searches go on through FTS5."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from indexer.pipeline import index_paths
from kb.analysis import LexicalQuery
from kb.lexical_memory import build_matrix, store_generation
from kb.models import AGENT_STATUSES
from kb.search import Searcher
from kb.storage import NO_FILTERS, SearchFilters
from tests.conftest import TINY_MAP

ROOT = Path(__file__).resolve().parent.parent
EVERYTHING = 100_000  # a limit over every match: the whole result sets are compared, not a cut through ties


def _queries(*names: str) -> list[str]:
    out = []
    for name in names:
        lines = (ROOT / "corpus" / "eval" / name).read_text(encoding="utf-8").splitlines()
        out += [json.loads(x)["query"] for x in lines if x.strip()]
    return out


@pytest.fixture(scope="module")
def corpus_copy(corpus_kb, embedder):
    config, store = corpus_kb
    searcher = Searcher(store, config, embedder, resident=True)
    copy = searcher.memory.wait(store_generation(store.get_meta))
    assert copy is not None and copy.generation == store_generation(store.get_meta)
    return searcher, copy


@pytest.fixture(scope="module")
def three_languages(tmp_path_factory, embedder):
    """The English, German and Turkish sample SOPs and tickets (no English tickets) in one knowledge base."""
    from kb.config import load_config
    from kb.storage import open_store

    d = tmp_path_factory.mktemp("three_languages")
    config = load_config(data_dir=str(d), db=str(d / "kb.db"))
    store = open_store(config.database)
    index_paths(store, embedder, config, [ROOT / "corpus" / x for x in ("sops", "de", "tr")], progress=False)
    searcher = Searcher(store, config, embedder, resident=True)
    copy = searcher.memory.wait(store_generation(store.get_meta))
    assert copy is not None
    return store, searcher, copy


def test_the_copy_scores_every_chunk_as_fts5_does(three_languages):
    """English, German and Turkish questions, each reading restricted to its language, every match."""
    store, searcher, copy = three_languages
    queries = _queries("queries.jsonl", "queries_de.jsonl", "queries_tr.jsonl", "out_of_scope.jsonl")
    languages = set()
    compared = 0
    for q in queries:
        lexical = searcher.parse(q).lexical
        languages.update(r.language for r in lexical.readings())
        want = dict(store.lexical_search(lexical, EVERYTHING))
        got = dict(copy.search(lexical, EVERYTHING))
        assert set(got) == set(want), q
        for c, s in want.items():
            assert got[c] == pytest.approx(s, rel=1e-12, abs=1e-12), (q, c)
        compared += len(want)
    assert {"en", "de", "tr"} <= languages
    assert compared > 2_000


def test_the_copy_keeps_the_best_first_and_honours_the_limit(corpus_copy):
    searcher, copy = corpus_copy
    lexical = searcher.parse("refund to the original card").lexical
    full = copy.search(lexical, EVERYTHING)
    top = copy.search(lexical, 5)
    assert len(full) > 5 and [s for _, s in top] == [s for _, s in full[:5]]
    assert all(a[1] >= b[1] for a, b in zip(full, full[1:], strict=False))
    assert copy.search(LexicalQuery(("zzqxnotaterm",), (), "en"), 10) == []


def test_a_resident_searcher_finds_what_fts5_finds_under_agents_filters(corpus_kb, corpus_copy, embedder):
    """The agents' default filter (published SOPs, every ticket) and a narrow one (SOPs only): the copy's
    results are the store's, id for id."""
    config, store = corpus_kb
    resident, _ = corpus_copy
    plain = Searcher(store, config, embedder)
    assert plain.memory is None
    filters = [SearchFilters.of((), (), (), AGENT_STATUSES), SearchFilters.of(("sop",), (), (), ()), NO_FILTERS]
    for q in _queries("queries.jsonl")[:40]:
        for f in filters:
            got = dict(resident.lexical(resident.parse(q), EVERYTHING, f))
            want = dict(plain.lexical(plain.parse(q), EVERYTHING, f))
            assert got.keys() == want.keys(), (q, f)
            assert all(got[c] == pytest.approx(s, rel=1e-12) for c, s in want.items()), (q, f)


def test_phrases_are_searched_by_fts5(corpus_copy):
    searcher, _ = corpus_copy
    hits = searcher.search('"original payment method" refund', k=5, mode="lexical")
    assert hits and all("original payment method" in f"{h.title} {h.heading} {h.chunk_text}".lower() for h in hits)


def test_a_changed_knowledge_base_is_searched_through_fts5_until_the_copy_is_rebuilt(tiny_kb, embedder):
    config, store, src = tiny_kb
    searcher = Searcher(store, config, embedder, resident=True)
    first = searcher.memory.wait(store_generation(store.get_meta))
    assert first is not None
    assert not searcher.search("xylophone tuning", k=5, mode="lexical")

    (src / "sops" / "xylophone.md").write_text("# Xylophone tuning\n\nTune each xylophone bar with a "
                                               "strobe tuner before dispatch.\n", encoding="utf-8")
    index_paths(store, embedder, config, [src], field_map=TINY_MAP, progress=False)

    hits = searcher.search("xylophone tuning", k=5, mode="lexical")  # the old copy is not used
    assert hits and hits[0].title.lower().startswith("xylophone")
    second = searcher.memory.wait(store_generation(store.get_meta))
    assert second is not None and second is not first and second.df("xylophon") == 1
    again = searcher.search("xylophone tuning", k=5, mode="lexical")
    assert [(h.id, h.score) for h in again] == [(h.id, h.score) for h in hits]


def test_re_analysing_the_lexical_index_starts_a_new_generation(tiny_kb):
    _, store, _ = tiny_kb
    before = store_generation(store.get_meta)
    store.reanalyse_lexical()
    assert store_generation(store.get_meta) != before


def test_a_copy_that_disagrees_with_fts5_is_refused():
    rows = [(1, "refund", "", "card refund", "en"), (2, "", "", "card", "en")]
    m = build_matrix((0, "0"), rows, {"refund": 1, "card": 2})
    assert [c for c, _ in m.search(LexicalQuery(("refund", "card"), (), "en"), 10)] == [1, 2]
    with pytest.raises(ValueError, match="refund"):
        build_matrix((0, "0"), rows, {"refund": 2, "card": 2})


def test_searches_go_on_through_fts5_when_no_copy_can_be_made(tiny_kb_shared, embedder, caplog):
    config, store, _ = tiny_kb_shared

    class Broken:  # a store whose lexical index cannot be read in one go
        def __getattr__(self, name):
            return getattr(store, name)

        def lexical_snapshot(self):
            raise OSError("disk I/O error")

    searcher = Searcher(Broken(), config, embedder, resident=True)
    with caplog.at_level(logging.WARNING, logger="deskbook.search"):
        assert searcher.memory.wait(store_generation(store.get_meta), timeout=10) is None
    assert "FTS5 answers every search" in caplog.text
    hits = searcher.search("refund", k=3, mode="lexical")
    assert hits and hits[0].lexical_rank == 1


def test_no_copy_is_made_of_a_knowledge_base_too_large_for_it(tiny_kb_shared, embedder, caplog, monkeypatch):
    import kb.lexical_memory as lm

    config, store, _ = tiny_kb_shared
    monkeypatch.setattr(lm, "MAX_CHUNKS", 1)
    searcher = Searcher(store, config, embedder, resident=True)
    with caplog.at_level(logging.INFO, logger="deskbook.search"):
        assert searcher.memory.wait(store_generation(store.get_meta), timeout=10) is None
    assert "more than 1" in caplog.text
    assert searcher.search("refund", k=3, mode="lexical")
