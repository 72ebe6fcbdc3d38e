"""Snippets: an HTML-escaped excerpt of a chunk around the densest cluster of the query's words,
matches in <mark> (a word matches when its analysed form is one of the query's words')."""

from __future__ import annotations

import bisect
import functools
import html
import re
from collections.abc import Sequence

import numpy as np

from kb.analysis import Analyzer, get_analyzer
from kb.text import WORD, normalize_ws

_MARKS = re.compile(r"\*\*|__|(?<!\w)_(?=\S)|(?<=\S)_(?!\w)|`")


def plain(text: str) -> str:
    """Markdown emphasis and code marks removed (`**Shipments**` -> `Shipments`)."""
    return _MARKS.sub("", text or "")


@functools.lru_cache(maxsize=256)
def _query_stems(analyzer: Analyzer, terms: tuple[str, ...], phrases: tuple[str, ...]) -> frozenset[str]:
    """The analysed forms of a query's words (stopwords left out, except inside phrases): the same for
    every hit of a search, so worked out once."""
    qwords = [w for t in terms for w in analyzer.words(t) if not analyzer.is_stopword(w)]
    qwords += [w for p in phrases for w in analyzer.words(p)]
    return frozenset(analyzer.stem_words(qwords)) - {""}


@functools.lru_cache(maxsize=2048)
def _word_positions(analyzer: Analyzer, text: str) -> tuple[np.ndarray, dict[str, tuple[int, ...]]]:
    """Each word's (start, end) in `text`, and the words (by index) each analysed token occurs in: worked
    out once per chunk text, as the same chunks are shown for search after search (~10 KB a text)."""
    found = list(WORD.finditer(text))
    where: dict[str, list[int]] = {}
    for i, toks in enumerate(analyzer.analyse_words([m.group() for m in found])):
        for t in dict.fromkeys(toks):
            where.setdefault(t, []).append(i)
    spans = np.array([m.span() for m in found], dtype=np.int32).reshape(-1, 2)
    return spans, {t: tuple(ix) for t, ix in where.items()}


def make_snippet(text: str, terms: Sequence[str], phrases: Sequence[str] = (), width: int = 220,
                 analyzer: Analyzer | None = None) -> str:
    """HTML-escaped excerpt of `text` around the densest cluster of matches, matches in <mark>.

    A word matches when its analysed form (in `analyzer`'s language) is one of the query's words'."""
    analyzer = analyzer or get_analyzer("en")
    stems = _query_stems(analyzer, tuple(terms), tuple(phrases))
    matches: list[tuple[int, int]] = []
    if stems:
        spans, where = _word_positions(analyzer, text)
        hit = sorted({i for t in stems for i in where.get(t, ())})
        matches = [(int(a), int(b)) for a, b in spans[hit].tolist()] if hit else []
    if len(text) <= width:
        start, end = 0, len(text)
    elif matches:
        starts = [s for s, _ in matches]  # in text order: a window's matches are one bisect away
        best, best_n = 0, -1
        for j, s in enumerate(starts):
            n = bisect.bisect_right(starts, s + width * 0.8, lo=j) - j
            if n > best_n:
                best, best_n = s, n
        start = max(0, best - width // 4)
        while start > 0 and not text[start - 1].isspace():
            start -= 1
        end = min(len(text), start + width)
        while end < len(text) and not text[end - 1].isspace():
            end += 1
    else:
        start, end = 0, width
        while end < len(text) and not text[end - 1].isspace():
            end += 1
    out, pos = [], start
    for s, e in matches:
        if s < start or e > end:
            continue
        out.append(html.escape(text[pos:s]))
        out.append(f"<mark>{html.escape(text[s:e])}</mark>")
        pos = e
    out.append(html.escape(text[pos:end]))
    snippet = normalize_ws("".join(out))
    return ("… " if start > 0 else "") + snippet + (" …" if end < len(text) else "")
