"""Search: lexical (BM25 in the store, per language), dense (FAISS or pgvector) and hybrid (`kb.fusion`).

Results are grouped per document (its best chunk), carry a snippet with the matched words marked,
and honour type/tag/status filters and "exact phrases". No query string crashes a search: the query
is reduced to analysed terms and phrases (`kb.analysis`) before it reaches the store, which never
sees a search engine's syntax.

Languages: the query is analysed in each language it may be in (`kb.lang.likely_languages`) that
the knowledge base holds, and each reading only matches documents of its language, so a German
question against English SOPs gets no lexical matches on stray words ("Mixer", "Code"), only dense
ones. Very common terms (in more than `lexical_max_df` of the chunks) are left out of the lexical
query when rarer ones remain: they cost the most to score and decide the least.

`find` also says when nothing is close (`weak_match`: the best cosine similarity of any chunk is
under the model's threshold), so that ten unrelated results are not shown as answers.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from kb.analysis import LexicalQuery, get_analyzer
from kb.errors import InputError
from kb.fusion import FUSIONS, FusionParams, fuse, with_prior
from kb.lexical_memory import MemoryLexical
from kb.models import DOC_TYPES, Chunk, Hit, SearchResult
from kb.query import MAX_QUERY_CHARS, ParsedQuery, parse_query, phrases_in
from kb.scales import weak_match_threshold
from kb.sidework import side_pool
from kb.snippets import make_snippet
from kb.storage import NO_FILTERS, SearchFilters

__all__ = ["MAX_QUERY_CHARS", "MODES", "ParsedQuery", "SearchResult", "Searcher", "make_snippet", "parse_query",
           "weak_match_threshold"]

MAX_K = 1000  # results one search returns at most
MODES = ("hybrid", "dense", "lexical")
PRUNE_MIN_DF = 500  # a term in fewer chunks than this is never left out (small knowledge bases keep every term)
PRUNE_KEEP = 2  # a query of only common terms keeps its rarest two
CHUNK_INFO_MAX = 500_000  # chunks whose document fields a searcher keeps in memory (~0.3 KB each)
CHUNK_ROWS_MAX = 20_000  # chunks (text, heading) a searcher keeps for the hits it shows (~1-2 KB each)
_NOT_LISTED = object()  # a filter whose chunk ids are not in the cache yet
ALLOWED_CACHE = 8  # filter combinations whose allowed chunk ids a searcher keeps (per store generation)
POST_FILTER_SHARE = 0.5  # a filter letting at least this share of chunks through: search all, drop the rest
POST_FILTER_SLACK = 1.5  # ... asking for this many times the results the filter should leave


def _keep(pairs: list[tuple[int, float]], allowed: np.ndarray) -> list[tuple[int, float]]:
    """The (chunk id, score) pairs whose id is in `allowed` (sorted), in their order."""
    if not pairs or not len(allowed):
        return []
    ids = np.fromiter((c for c, _ in pairs), dtype=np.int64, count=len(pairs))
    pos = np.minimum(np.searchsorted(allowed, ids), len(allowed) - 1)
    inside = allowed[pos] == ids
    return [p for p, ok in zip(pairs, inside.tolist(), strict=True) if ok]


class Searcher:
    """Search over one knowledge base; build once per process and reuse (models and indexes load once)."""

    def __init__(self, store, config, embedder=None, *, resident: bool = False):
        """`resident`: a long-running process (the web app), which keeps an in-memory copy of the lexical
        index (`lexical_memory`, kb.lexical_memory); a one-off search does not pay for building it."""
        from kb.ann import VectorIndex

        self.store = store
        self.config = config
        self._embedder = embedder
        self._loading, self._listing, self._reading = threading.Lock(), threading.Lock(), threading.Lock()  # preloads
        self.index = VectorIndex(store, config)
        self.memory = (MemoryLexical(store) if resident and getattr(config, "lexical_memory", True)
                       and hasattr(store, "lexical_snapshot") else None)
        self._meta: dict = {}
        self.fusion = FusionParams(method=str(getattr(config, "fusion", "agreement")),
                                   w_min=float(getattr(config, "fusion_w_min", 0.5)),
                                   w_max=float(getattr(config, "fusion_w_max", 0.7)),
                                   rrf_k=float(config.rrf_k))

    @property
    def embedder(self):
        if self._embedder is not None:
            return self._embedder
        with self._loading:  # `kb.coldstart.preload` may be loading it on a side thread: wait for that one
            if self._embedder is None:
                from kb.embed import get_embedder

                self._embedder = get_embedder(self.config)
        return self._embedder

    def _state(self, fresh: bool = False) -> dict:
        """What a search needs from the store's meta (model, vector dimension, languages) and what it caches
        (term frequencies, chunk fields, allowed ids), kept until the store's vectors or fields generation
        changes; `find` checks both generations once per search."""
        if not fresh and self._meta:
            return self._meta
        gen = self.store.generations()
        if self._meta.get("generation") == gen:
            return self._meta
        with self._reading:  # one thread reads the meta (a cold search's preloads start together)
            if self._meta.get("generation") != gen:
                self._meta = {"generation": gen, "model": self.store.get_meta("model") or "",
                              "dim": self.store.vector_dim(), "languages": self.store.lexical_languages(),
                              "df": {}, "chunks": None, "info": {}, "rows": {}, "allowed": {}}
        return self._meta

    def generation(self) -> tuple:
        """The store's vectors and fields generations as of the last check (`find` checks them per search)."""
        return self._state()["generation"]

    def chunk_info(self, chunk_ids: Sequence[int]) -> dict[int, dict]:
        """Document fields (id, type, title, tags, status, language) of these chunks, from a per-process
        cache that lives as long as the store's vectors and fields generations (any saved, deleted,
        published or re-tagged document starts a new one): a search looks up ~100-200 chunks, and
        reading their documents from the store every time was a fifth of a hybrid search at 100k chunks."""
        return self._cached("info", chunk_ids, self.store.chunk_docs, CHUNK_INFO_MAX)

    def chunk_rows(self, chunk_ids: Sequence[int]) -> dict[int, Chunk]:
        """The chunks (text, heading) of the hits shown, from a cache of the same lifetime: under load, reading
        them for every search was a tenth of the server's time on the sample corpus."""
        return self._cached("rows", chunk_ids, self.store.get_chunks_by_ids, CHUNK_ROWS_MAX)

    def _cached(self, kind: str, chunk_ids: Sequence[int], fetch, most: int) -> dict:
        cache = self._state()[kind]
        missing = [c for c in chunk_ids if c not in cache]
        if missing:
            got = fetch(missing)
            if len(cache) + len(got) > most:
                cache.clear()
            cache.update(got)  # a chunk deleted since the FAISS file was built is not there: looked up again
        return {c: cache[c] for c in chunk_ids if c in cache}

    def model_name(self) -> str:
        return self._state()["model"]

    def configured_model(self) -> str:
        """The model queries are encoded with: the embedder given, else the `model` setting's (not loaded)."""
        if self._embedder is not None:
            return self._embedder.name
        from kb.embed import model_name

        return model_name(self.config.model)

    def scale_model(self) -> str:
        """The model whose similarity scale thresholds follow (`kb.scales`, the answers' confidence): the one
        the knowledge base was indexed with, else the configured one."""
        return self.model_name() or self.configured_model()

    def check_model(self) -> None:
        stored = self._state()["model"]
        configured = self.configured_model()
        if stored and stored != configured:
            from kb.errors import IndexMismatchError

            raise IndexMismatchError(
                f"The knowledge base was embedded with {stored!r} but the configured model is {configured!r}",
                hint="set `model` back, or run `deskbook index` again to re-embed with the new model")

    def encode_query(self, text: str) -> np.ndarray:
        return self.embedder.encode_queries([text])[0]

    # -- languages ---------------------------------------------------------------------------
    def kb_languages(self) -> dict[str, int]:
        """Documents per language in the knowledge base (cached until the store's content changes)."""
        return self._state()["languages"]

    def parse(self, query: str, lexical: bool = True) -> ParsedQuery:
        """The query read in each language it may be in that the knowledge base holds (`lexical` False:
        only its languages and phrases, for a dense search)."""
        from kb.lang import likely_languages, normalize_code

        held = [x for x, n in self.kb_languages().items() if n] or ["en"]
        candidates = list(dict.fromkeys([*(self.config.languages or []), *held]))
        default = normalize_code(self.config.default_language) or "en"
        text = str(query or "")
        langs = likely_languages(text, candidates, default=default) if len(candidates) > 1 else candidates
        readable = [x for x in langs if x in held]
        parsed = parse_query(query, languages=readable or [held[0]], filter_languages=len(held) > 1,
                             lexical=lexical)
        if not readable:  # a question in a language no document is in: no lexical matches on stray words
            parsed.lexical, parsed.languages, parsed.cross_language = LexicalQuery(), list(langs), True
        return parsed

    def prune_common(self, q: LexicalQuery) -> LexicalQuery:
        """Leave out terms in more than `lexical_max_df` of the chunks while rarer terms remain (a query of
        only common terms keeps its rarest two): scoring a very common term means scoring most chunks."""
        share = float(getattr(self.config, "lexical_max_df", 0) or 0)
        if share <= 0 or share >= 1 or not q:
            return q
        cache, n = self._state()["df"], self._total_chunks()
        missing = [t for t in q.all_terms() if t not in cache]
        if missing:
            copy = self.lexical_copy()
            cache.update({t: copy.df(t) for t in missing} if copy is not None
                         else self.store.term_document_frequencies(missing))
        cap = max(share * n, PRUNE_MIN_DF)
        out = []
        for r in q.readings():
            present = [t for t in r.terms if cache.get(t, 0) > 0]
            rare = tuple(t for t in present if cache[t] <= cap)
            if not rare and len(present) > PRUNE_KEEP:  # only common terms: keep the rarest few
                rare = tuple(sorted(present, key=lambda t: cache[t])[:PRUNE_KEEP])
            out.append(replace(r, terms=rare) if rare else r)
        return LexicalQuery.union(out)

    # -- retrievers (chunk level) ------------------------------------------------------------
    def lexical(self, parsed: ParsedQuery, limit: int, filters: SearchFilters = NO_FILTERS
                ) -> list[tuple[int, float]]:
        if not parsed.lexical:
            return []
        query = self.prune_common(parsed.lexical)
        copy = self.lexical_copy() if not any(r.phrases for r in query.readings()) else None
        if copy is not None:  # the same BM25 scores as the store's, from memory
            return copy.search(query, limit, self._allowed(parsed, filters) if filters else None)
        allowed = self._allowed(parsed, filters) if filters and not parsed.phrases else None
        if allowed is None and not parsed.phrases:
            filters = NO_FILTERS  # they leave nothing out
        if allowed is not None and self._broad(allowed):
            # BM25 scores do not depend on the filter: rank everything, keep what the filter allows
            want = self._ask_for(limit, allowed)
            got = self.store.lexical_search(query, want, NO_FILTERS)
            kept = _keep(got, allowed)
            if len(kept) >= limit or len(got) < want:
                return kept[:limit]
        return self.store.lexical_search(query, limit, filters)

    def lexical_copy(self):
        """The in-memory copy of the lexical index for the store's current generation, or None (the store
        answers; a copy is then built on a side thread)."""
        return self.memory.get(self._state()["generation"]) if self.memory is not None else None

    def _allowed(self, parsed: ParsedQuery, filters: SearchFilters) -> np.ndarray | None:
        """Chunk ids (sorted) dense search may return (None: all): the filters, and every quoted phrase."""
        if not filters and not parsed.phrases:
            return None
        if parsed.phrases:
            return np.sort(self.store.chunk_ids_where(filters, query=parsed.lexical))
        return self.filter_ids(filters)

    def filter_ids(self, filters: SearchFilters) -> np.ndarray | None:
        """Chunk ids (sorted) these filters allow (None: all, as agents' filter where every SOP is
        published: counting that is a third of listing 100k ids), kept until the store's content changes."""
        cache = self._state()["allowed"]
        ids = cache.get(filters, _NOT_LISTED)  # None is an answer: every chunk
        if ids is _NOT_LISTED:
            with self._listing:  # see `embedder`
                ids = cache.get(filters, _NOT_LISTED)
                if ids is _NOT_LISTED:
                    ids = (np.sort(self.store.chunk_ids_where(filters)).astype(np.int64)
                           if self.store.documents_left_out(filters) else None)
                    if len(cache) >= ALLOWED_CACHE:
                        cache.clear()
                    cache[filters] = ids
        return ids

    def _total_chunks(self) -> int:
        state = self._state()
        if state["chunks"] is None:
            state["chunks"] = self.store.count_chunks()
        return int(state["chunks"])

    def _broad(self, allowed: np.ndarray) -> bool:
        """The filter lets most chunks through: searching everything and dropping the rest is cheaper
        than restricting the search (a FAISS id selector over 100k ids, a join in the lexical query)."""
        return len(allowed) >= POST_FILTER_SHARE * max(1, self._total_chunks())

    def _ask_for(self, limit: int, allowed: np.ndarray) -> int:
        share = len(allowed) / max(1, self._total_chunks())
        return int(limit / max(share, POST_FILTER_SHARE) * POST_FILTER_SLACK) + 10

    def dense(self, parsed: ParsedQuery, limit: int, filters: SearchFilters = NO_FILTERS,
              qvec=None) -> list[tuple[int, float]]:
        if self._state()["dim"] is None:
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
        if allowed is not None and self._broad(allowed):
            want = self._ask_for(limit, allowed)
            got = self.index.search(q, want)
            kept = _keep(got, allowed)
            if len(kept) >= min(limit, len(allowed)) or len(got) < want:
                return kept[:limit]
        return self.index.search(q, limit, allowed)

    def _cosines(self, chunk_ids: list[int], qvec: np.ndarray | None) -> dict[int, float]:
        """Cosine similarity of these chunks to the query: vectors from the in-memory index, else the store."""
        if not chunk_ids or qvec is None:
            return {}
        found = self.index.vectors(chunk_ids) if self.config.vector_search != "pgvector" else {}
        out = {c: float(v @ qvec) for c, v in found.items()}
        rest = [c for c in chunk_ids if c not in out]
        if rest:
            ids, mat = self.store.get_vectors(rest)
            out.update(zip(ids.tolist(), (mat @ qvec).tolist(), strict=True))
        return out

    # -- public ------------------------------------------------------------------------------
    def search(self, query: str, *, k: int | None = None, mode: str = "hybrid", types: Sequence[str] = (),
               tags: Sequence[str] = (), statuses: Sequence[str] = (), qvec: np.ndarray | None = None,
               snippets: bool = True, sop_statuses: Sequence[str] = (), fusion: str | None = None,
               ticket_weight: float | None = None) -> list[Hit]:
        """Hits for `query`, best first. `statuses` filters every document by its own status;
        `sop_statuses` filters SOPs only (agents: `kb.models.AGENT_STATUSES`; empty: all); `fusion` and
        `ticket_weight` override those settings for this search."""
        return self.find(query, k=k, mode=mode, types=types, tags=tags, statuses=statuses, qvec=qvec,
                         snippets=snippets, sop_statuses=sop_statuses, fusion=fusion,
                         ticket_weight=ticket_weight).hits

    def find(self, query: str, *, k: int | None = None, mode: str = "hybrid", types: Sequence[str] = (),
             tags: Sequence[str] = (), statuses: Sequence[str] = (), qvec: np.ndarray | None = None,
             snippets: bool = True, sop_statuses: Sequence[str] = (), fusion: str | None = None,
             ticket_weight: float | None = None) -> SearchResult:
        """Hits and whether anything is close (see `SearchResult`)."""
        if fusion is not None and fusion not in FUSIONS:
            raise InputError(f"Unknown fusion {fusion!r}", hint=f"use one of {', '.join(FUSIONS)}", field="fusion")
        params = self.fusion if fusion in (None, self.fusion.method) else replace(self.fusion, method=fusion)
        if mode not in MODES:
            raise InputError(f"Unknown search mode {mode!r}", hint=f"use one of {', '.join(MODES)}", field="mode")
        bad = [t for t in types if t not in DOC_TYPES]
        if bad:
            raise InputError(f"Unknown document type {bad[0]!r}", hint="use sop or ticket", field="type")
        k = int(k or self.config.search_k)
        if not 1 <= k <= MAX_K:
            raise InputError(f"k must be between 1 and {MAX_K}", field="k")
        self._state(fresh=True)
        parsed = self.parse(query, lexical=mode != "dense")
        filters = SearchFilters.of(types, tags, statuses, sop_statuses)
        n_chunks = max(self.fusion.depth, k * 8)
        dense_ok = mode in ("hybrid", "dense") and self._state()["dim"] is not None
        pending = None
        if mode == "hybrid" and dense_ok and qvec is None and getattr(self.config, "search_overlap", True):
            # the lexical search runs while the query is encoded (both spend their time outside the GIL)
            pending = side_pool().submit(self.lexical, parsed, n_chunks, filters)
            lex = []
        else:
            lex = self.lexical(parsed, n_chunks, filters) if mode in ("hybrid", "lexical") else []
        den: list[tuple[int, float]] = []
        try:
            if dense_ok:
                if qvec is None:
                    self.check_model()
                    qvec = self.encode_query(parsed.text)
                den = self.dense(parsed, n_chunks, filters, qvec)
        finally:
            if pending is not None:
                lex = pending.result()  # also when encoding failed: no search left running behind
        extra: dict[int, float] = {}
        if mode == "lexical":
            scores = dict(lex)
        elif mode == "dense":
            scores = dict(den)
        else:
            in_den = dict(den)
            extra = self._cosines([c for c, _ in lex if c not in in_den], qvec) if den else {}
            scores = fuse(lex, den, extra, params, weak_below=weak_match_threshold(
                self.config, self.model_name(), cross_language=parsed.cross_language) if den else None)
        tw = float(self.config.ticket_weight if ticket_weight is None else ticket_weight)
        hits = self._group(parsed, scores, lex, den + sorted(extra.items(), key=lambda kv: -kv[1]), mode, k, params,
                           tw, snippets, n_dense=len(den))
        best = den[0][1] if den else None
        threshold = (weak_match_threshold(self.config, self.model_name(), cross_language=parsed.cross_language)
                     if best is not None else None)
        return SearchResult(hits=hits, weak_match=None if threshold is None else bool(best < threshold),
                            best_score=None if best is None else round(float(best), 4), languages=parsed.languages)

    def _group(self, parsed: ParsedQuery, scores: dict[int, float], lex, den, mode: str, k: int,
               params: FusionParams, ticket_weight: float, snippets: bool = True, n_dense: int | None = None
               ) -> list[Hit]:
        """Best chunk per document, best first. `den` may end with cosines of chunks only lexical search
        found (after the first `n_dense`): they give those hits a dense score, not a dense rank."""
        info = self.chunk_info(list(scores))
        lex_rank = {c: r for r, (c, _) in enumerate(lex, 1)}
        den_rank = {c: r for r, (c, _) in enumerate(den[:n_dense], 1)}
        den_score = dict(den)
        if mode == "hybrid":
            weights = {c: ticket_weight for c in scores if c in info and info[c]["type"] == "ticket"}
            scores = with_prior(scores, weights)
        best: dict[str, int] = {}
        for c, _s in sorted(scores.items(), key=lambda kv: -kv[1]):
            if c not in info:  # deleted since the FAISS file was built
                continue
            best.setdefault(info[c]["doc_id"], c)
        order = list(best.values())
        hits: list[Hit] = []
        page = k if not parsed.phrases else max(k, 50)  # a phrase may drop hits: read further ahead
        for start in range(0, len(order), page):  # only the chunks of the hits shown are read
            wanted = order[start:start + page]
            chunks = self.chunk_rows(wanted)
            for c in wanted:
                ch = chunks.get(c)
                if ch is None:
                    continue
                meta = info[c]
                analyzer = get_analyzer(meta.get("language") or "en")
                if parsed.phrases and not phrases_in(parsed, f"{meta['title']} {ch.heading} {ch.text}", analyzer):
                    continue
                hits.append(Hit(id=meta["doc_id"], type=meta["type"], title=meta["title"],
                                score=round(float(scores[c]), 6),
                                snippet=make_snippet(ch.text, parsed.terms, parsed.phrases,
                                                     analyzer=analyzer) if snippets else "",
                                heading=ch.heading,
                                chunk_id=c, chunk_text=ch.text, tags=list(meta["tags"]),
                                dense_score=round(float(den_score[c]), 4) if c in den_score else None,
                                lexical_rank=lex_rank.get(c), dense_rank=den_rank.get(c), status=meta["status"]))
                if len(hits) >= k:
                    return hits
        return hits
