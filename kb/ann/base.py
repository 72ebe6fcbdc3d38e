"""ANN backends: exact (flat), HNSW and IVF with FAISS, and a plain numpy scan (the baseline)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

import numpy as np

from kb.sidework import forked  # imported here so that its fork handler is registered before any fork


@contextmanager
def omp_threads(faiss, n: int) -> Iterator[None]:
    """FAISS on `n` OpenMP threads for the block, then the calling thread's count as it was. torch shares
    the OpenMP runtime: a count left at 1 by a search made every later torch encode on that thread run on
    one core (after a QA scoring's SOP search, 800 turns took 5.5 s to embed instead of 2.95 s on 2 cores).
    A forked child stays on one thread (`kb.sidework.forked`)."""
    n = 1 if forked() else n
    before = faiss.omp_get_max_threads()
    if before == n:
        yield
        return
    faiss.omp_set_num_threads(n)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


class AnnBackend(Protocol):
    kind: str

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None: ...

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids) of the k best vectors, best first; ids of -1 pad a short result."""

    def __len__(self) -> int: ...

    def save(self, path: Path) -> None: ...


class NumpyBackend:
    """Brute-force inner product with numpy: the baseline the benchmarks compare against."""

    kind = "numpy"

    def __init__(self, dim: int):
        self.dim = dim
        self.ids = np.zeros(0, dtype=np.int64)
        self.vectors = np.zeros((0, dim), dtype=np.float32)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        self.ids = np.concatenate([self.ids, ids.astype(np.int64)])
        self.vectors = np.vstack([self.vectors, vectors.astype(np.float32)])

    def search(self, query, k, allowed=None):
        vecs, ids = self.vectors, self.ids
        if allowed is not None:
            mask = np.isin(ids, allowed)
            vecs, ids = vecs[mask], ids[mask]
        if not len(ids):
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
        scores = vecs @ query.reshape(-1)
        k = min(k, len(ids))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top])]
        return scores[top], ids[top]

    def __len__(self) -> int:
        return len(self.ids)

    def lookup(self, ids) -> dict[int, np.ndarray]:
        pos = {int(c): i for i, c in enumerate(self.ids.tolist())}
        return {int(c): self.vectors[pos[int(c)]] for c in ids if int(c) in pos}

    def save(self, path: Path) -> None:  # pragma: no cover - never persisted
        raise NotImplementedError("the numpy backend is rebuilt from the database")


class FaissBackend:
    """A FAISS index wrapped in an id map (ids are chunk ids)."""

    def __init__(self, index, kind: str):
        import faiss

        self.faiss = faiss
        self.index = index
        self.kind = kind

    @classmethod
    def create(cls, kind: str, dim: int, n_expected: int, *, hnsw_m: int = 32, ef_search: int = 48) -> FaissBackend:
        import faiss

        if kind == "flat":
            inner = faiss.IndexFlatIP(dim)
        elif kind == "hnsw":
            inner = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
            inner.hnsw.efConstruction = 80
            inner.hnsw.efSearch = ef_search
        elif kind == "ivf":
            nlist = max(16, int(4 * np.sqrt(max(n_expected, 1))))
            quantizer = faiss.IndexFlatIP(dim)
            inner = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
            inner.nprobe = max(8, nlist // 16)
        else:
            raise ValueError(f"unknown FAISS index type {kind!r} (flat, hnsw or ivf)")
        return cls(faiss.IndexIDMap2(inner), kind)

    @classmethod
    def load(cls, path: Path, kind: str) -> FaissBackend:
        import faiss

        return cls(faiss.read_index(str(path)), kind)

    def set_ef_search(self, ef: int) -> None:
        """HNSW only: candidates examined per search (`ann_ef_search`); other kinds ignore it."""
        inner = self.faiss.downcast_index(self.index.index)
        if isinstance(inner, self.faiss.IndexHNSW):
            inner.hnsw.efSearch = max(1, int(ef))

    def train(self, vectors: np.ndarray) -> None:
        inner = self.faiss.downcast_index(self.index.index)
        if not inner.is_trained:
            inner.train(np.ascontiguousarray(vectors, dtype=np.float32))

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        import os

        with omp_threads(self.faiss, os.cpu_count() or 1):
            self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids.astype(np.int64))

    def search(self, query, k, allowed=None):
        # One query at a time is faster on one thread (OpenMP start-up dominates otherwise).
        with omp_threads(self.faiss, 1):
            return self._search(query, k, allowed)

    def _search(self, query, k, allowed):
        faiss = self.faiss
        q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        k = max(1, min(k, len(self)))
        if allowed is None:
            scores, ids = self.index.search(q, k)
        else:
            sel = faiss.IDSelectorBatch(np.ascontiguousarray(allowed, dtype=np.int64))
            inner = faiss.downcast_index(self.index.index)
            if isinstance(inner, faiss.IndexHNSW):
                params = faiss.SearchParametersHNSW(sel=sel, efSearch=max(inner.hnsw.efSearch, k))
            elif isinstance(inner, faiss.IndexIVF):
                params = faiss.SearchParametersIVF(sel=sel, nprobe=inner.nprobe)
            else:
                params = faiss.SearchParameters(sel=sel)
            scores, ids = self.index.search(q, k, params=params)
        keep = ids[0] >= 0
        return scores[0][keep], ids[0][keep]

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def lookup(self, ids) -> dict[int, np.ndarray]:
        """Stored vectors by id (those in the index); {} when the index cannot give them back (IVF)."""
        if self.kind == "ivf":
            return {}
        ids = [int(i) for i in ids]
        if not ids:
            return {}
        try:  # one call for all of them (a hybrid search asks for ~80)
            mat = self.index.reconstruct_batch(np.asarray(ids, dtype=np.int64))
            return dict(zip(ids, mat, strict=True))
        except RuntimeError:  # one of them is not in this index: ask one by one
            pass
        out = {}
        for i in ids:
            try:
                out[int(i)] = self.index.reconstruct(int(i))
            except RuntimeError:  # not in this index
                continue
        return out

    def save(self, path: Path) -> None:
        self.faiss.write_index(self.index, str(path))


KINDS = ("auto", "flat", "hnsw", "ivf", "numpy")


def choose_kind(setting: str, n: int, hnsw_min: int) -> str:
    """The index type for `n` vectors; an unknown `ann_index` value is an error, never a silent `auto`."""
    if setting not in KINDS:
        from kb.errors import ConfigError

        raise ConfigError(f"Unknown ann_index {setting!r}", hint=f"use one of {', '.join(KINDS)}", field="ann_index")
    if setting != "auto":
        return setting
    return "hnsw" if n >= hnsw_min else "flat"


def make_backend(kind: str, dim: int, n_expected: int):
    if kind == "numpy":
        return NumpyBackend(dim)
    return FaissBackend.create(kind, dim, n_expected)
