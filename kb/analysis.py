"""Lexical analysis: text -> the tokens lexical search indexes and matches, one analyzer per language.

Both storage backends index the *analysed* token stream (SQLite FTS5 with the plain `unicode61`
tokenizer, PostgreSQL `to_tsvector('simple', ...)`) and are queried with analysed terms and
phrases, never with a search engine's own syntax. So matching is decided here, once, in Python:
the two backends find the same chunks for the same query, and no query string can be syntax.

An `Analyzer` is `kb.lang` for one language: words are folded the language's way (Turkish I/ı
and İ/i; German ß -> ss and umlauts -> ae/oe/ue, so "Rückgabe" and "Rueckgabe" meet), stemmed
with that language's Snowball stemmer (PyStemmer; tokens with digits are left as typed) and
reduced to plain letters (ş -> s, é -> e), so a query typed without accents meets the text.
Stopwords are indexed (so that quoted phrases such as "on hold" match exactly) but are left out of
a query's free terms.

    analyzer = get_analyzer("de")
    analyzer.tokens("Rücksendungen werden geprüft")  -> ["rucksend", "werd", "gepruft"]
    analyzer.query('"Original Zahlungsart" Erstattung') -> LexicalQuery(terms=(...), phrases=(...), language="de")

A document is analysed in its own language (`Document.language`: front matter or ticket column,
else detected at indexing) and its chunks carry that language in the lexical index; a query is
analysed in each language it may be in (`read_query`), and each reading only matches documents of
its language. `ANALYZER_VERSION` is recorded in the store's meta: when it changes, `deskbook index`
analyses every stored chunk again (no embedding needed).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

from kb import lang as L

ANALYZER_VERSION = "analysis.v2"  # v1: English Snowball for every document; v2: per-language (kb.lang)
MAX_TOKEN_CHARS = 40  # longer "words" (hashes, base64) are not indexed as terms
MAX_QUERY_TERMS = 48
_PIECE = re.compile(r"[^\W_]+", re.UNICODE)


@dataclass(frozen=True)
class LexicalQuery:
    """What a store's `lexical_search` takes: analysed free terms (any may match, more is better)
    and phrases (each a list of analysed tokens that must appear consecutively).

    `language`: only chunks of documents in that language match ("" = any language).
    `alternatives`: the same query read in other languages; the store ORs every reading."""

    terms: tuple[str, ...] = ()
    phrases: tuple[tuple[str, ...], ...] = ()
    language: str = ""
    alternatives: tuple[LexicalQuery, ...] = ()

    def __bool__(self) -> bool:
        return any(r.terms or r.phrases for r in self.readings())

    def readings(self) -> list[LexicalQuery]:
        """This reading and its alternatives, each on its own (empty readings left out)."""
        first = replace(self, alternatives=()) if self.alternatives else self
        return [r for r in (first, *self.alternatives) if r.terms or r.phrases]

    def phrases_only(self) -> LexicalQuery:
        """The query less its free terms: the chunks that contain every phrase (in some reading)."""
        rs = [replace(r, terms=()) for r in self.readings() if r.phrases]
        if not rs:
            return LexicalQuery()
        return replace(rs[0], alternatives=tuple(rs[1:]))

    def all_terms(self) -> list[str]:
        return list(dict.fromkeys(t for r in self.readings() for t in r.terms))

    @staticmethod
    def union(readings: Sequence[LexicalQuery]) -> LexicalQuery:
        rs = [r for r in readings if r]
        if not rs:
            return LexicalQuery()
        return replace(rs[0], alternatives=tuple(rs[1:]))


class Analyzer:
    """Tokenize, fold and stem the text of one language (see the module docstring). Thread-safe."""

    def __init__(self, code: str):
        self.code = code
        self._stop = L.stopwords(code)
        self._word_cache: dict[str, tuple[str, ...]] = {}  # raw word -> its analysed tokens (snippets)

    def words(self, text: str) -> list[str]:
        """Folded words, not stemmed, in order (letters and digits; apostrophes split words)."""
        out: list[str] = []
        for w in L.tokenize(text or "", self.code):
            out.extend(p for p in _PIECE.findall(w) if len(p) <= MAX_TOKEN_CHARS)
        return out

    def stem_words(self, words: Sequence[str]) -> list[str]:
        return [L.plain(t) for t in L.stem(list(words), self.code)]

    def stem(self, word: str) -> str:
        return self.stem_words([word])[0] if word else ""

    def analyse_words(self, raw: Sequence[str]) -> list[tuple[str, ...]]:
        """The analysed tokens of each raw word (as found in a text), from a cache: marking matches in
        snippets analyses the same words again and again."""
        cache = self._word_cache
        missing = [w for w in dict.fromkeys(raw) if w not in cache]
        if missing:
            pieces = [self.words(w) for w in missing]
            stems = iter(self.stem_words([p for ps in pieces for p in ps]))
            if len(cache) > 200_000:
                cache.clear()
            for w, ps in zip(missing, pieces, strict=True):
                cache[w] = tuple(next(stems) for _ in ps)
        return [cache[w] for w in raw]

    def tokens(self, text: str) -> list[str]:
        """The analysed token stream of `text`, in order, stopwords included (what is indexed)."""
        return [t for t in self.stem_words(self.words(text)) if t]

    def index_text(self, text: str) -> str:
        """The analysed tokens joined by spaces: the column both backends index."""
        return " ".join(self.tokens(text))

    def is_stopword(self, word: str) -> bool:
        return word in self._stop

    def query(self, free_text: str, phrases: Iterable[str] = ()) -> LexicalQuery:
        """Terms (stopwords left out unless nothing else is left) and phrases, analysed."""
        phrases = list(phrases)
        phrase_tokens = tuple(t for t in (tuple(self.tokens(p)) for p in phrases) if t)
        words = self.words(free_text) + [w for p in phrases for w in self.words(p)]
        content = [w for w in words if not self.is_stopword(w)] or words
        terms = [t for t in dict.fromkeys(self.stem_words(content)) if t]
        return LexicalQuery(tuple(terms[:MAX_QUERY_TERMS]), phrase_tokens, self.code)


def get_analyzer(language: str | None = "en") -> Analyzer:
    """The analyzer of a language code ("en", "de-DE", "German" ...; one per process). A language
    without a Snowball stemmer is folded and not stemmed."""
    return _analyzer(L.normalize_code(language) or "en")


@lru_cache(maxsize=64)
def _analyzer(code: str) -> Analyzer:
    return Analyzer(code)


def read_query(free_text: str, phrases: Iterable[str], languages: Sequence[str], *,
               filter_languages: bool = True) -> LexicalQuery:
    """The query analysed in each of `languages` (the languages it may be in that the knowledge base
    holds), OR-ed. With `filter_languages` each reading only matches documents of its language;
    without (a knowledge base in one language), the one reading matches everything."""
    phrases = list(phrases)
    readings = []
    for code in dict.fromkeys(L.normalize_code(x) or "en" for x in languages):
        q = get_analyzer(code).query(free_text, phrases)
        readings.append(q if filter_languages else replace(q, language=""))
    return LexicalQuery.union(readings)
