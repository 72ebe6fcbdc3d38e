"""A search query read once: the text the embedding model sees, the words as typed (for snippets),
"quoted phrases", and its lexical reading in each language it may be in (`kb.analysis`), so that no
query string reaches a store as search-engine syntax."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from kb.analysis import Analyzer, LexicalQuery, get_analyzer, read_query
from kb.errors import InputError
from kb.lang import normalize_code
from kb.text import WORD, normalize_ws, without_bad_characters

MAX_QUERY_CHARS = 2000  # the embedding model reads ~256 tokens; longer text only slows the query down
_PHRASE = re.compile(r'"([^"]*)"')


@dataclass
class ParsedQuery:
    text: str  # what the embedding model sees
    terms: list[str] = field(default_factory=list)  # the query's words as typed (snippets analyse them)
    phrases: list[str] = field(default_factory=list)  # "quoted phrases", as typed
    lexical: LexicalQuery = field(default_factory=LexicalQuery)  # what the store's lexical search takes
    languages: list[str] = field(default_factory=list)  # the languages the query was read in
    cross_language: bool = False  # in a language no document of the knowledge base is in


def parse_query(query: str, analyzer: Analyzer | None = None, *, languages: Sequence[str] | None = None,
                filter_languages: bool = False, lexical: bool = True) -> ParsedQuery:
    """The query's text for the model, and its lexical reading: with `languages`, one reading per
    language (each matching only documents of its language when `filter_languages`), else `analyzer`'s.
    Without `lexical` (a dense search) there is no reading unless the query has "phrases" (they filter)."""
    if query is None or not str(query).strip():
        raise InputError("The query is empty", hint="type a few words that describe the problem", field="query")
    q = without_bad_characters(str(query))  # NUL and lone surrogates (from argv bytes): spaces
    q = q[:MAX_QUERY_CHARS * 5]
    phrases = [normalize_ws(p) for p in _PHRASE.findall(q) if WORD.search(p)]
    rest = _PHRASE.sub(" ", q).replace('"', " ")  # an unbalanced quote is just a character
    if not lexical and not phrases:
        reading = LexicalQuery()
        languages = list(dict.fromkeys(normalize_code(x) or "en" for x in languages or [])) or None
    elif languages:
        reading = read_query(rest, phrases, languages, filter_languages=filter_languages)
    else:
        reading = replace((analyzer or get_analyzer("en")).query(rest, phrases), language="")
    text = normalize_ws(q.replace('"', " "))[:MAX_QUERY_CHARS]
    terms = list(dict.fromkeys(w for w in WORD.findall(rest + " " + " ".join(phrases)) if len(w) <= 40))
    return ParsedQuery(text=text or q[:MAX_QUERY_CHARS], terms=terms[:48], phrases=phrases, lexical=reading,
                       languages=[r.language for r in reading.readings() if r.language] or list(languages or []))


def phrases_in(parsed: ParsedQuery, haystack: str, analyzer: Analyzer) -> bool:
    """Whether every quoted phrase of the query is in `haystack`, as analysed tokens."""
    if not parsed.phrases:
        return True
    hay = " ".join(analyzer.tokens(haystack))
    return all(" ".join(analyzer.tokens(p)) in hay for p in parsed.phrases)
