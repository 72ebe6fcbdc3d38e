"""An answer engine that lives as long as the web app reads an edited SOP's new text on the next answer:
documents are cached per store generation (kb.answers.engine `_read`), and an edit starts a new one."""

from __future__ import annotations

from indexer.pipeline import index_paths
from kb.answers import Answerer
from kb.search import Searcher
from tests.conftest import TINY_MAP

QUESTION = "how many business days until a refund arrives"


def test_an_edited_sop_is_answered_with_its_new_text(tiny_kb, embedder):
    config, store, src = tiny_kb
    answerer = Answerer(Searcher(store, config, embedder), config)
    before = answerer.answer(QUESTION, statuses=())
    assert before.citations and before.citations[0].id == "sop-test-refunds"
    assert "5-7 business days" in before.answer

    sop = src / "sops" / "refunds.md"
    sop.write_text(sop.read_text(encoding="utf-8").replace("5-7 business days", "3-4 business days"),
                   encoding="utf-8")
    index_paths(store, embedder, config, [src], field_map=TINY_MAP, progress=False)

    after = answerer.answer(QUESTION, statuses=())  # the same engine, as in a running web app
    assert after.citations[0].id == "sop-test-refunds"
    assert "3-4 business days" in after.answer and "5-7 business days" not in after.answer
