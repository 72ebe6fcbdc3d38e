"""An in-memory copy of the SQLite lexical index, for long-running processes (the web app).

FTS5's `bm25()` visits every row that holds a query term and scores it through a callback: at 100,000
chunks an ordinary question (terms in a few thousand chunks each) costs 10-40 ms, more than encoding
the query. The same scores can be had from a sparse matrix of per-term, per-chunk BM25 parts worked
out once: a query then adds up a few columns (well under a millisecond).

- **Same scores as FTS5.** The matrix is built from the lexical index's own analysed text (title,
  heading and text weighted 4 : 2 : 1, each chunk's length in tokens, the table's average) with FTS5's
  formula and its order of operations, so a search gets the same scores whichever answers it
  (`tests/test_lexical_memory.py` compares them). Each build checks its term document frequencies
  against FTS5's own vocabulary and is not used if any differs.
- **Never stale.** A copy is used only for the store generation it was read at, in one read
  transaction. After the knowledge base changes, the next search starts a rebuild on a side thread
  and FTS5 answers until it is ready. Rebuilds are spaced (at least `REBUILD_GAP_S`, and four times
  the last build's duration) so a stream of ticket imports does not keep a core busy rebuilding.
- **Not everything.** Quoted phrases go to FTS5 (the copy holds no positions), and so does every
  search in a process that does not keep a copy (the CLI: one search does not pay for a build).
  PostgreSQL ranks with `ts_rank` and keeps no copy.

Memory: about 12 bytes per distinct (chunk, term) pair, 58 MB at 100,000 chunks of ~65 words, and about
four times that while a copy is built (measured: +217 MB at the peak). Above `MAX_CHUNKS` no copy is made.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable

import numpy as np

from kb.analysis import LexicalQuery

log = logging.getLogger("deskbook.search")

K1, B = 1.2, 0.75  # FTS5's bm25() constants
WEIGHTS = (4.0, 2.0, 1.0)  # title, heading, text: the weights every lexical_search passes to bm25()
REBUILD_GAP_S = 5.0
MAX_CHUNKS = 500_000  # no copy above this (~0.3 GB held, ~1 GB while building): FTS5 answers
BUILD_BATCH = 5000  # rows tokenized at a time (bounds the temporary strings)
DENSE_SHARE = 8  # postings over 1/8 of the rows: add them up in a dense array instead of sorting them


def store_generation(get_meta: Callable[[str, str], str | None]) -> tuple[int, str]:
    """The generation a searcher's caches are keyed on: (vectors generation, fields generation)."""
    return int(get_meta("vectors_generation", "0") or 0), str(get_meta("fields_generation", "0") or "0")


class LexicalMatrix:
    """BM25 parts per (term, chunk), read-only once built: safe to share between threads."""

    def __init__(self, generation: tuple, rowids: np.ndarray, langs: np.ndarray, lang_codes: dict[str, int],
                 vocab: dict[str, int], indptr: np.ndarray, rows: np.ndarray, parts: np.ndarray):
        self.generation = generation
        self.rowids, self.langs, self.lang_codes = rowids, langs, lang_codes
        self.vocab, self.indptr, self.rows, self.parts = vocab, indptr, rows, parts

    @property
    def nbytes(self) -> int:
        return int(self.rowids.nbytes + self.langs.nbytes + self.indptr.nbytes + self.rows.nbytes + self.parts.nbytes)

    def df(self, term: str) -> int:
        j = self.vocab.get(term)
        return 0 if j is None else int(self.indptr[j + 1] - self.indptr[j])

    def _reading(self, reading: LexicalQuery) -> tuple[np.ndarray, np.ndarray] | None:
        cols = [self.vocab[t] for t in reading.terms if t in self.vocab]
        if not cols:
            return None
        rows = np.concatenate([self.rows[self.indptr[j]:self.indptr[j + 1]] for j in cols])
        parts = np.concatenate([self.parts[self.indptr[j]:self.indptr[j + 1]] for j in cols])
        if reading.language:
            code = self.lang_codes.get(reading.language)
            if code is None:
                return None
            keep = self.langs[rows] == code
            rows, parts = rows[keep], parts[keep]
        n = len(self.rowids)
        if len(rows) * DENSE_SHARE > n:  # added in posting order, as FTS5 adds its phrases
            acc = np.bincount(rows, weights=parts, minlength=n)
            hit = np.flatnonzero(acc)
            return hit, acc[hit]
        hit, inv = np.unique(rows, return_inverse=True)
        return hit, np.bincount(inv, weights=parts, minlength=len(hit))

    def search(self, query: LexicalQuery, limit: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """(chunk id, BM25 score: higher is better), best first, ties by chunk id; `allowed`: sorted chunk
        ids the results must be among (None: any)."""
        found = [r for r in (self._reading(x) for x in query.readings() if not x.phrases) if r is not None]
        if not found or limit <= 0:
            return []
        hit = np.concatenate([h for h, _ in found])
        score = np.concatenate([s for _, s in found])
        if len(found) > 1:  # a chunk matched by two readings keeps its better score
            order = np.lexsort((-score, hit))
            hit, score = hit[order], score[order]
            first = np.ones(len(hit), dtype=bool)
            first[1:] = hit[1:] != hit[:-1]
            hit, score = hit[first], score[first]
        ids = self.rowids[hit]
        if allowed is not None:
            pos = np.searchsorted(allowed, ids)
            ok = pos < len(allowed)
            ok[ok] = allowed[pos[ok]] == ids[ok]
            ids, score = ids[ok], score[ok]
        if len(ids) > limit:
            top = np.argpartition(-score, limit - 1)[:limit]
            ids, score = ids[top], score[top]
        order = np.lexsort((ids, -score))
        return [(int(i), float(s)) for i, s in zip(ids[order], score[order], strict=True)]


def build_matrix(generation: tuple, rows: Iterable[tuple], vocabulary: dict[str, int]) -> LexicalMatrix:
    """The matrix of (rowid, title, heading, text, lang) rows, sorted by rowid; `vocabulary` is FTS5's
    document frequency per term, which the build must reproduce (ValueError otherwise). Rows are read
    and their terms counted a batch at a time, so the build holds little more than the result."""
    from scipy import sparse

    vocab: dict[str, int] = {}
    rowids: list[int] = []
    langs: list[str] = []
    doc_len: list[np.ndarray] = []
    pairs: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (row, term, weighted count), one per pair
    batch: list[tuple] = []

    def flush() -> None:
        lens = np.zeros(len(batch), dtype=np.int64)
        where, terms, weights = [], [], []
        for col, weight in enumerate(WEIGHTS, start=1):
            toks = [(r[col] or "").split() for r in batch]
            n = np.fromiter((len(t) for t in toks), dtype=np.int64, count=len(toks))
            lens += n
            terms.append(np.fromiter((vocab.setdefault(w, len(vocab)) for t in toks for w in t), dtype=np.int32,
                                     count=int(n.sum())))
            where.append(np.repeat(np.arange(len(batch), dtype=np.int32), n))
            weights.append(np.full(len(terms[-1]), weight, dtype=np.float32))
        counts = sparse.coo_matrix((np.concatenate(weights), (np.concatenate(where), np.concatenate(terms))),
                                   shape=(len(batch), len(vocab))).tocsr()  # adds up a chunk's repeated terms
        counts.sum_duplicates()
        base = len(rowids) - len(batch)
        pairs.append((np.repeat(np.arange(base, base + len(batch), dtype=np.int32), np.diff(counts.indptr)),
                      counts.indices.astype(np.int32), counts.data.astype(np.float32)))
        doc_len.append(lens)
        batch.clear()

    for r in rows:
        rowids.append(int(r[0]))
        langs.append(str(r[4] or ""))
        batch.append(r)
        if len(batch) >= BUILD_BATCH:
            flush()
    if batch:
        flush()
    n_rows, n_terms = len(rowids), len(vocab)
    mat = sparse.csc_matrix((np.concatenate([p[2] for p in pairs]) if pairs else np.zeros(0, np.float32),
                             (np.concatenate([p[0] for p in pairs]) if pairs else np.zeros(0, np.int32),
                              np.concatenate([p[1] for p in pairs]) if pairs else np.zeros(0, np.int32))),
                            shape=(n_rows, n_terms))
    pairs.clear()
    indptr = mat.indptr.astype(np.int64)
    df = np.diff(indptr)
    wrong = [t for t, j in vocab.items() if vocabulary.get(t) != int(df[j])]
    if wrong or len(vocabulary) != n_terms:
        first = wrong[0] if wrong else next((t for t in vocabulary if t not in vocab), "?")
        raise ValueError(f"the copy's terms differ from FTS5's ({first!r}: {vocabulary.get(first)} chunks in FTS5)")
    lengths = np.concatenate(doc_len).astype(np.float64) if doc_len else np.zeros(0)
    avgdl = float(lengths.sum()) / float(n_rows) if n_rows else 1.0
    idf = np.log((n_rows - df + 0.5) / (df + 0.5))
    idf[idf <= 0.0] = 1e-6
    # FTS5: idf * ((w * (k1 + 1)) / (w + k1 * (1 - b + b * D / avgdl))), in this order, in place (two
    # arrays of the matrix's size at a time)
    w = mat.data.astype(np.float64)
    den = lengths[mat.indices]
    den *= B
    den /= avgdl
    den += 1 - B
    den *= K1
    den += w
    w *= K1 + 1.0
    w /= den
    del den
    w *= np.repeat(idf, df)
    codes: dict[str, int] = {}
    lang = np.fromiter((codes.setdefault(x, len(codes)) for x in langs), dtype=np.int16, count=n_rows)
    return LexicalMatrix(generation, np.asarray(rowids, dtype=np.int64), lang, codes, vocab, indptr,
                         mat.indices.astype(np.int32), w)


class MemoryLexical:
    """Holds a `LexicalMatrix` for the store's current generation and rebuilds it on a side thread."""

    def __init__(self, store):
        self.store = store
        self._matrix: LexicalMatrix | None = None
        self._lock = threading.Lock()
        self._building: tuple[int, threading.Thread] | None = None  # (pid, thread): a fork has no such thread
        self._next_start = 0.0
        self._failed: tuple | None = None  # the generation a build failed for: not tried again for it

    def get(self, generation: tuple) -> LexicalMatrix | None:
        """The copy for this generation, or None (FTS5 answers) while one is being made."""
        m = self._matrix
        if m is not None and m.generation == generation:
            return m
        self._start(generation)
        return None

    def _start(self, generation: tuple) -> None:
        with self._lock:
            b = self._building
            if b is not None and b[0] == os.getpid() and b[1].is_alive():
                return
            if self._failed == generation or time.monotonic() < self._next_start:
                return
            t = threading.Thread(target=self._build, name="deskbook-lexical-copy", daemon=True)
            self._building = (os.getpid(), t)
            t.start()

    def wait(self, generation: tuple, timeout: float = 120.0) -> LexicalMatrix | None:
        """Start a build if needed and wait for it (benchmarks, warm-up, tests)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            m = self.get(generation)
            if m is not None or self._failed == generation:
                return m
            b = self._building
            if b is not None and b[1].is_alive():
                b[1].join(max(0.0, end - time.monotonic()))
            else:
                time.sleep(0.05)
        return None

    def _build(self) -> None:
        t0 = time.monotonic()
        current = None  # the generation a failure is remembered for (None: the store could not be read)
        try:
            current = self.store.generations()
            n = self.store.count_chunks()
            if n > MAX_CHUNKS:
                self._failed = current
                log.info("lexical index not copied into memory: %d chunks, more than %d (FTS5 answers)", n,
                         MAX_CHUNKS)
                return
            with self.store.lexical_snapshot() as (get_meta, vocabulary, rows):
                m = build_matrix(store_generation(get_meta), rows, vocabulary)
            self._matrix = m
            log.info("lexical index copied into memory: %d chunks, %d terms, %.1f MB, %.1f s",
                     len(m.rowids), len(m.vocab), m.nbytes / 1e6, time.monotonic() - t0)
        except Exception as e:  # the copy only speeds searches up: FTS5 keeps answering
            self._failed = current
            log.warning("lexical index not copied into memory (FTS5 answers every search): %s", e)
        finally:
            self._next_start = time.monotonic() + max(REBUILD_GAP_S, 4 * (time.monotonic() - t0))
