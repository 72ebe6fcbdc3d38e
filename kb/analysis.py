"""Lexical analysis: text -> the tokens lexical search indexes and matches, one analyzer per language.

Both storage backends index the *analysed* token stream (SQLite FTS5 with the plain `unicode61`
tokenizer, PostgreSQL `to_tsvector('simple', ...)`) and are queried with analysed terms and
phrases, never with a search engine's own syntax. So matching is decided here, once, in Python:
the two backends find the same chunks for the same query, and no query string can be syntax.

An `Analyzer` tokenizes (letters and digits; everything else separates words), case-folds and
strips accents, and stems with a Snowball stemmer (PyStemmer). Stopwords are indexed (so that
quoted phrases such as "on hold" match exactly) but are left out of a query's free terms.

    analyzer = get_analyzer("en")
    analyzer.tokens("Refunds were processed")  -> ["refund", "were", "process"]
    analyzer.query('"original payment" refund') -> LexicalQuery(terms=[...], phrases=[[...]])

Languages: English now (`en`). A language is added by registering its stemmer name and stopwords
in `LANGUAGES`; documents carry their `language`, and the store analyses each with its own.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

from kb.errors import ConfigError
from kb.text import STOPWORDS

TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
MAX_TOKEN_CHARS = 40  # longer "words" (hashes, base64) are not indexed as terms
MAX_QUERY_TERMS = 48


@dataclass(frozen=True)
class LexicalQuery:
    """What a store's `lexical_search` takes: analysed free terms (any may match, more is better)
    and phrases (each a list of analysed tokens that must appear consecutively)."""

    terms: tuple[str, ...] = ()
    phrases: tuple[tuple[str, ...], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.terms or self.phrases)


@dataclass(frozen=True)
class Language:
    code: str
    stemmer: str  # a Snowball algorithm name known to PyStemmer
    stopwords: frozenset[str] = field(default_factory=frozenset)


LANGUAGES: dict[str, Language] = {
    "en": Language("en", "english", STOPWORDS),
}


def fold(text: str) -> str:
    """Lowercase and strip accents (NFKD, combining marks removed)."""
    return "".join(c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c))


class Analyzer:
    """Tokenize, fold and stem the text of one language. Thread-safe."""

    def __init__(self, language: Language):
        import Stemmer  # PyStemmer

        self.language = language
        self._stemmer = Stemmer.Stemmer(language.stemmer)
        self._lock = threading.Lock()  # a PyStemmer object is not safe across threads

    @property
    def code(self) -> str:
        return self.language.code

    def words(self, text: str) -> list[str]:
        """Folded words, not stemmed (for exact-phrase checks)."""
        return [w for w in TOKEN.findall(fold(text or "")) if len(w) <= MAX_TOKEN_CHARS]

    def stem(self, word: str) -> str:
        with self._lock:
            return self._stemmer.stemWord(word)

    def tokens(self, text: str) -> list[str]:
        """The analysed token stream of `text`, in order (what is indexed)."""
        words = self.words(text)
        if not words:
            return []
        with self._lock:
            return self._stemmer.stemWords(words)

    def index_text(self, text: str) -> str:
        """The analysed tokens joined by spaces: the column both backends index."""
        return " ".join(self.tokens(text))

    def is_stopword(self, word: str) -> bool:
        return word in self.language.stopwords

    def query(self, free_text: str, phrases: list[str] | tuple[str, ...] = ()) -> LexicalQuery:
        """Terms (stopwords left out unless nothing else is left) and phrases, analysed."""
        phrase_tokens = tuple(t for t in (tuple(self.tokens(p)) for p in phrases) if t)
        words = self.words(free_text) + [w for p in phrases for w in self.words(p)]
        content = [w for w in words if not self.is_stopword(w)] or words
        terms: list[str] = []
        for t in (self.stem(w) for w in content):
            if t not in terms:
                terms.append(t)
        return LexicalQuery(tuple(terms[:MAX_QUERY_TERMS]), phrase_tokens)


@lru_cache(maxsize=16)
def get_analyzer(language: str = "en") -> Analyzer:
    """The analyzer of a language code (`en`); an unknown code is a configuration error."""
    lang = LANGUAGES.get((language or "en").lower())
    if lang is None:
        raise ConfigError(f"No lexical analyzer for language {language!r}",
                          hint=f"known languages: {', '.join(sorted(LANGUAGES))}", field="language")
    return Analyzer(lang)
