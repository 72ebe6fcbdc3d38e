"""The dense index of a knowledge base: a FAISS file derived from the stored vectors.

- Saved where derived files go (`kb.storage.derived_path`: beside a SQLite file as `<db>.faiss`,
  else in `<data_dir>/derived/`, one per app server), with a `.json` describing it, written to a
  temporary file and renamed, so readers never see half a file.
- Self-describing: model, dimension, index type, the highest chunk id and the store's
  vectors generation are recorded; a file made with another model or dimension is rebuilt.
- Fresh without a full rebuild: vectors added since the file was built (chunk ids above its
  highest id) are searched exactly beside it, and chunks deleted since are filtered out by the
  caller (they no longer resolve). Past `ann_rebuild_delta` changes the file is rebuilt.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np

from kb.ann.base import FaissBackend, NumpyBackend, choose_kind, make_backend


class VectorIndex:
    def __init__(self, store, config, *, model_name: str | None = None):
        self.store = store
        self.config = config
        self.model_name = model_name or store.get_meta("model") or ""
        from kb.storage import derived_path

        self.path = derived_path(store, config.data_dir, "faiss")
        self.meta_path = Path(str(self.path) + ".json")
        self.main = None
        self.meta: dict = {}
        self.delta: NumpyBackend | None = None
        self._seen_generation = -1
        self._delta_base = -1  # the file's max_id the delta was read on top of
        self._lock = threading.RLock()
        from kb.tempfiles import stale_index_temps

        stale_index_temps(self.path)  # half-written files of a process that was killed

    # -- lifecycle ---------------------------------------------------------------------------
    def refresh(self) -> None:
        """Make the in-memory index match the store (cheap when nothing changed)."""
        gen = self.store.vectors_generation()
        if gen == self._seen_generation and self.main is not None:
            return
        with self._lock:
            if gen == self._seen_generation and self.main is not None:
                return
            dim = self.store.vector_dim()
            if dim is None:
                self.main, self.meta, self.delta = None, {}, None
                self._seen_generation = gen
                return
            if self.main is None or self._newer_file_on_disk(dim):
                self._load_or_build(dim)
            self._update_delta(dim)
            self._seen_generation = gen

    def _file_is_usable(self, dim: int) -> bool:
        if not (self.path.exists() and self.meta_path.exists()):
            return False
        try:
            meta = json.loads(self.meta_path.read_text())
        except (OSError, ValueError):
            return False
        wanted = choose_kind(self.config.ann_index, self.store.vector_count(), self.config.ann_hnsw_min)
        return (meta.get("dim") == dim and meta.get("model") == (self.store.get_meta("model") or "")
                and meta.get("format") == 1 and (self.config.ann_index == "auto" or meta.get("kind") == wanted))

    def _load_or_build(self, dim: int) -> None:
        if self._file_is_usable(dim):
            meta = json.loads(self.meta_path.read_text())
            try:
                self.main = FaissBackend.load(self.path, meta["kind"])
                self.main.set_ef_search(self.config.ann_ef_search)
                self.meta = meta
                return
            except Exception:  # noqa: BLE001 - a damaged file is rebuilt
                pass
        self.rebuild()

    def _newer_file_on_disk(self, dim: int) -> bool:
        """True when another process (an import, a worker) rebuilt the file since this one was loaded:
        loading it is far cheaper than rebuilding here, in the middle of a search."""
        try:
            meta = json.loads(self.meta_path.read_text())
        except (OSError, ValueError):
            return False
        return (int(meta.get("generation", -1)) > int(self.meta.get("generation", -1))
                and meta.get("built_at") != self.meta.get("built_at") and self._file_is_usable(dim))

    def _update_delta(self, dim: int) -> None:
        """Vectors added since the file was built, searched exactly: only those added since the last
        refresh are read (an import bumps the generation at every batch, and searches go on meanwhile)."""
        max_id = int(self.meta.get("max_id", 0))
        deleted_since = self.store.vectors_deleted() - int(self.meta.get("deleted", 0))
        delta = self.delta if self.delta is not None and self._delta_base == max_id else NumpyBackend(dim)
        start = int(delta.ids.max()) if len(delta) else max_id
        for ids, vecs in self.store.iter_vectors(min_id=start):
            delta.add(ids, vecs)
        limit = max(int(self.config.ann_rebuild_delta), int(0.1 * len(self.main or [])))
        if len(delta) > limit or deleted_since > max(limit, int(0.2 * len(self.main or []))):
            self.rebuild()
            self.delta = None
        else:
            self.delta = delta if len(delta) else None
            self._delta_base = max_id

    def rebuild(self, *, progress: bool = False) -> dict:
        """Build the index from every stored vector and replace the file atomically."""
        with self._lock:
            t0 = time.perf_counter()
            dim = self.store.vector_dim()
            if dim is None:
                return {}
            gen = self.store.vectors_generation()
            deleted = self.store.vectors_deleted()
            n = self.store.vector_count()
            kind = choose_kind(self.config.ann_index, n, self.config.ann_hnsw_min)
            if kind == "numpy":
                kind = "flat"
            backend = make_backend(kind, dim, n)
            if hasattr(backend, "set_ef_search"):
                backend.set_ef_search(self.config.ann_ef_search)
            max_id = 0
            if kind == "ivf":
                # IVF needs training data: a sample of the vectors is enough.
                sample = []
                for _, vecs in self.store.iter_vectors():
                    sample.append(vecs)
                    if sum(len(s) for s in sample) >= 50000:
                        break
                backend.train(np.vstack(sample))
            done = 0
            for ids, vecs in self.store.iter_vectors():
                backend.add(ids, vecs)
                max_id = int(ids[-1])
                done += len(ids)
                if progress:
                    print(f"\rbuilding {kind} index: {done}/{n} vectors", end="", file=sys.stderr, flush=True)
            if progress and n:
                print(file=sys.stderr)
            tmp = self.path.with_name(f"{self.path.name}.tmp-{os.getpid()}-{threading.get_ident()}")
            backend.save(tmp)
            os.replace(tmp, self.path)
            meta = {"format": 1, "kind": kind, "dim": dim, "model": self.store.get_meta("model") or "", "n": n,
                    "max_id": max_id, "generation": gen, "deleted": deleted,
                    "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "seconds": round(time.perf_counter() - t0, 3)}
            tmp_meta = self.meta_path.with_name(f"{self.meta_path.name}.tmp-{os.getpid()}")
            tmp_meta.write_text(json.dumps(meta, indent=2))
            os.replace(tmp_meta, self.meta_path)
            self.main, self.meta, self.delta = backend, meta, None
            self._seen_generation = gen
            return meta

    # -- search ------------------------------------------------------------------------------
    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """[(chunk id, cosine)] best first, from the FAISS file and the not-yet-indexed delta."""
        self.refresh()
        if self.main is None:
            return []
        results: dict[int, float] = {}
        if len(self.main):
            scores, ids = self.main.search(query, k, allowed)
            results.update(zip(ids.tolist(), scores.tolist(), strict=True))
        if self.delta is not None:
            scores, ids = self.delta.search(query, k, allowed)
            results.update(zip(ids.tolist(), scores.tolist(), strict=True))
        return sorted(results.items(), key=lambda kv: -kv[1])[:k]

    def vectors(self, ids) -> dict[int, np.ndarray]:
        """Vectors of these chunk ids from memory (the FAISS file and the delta); missing ones are left out."""
        self.refresh()
        ids = [int(i) for i in ids]
        out: dict[int, np.ndarray] = {}
        if self.delta is not None:
            out.update(self.delta.lookup(ids))
        if self.main is not None and len(self.main):
            out.update(self.main.lookup([i for i in ids if i not in out]))
        return out

    def describe(self) -> dict:
        self.refresh()
        return {**self.meta, "delta": len(self.delta) if self.delta is not None else 0}
