"""Search: lexical (BM25-style ranking in the store), dense (FAISS or pgvector) and hybrid (reciprocal rank fusion).

Results are grouped per document (its best chunk), carry a snippet with the matched words
marked, and honour type/tag/status filters and "exact phrases". No query string crashes a search:
the query is reduced to analysed terms and phrases (`kb.analysis`) before it reaches the store,
which never sees a search engine's syntax.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from kb.analysis import Analyzer, LexicalQuery, get_analyzer
from kb.errors import InputError
from kb.models import DOC_TYPES, Hit
from kb.storage import NO_FILTERS, SearchFilters
from kb.text import STOPWORDS, WORD, fold, normalize_ws, words

MAX_K = 1000  # results one search returns at most
MODES = ("hybrid", "dense", "lexical")
MAX_QUERY_CHARS = 2000  # the embedding model reads ~256 tokens; longer text only slows the query down
MAX_TERMS = 48
_PHRASE = re.compile(r'"([^"]*)"')


@dataclass
class ParsedQuery:
    text: str  # what the embedding model sees
    terms: list[str] = field(default_factory=list)  # folded words, stopwords left out
    phrases: list[str] = field(default_factory=list)  # "quoted phrases", as typed
    lexical: LexicalQuery = field(default_factory=LexicalQuery)  # what the store's lexical search takes


def parse_query(query: str, analyzer: Analyzer | None = None) -> ParsedQuery:
    if query is None or not str(query).strip():
        raise InputError("The query is empty", hint="type a few words that describe the problem", field="query")
    analyzer = analyzer or get_analyzer("en")
    q = re.sub("[\x00\ud800-\udfff]", " ", str(query))  # NUL and lone surrogates (from argv bytes): spaces
    q = q[:MAX_QUERY_CHARS * 5]
    phrases = [normalize_ws(p) for p in _PHRASE.findall(q) if words(p)]
    rest = _PHRASE.sub(" ", q).replace('"', " ")  # an unbalanced quote is just a character
    all_words = [w for w in words(fold(rest + " " + " ".join(phrases)))]
    terms, seen = [], set()
    for w in all_words:
        if w in STOPWORDS or w in seen or len(w) > 40:
            continue
        seen.add(w)
        terms.append(w)
    if not terms and not phrases:  # only stopwords ("how do I"): search them anyway
        terms = list(dict.fromkeys(w for w in all_words if len(w) <= 40))
    text = normalize_ws(q.replace('"', " "))[:MAX_QUERY_CHARS]
    return ParsedQuery(text=text or q[:MAX_QUERY_CHARS], terms=terms[:MAX_TERMS], phrases=phrases,
                       lexical=analyzer.query(rest[:MAX_QUERY_CHARS * 5], phrases))


def _phrase_ok(parsed: ParsedQuery, haystack: str) -> bool:
    if not parsed.phrases:
        return True
    hay = " ".join(words(fold(haystack)))
    return all(" ".join(words(fold(p))) in hay for p in parsed.phrases)


def make_snippet(text: str, terms: Sequence[str], phrases: Sequence[str] = (), width: int = 220,
                 analyzer: Analyzer | None = None) -> str:
    """HTML-escaped excerpt of `text` around the densest cluster of matches, matches in <mark>.

    A word matches when its analysed form (stem) is one of the query's: what lexical search matched."""
    analyzer = analyzer or get_analyzer("en")
    stems = {analyzer.stem(t) for t in terms if t not in STOPWORDS}
    stems |= {analyzer.stem(w) for p in phrases for w in analyzer.words(p)}
    matches = [(m.start(), m.end()) for m in WORD.finditer(text)
               if stems and any(analyzer.stem(w) in stems for w in analyzer.words(m.group()))]
    if len(text) <= width:
        start, end = 0, len(text)
    elif matches:
        best, best_n = 0, -1
        for i, (s, _) in enumerate(matches):
            n = sum(1 for s2, _ in matches[i:] if s2 - s <= width * 0.8)
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


class Searcher:
    """Search over one knowledge base; build once per process and reuse (models and indexes load once)."""

    def __init__(self, store, config, embedder=None):
        from kb.ann import VectorIndex

        self.store = store
        self.config = config
        self._embedder = embedder
        self.analyzer = get_analyzer("en")  # queries are analysed as English until per-language search exists
        self.index = VectorIndex(store, config)

    @property
    def embedder(self):
        if self._embedder is None:
            from kb.embed import get_embedder

            self._embedder = get_embedder(self.config)
        return self._embedder

    def check_model(self) -> None:
        from kb.errors import IndexMismatchError

        stored = self.store.get_meta("model")
        if stored and stored != self.embedder.name:
            raise IndexMismatchError(
                f"The knowledge base was embedded with {stored!r} but the configured model is {self.embedder.name!r}",
                hint="set `model` back, or run `deskbook index` again to re-embed with the new model")

    def encode_query(self, text: str) -> np.ndarray:
        return self.embedder.encode_queries([text])[0]

    # -- retrievers (chunk level) ------------------------------------------------------------
    def lexical(self, parsed: ParsedQuery, limit: int, filters: SearchFilters = NO_FILTERS
                ) -> list[tuple[int, float]]:
        if not parsed.lexical:
            return []
        return self.store.lexical_search(parsed.lexical, limit, filters)

    def _allowed(self, parsed: ParsedQuery, filters: SearchFilters) -> np.ndarray | None:
        """Chunk ids dense search may return (None: all): the filters, and every quoted phrase."""
        if not filters and not parsed.lexical.phrases:
            return None
        return self.store.chunk_ids_where(filters, phrases=parsed.lexical.phrases)

    def dense(self, parsed: ParsedQuery, limit: int, filters: SearchFilters = NO_FILTERS,
              qvec=None) -> list[tuple[int, float]]:
        if self.store.vector_dim() is None:
            return []
        self.check_model()
        allowed = self._allowed(parsed, filters)
        if allowed is not None and not len(allowed):
            return []
        q = self.encode_query(parsed.text) if qvec is None else qvec
        if self.config.vector_search == "pgvector":
            found = self.store.nearest_vectors(q, limit, allowed)
            if found is not None:
                return found
        return self.index.search(q, limit, allowed)

    # -- public ------------------------------------------------------------------------------
    def search(self, query: str, *, k: int | None = None, mode: str = "hybrid", types: Sequence[str] = (),
               tags: Sequence[str] = (), statuses: Sequence[str] = (), qvec: np.ndarray | None = None,
               snippets: bool = True, sop_statuses: Sequence[str] = ()) -> list[Hit]:
        """Hits for `query`, best first. `statuses` filters every document by its own status;
        `sop_statuses` filters SOPs only (agents: `kb.models.AGENT_STATUSES`; empty: all)."""
        if mode not in MODES:
            raise InputError(f"Unknown search mode {mode!r}", hint=f"use one of {', '.join(MODES)}", field="mode")
        bad = [t for t in types if t not in DOC_TYPES]
        if bad:
            raise InputError(f"Unknown document type {bad[0]!r}", hint="use sop or ticket", field="type")
        k = int(k or self.config.search_k)
        if not 1 <= k <= MAX_K:
            raise InputError(f"k must be between 1 and {MAX_K}", field="k")
        parsed = parse_query(query, self.analyzer)
        filters = SearchFilters.of(types, tags, statuses, sop_statuses)
        n_chunks = max(50, k * 8)
        lex = self.lexical(parsed, n_chunks, filters) if mode in ("hybrid", "lexical") else []
        den = self.dense(parsed, n_chunks, filters, qvec) if mode in ("hybrid", "dense") else []
        return self._group(parsed, lex, den, mode, k, snippets)

    def _group(self, parsed: ParsedQuery, lex, den, mode: str, k: int, snippets: bool = True) -> list[Hit]:
        info = self.store.chunk_docs([c for c, _ in lex] + [c for c, _ in den])
        lex_rank = {c: r for r, (c, _) in enumerate(lex, 1)}
        den_rank = {c: r for r, (c, _) in enumerate(den, 1)}
        den_score = dict(den)
        lex_score = dict(lex)
        rrf_k = float(self.config.rrf_k)
        scores: dict[int, float] = {}
        for c in set(lex_rank) | set(den_rank):
            if c not in info:  # deleted since the FAISS file was built
                continue
            if mode == "lexical":
                s = lex_score[c]
            elif mode == "dense":
                s = den_score[c]
            else:
                s = sum(1.0 / (rrf_k + r[c]) for r in (lex_rank, den_rank) if c in r)
                if info[c]["type"] == "ticket":
                    s *= float(self.config.ticket_weight)
            scores[c] = s
        best: dict[str, int] = {}
        for c, _s in sorted(scores.items(), key=lambda kv: -kv[1]):
            d = info[c]["doc_id"]
            if d not in best:
                best[d] = c
        chunk_ids = list(best.values())
        chunks = self.store.get_chunks_by_ids(chunk_ids)
        hits: list[Hit] = []
        for d, c in best.items():
            ch = chunks.get(c)
            if ch is None:
                continue
            meta = info[c]
            if parsed.phrases and not _phrase_ok(parsed, f"{meta['title']} {ch.heading} {ch.text}"):
                continue
            hits.append(Hit(id=d, type=meta["type"], title=meta["title"], score=round(float(scores[c]), 6),
                            snippet=make_snippet(ch.text, parsed.terms, parsed.phrases,
                                                 analyzer=self.analyzer) if snippets else "",
                            heading=ch.heading,
                            chunk_id=c, chunk_text=ch.text, tags=meta["tags"],
                            dense_score=round(float(den_score[c]), 4) if c in den_score else None,
                            lexical_rank=lex_rank.get(c), dense_rank=den_rank.get(c), status=meta["status"]))
            if len(hits) >= k:
                break
        return hits
