"""Grouping texts by meaning for the insights reports: FAISS k-means, then average linkage, cut by silhouette.

`cluster_vectors(X)` takes L2-normalised embeddings and returns a label per row:

1. Over-segment with FAISS spherical k-means into at most `max_micro` micro-clusters (each row
   is its own micro-cluster when there are fewer rows than that).
2. Merge micro-clusters bottom-up by average linkage: the similarity of two groups is the mean
   cosine similarity over all pairs of their members, computed exactly from per-group vector
   sums (`sum_a · sum_b / (n_a n_b)`).
3. Cut the merge tree at a similarity threshold. With `similarity=0` (auto) the threshold is
   chosen from the data: candidates are quantiles of the pairwise similarities of a sample of
   rows and even steps from their median to their 99.9th percentile (so the grid follows the
   model's similarity scale), and the cut with the best mean
   silhouette (cosine, on that sample) wins. A positive `similarity` fixes the threshold.
4. With micro-clusters, a row whose mean similarity to the rest of its group is below the cut is
   taken out again as a singleton (k-means may have carried it in; exact linkage would not have).

Why not k-means alone with k chosen by silhouette: k-means puts every row in some cluster, so
stray one-off texts are pulled into topic groups, and at the k where topics are not mixed a
large topic is already split in two; measured in docs/insights.md. Average linkage leaves
one-offs as singletons and keeps a topic whole.

`top_terms` labels a group by its most distinctive words (class-based TF-IDF).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from kb.text import content_terms, stem


@dataclass
class Clustering:
    labels: np.ndarray  # a cluster number per row, 0..k-1, numbered by size (largest first)
    centroids: np.ndarray  # (k, dim), L2-normalised
    sizes: list[int]
    cohesion: list[float]  # mean pairwise cosine similarity inside each cluster (1.0 for singletons)
    threshold: float  # the average-linkage similarity the tree was cut at
    chosen_by: str  # "silhouette" | "setting" | "trivial"
    silhouette: float | None = None
    candidates: list[dict] = field(default_factory=list)  # [{threshold, clusters, silhouette}] when auto


def group_sums(X: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """(k, dim) float64 sums of the rows of X per label (sort + reduceat: much faster than np.add.at)."""
    out = np.zeros((k, X.shape[1]), dtype=np.float64)
    if not len(labels):
        return out
    order = np.argsort(labels, kind="stable")
    uniq, starts = np.unique(labels[order], return_index=True)
    out[uniq] = np.add.reduceat(X[order].astype(np.float64), starts, axis=0)
    return out


def _kmeans_labels(X: np.ndarray, k: int, seed: int) -> np.ndarray:
    import faiss

    # few iterations: the micro-clusters are merged afterwards, they need not be converged
    km = faiss.Kmeans(X.shape[1], k, niter=8, seed=seed, spherical=True, min_points_per_centroid=1,
                      max_points_per_centroid=64, verbose=False)
    km.train(np.ascontiguousarray(X, dtype=np.float32))
    _, lab = km.index.search(np.ascontiguousarray(X, dtype=np.float32), 1)
    lab = lab.ravel()
    # drop empty centroids: renumber 0..m-1
    _, lab = np.unique(lab, return_inverse=True)
    return lab.astype(np.int64)


def _average_linkage(sums: np.ndarray, counts: np.ndarray, floor: float) -> list[tuple[int, int, float]]:
    """Merges (into, from, similarity) in order, while the best pair's similarity is >= floor.

    The similarity matrix is kept with each row's best partner cached; after a merge only the
    rows whose best partner was one of the two merged groups are rescanned (in one numpy call).
    """
    k = len(counts)
    # float32, and einsum for the mat-vec per merge: a BLAS gemv call costs ~10x more on a busy
    # 2-core machine (its threads wait for a core), and there is one per merge
    sums = sums.astype(np.float32).copy()
    counts = counts.astype(np.float32).copy()
    M = (sums @ sums.T) / np.outer(counts, counts)
    np.fill_diagonal(M, -np.inf)
    alive = np.ones(k, dtype=bool)
    merges: list[tuple[int, int, float]] = []
    rowarg = M.argmax(axis=1)
    rowmax = M[np.arange(k), rowarg]
    for _ in range(k - 1):
        i = int(np.argmax(rowmax))
        best = float(rowmax[i])
        if not np.isfinite(best) or best < floor:
            break
        j = int(rowarg[i])
        a, b = (i, j) if counts[i] >= counts[j] else (j, i)
        merges.append((a, b, best))
        sums[a] += sums[b]
        counts[a] += counts[b]
        alive[b] = False
        M[b, :] = -np.inf
        M[:, b] = -np.inf
        rowmax[b] = -np.inf
        row = np.einsum("ij,j->i", sums, sums[a]) / (counts * counts[a])
        row[~alive] = -np.inf
        row[a] = -np.inf
        M[a, :] = row
        M[:, a] = row
        rowarg[a] = int(np.argmax(row))
        rowmax[a] = row[rowarg[a]]
        # rows that pointed at a or b: rescan; other rows: the merged group may now be their best
        stale = alive & ((rowarg == a) | (rowarg == b))
        stale[a] = False
        better = alive & ~stale & (row > rowmax)
        rowmax[better] = row[better]
        rowarg[better] = a
        idx = np.where(stale)[0]
        if len(idx):
            sub = M[idx]
            arg = sub.argmax(axis=1)
            rowarg[idx] = arg
            rowmax[idx] = sub[np.arange(len(idx)), arg]
    return merges


def _cut(n_micro: int, merges: list[tuple[int, int, float]], threshold: float) -> np.ndarray:
    """Micro-cluster -> group, applying the merges at or above `threshold`."""
    parent = np.arange(n_micro)

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b, s in merges:
        if s < threshold:
            break  # average linkage merges at non-increasing similarity
        parent[find(b)] = find(a)
    roots = np.array([find(i) for i in range(n_micro)])
    _, group = np.unique(roots, return_inverse=True)
    return group


def _detach_strays(X: np.ndarray, labels: np.ndarray, threshold: float) -> np.ndarray:
    """Rows whose mean similarity to the rest of their cluster is below the cut become singletons.

    k-means micro-clusters can carry a stray row into a topic; the exact algorithm would not have
    merged it (its average linkage to the topic is below the threshold), so it is taken out again.
    """
    k = int(labels.max()) + 1
    sums = group_sums(X, labels, k)
    counts = np.bincount(labels, minlength=k)
    own = np.einsum("ij,ij->i", X.astype(np.float64), sums[labels])
    n_other = counts[labels] - 1
    mean_other = np.where(n_other > 0, (own - 1.0) / np.maximum(n_other, 1), 1.0)
    stray = np.where(mean_other < threshold)[0]
    if not len(stray):
        return labels
    labels = labels.copy()
    labels[stray] = k + np.arange(len(stray))
    _, labels = np.unique(labels, return_inverse=True)
    return labels


def silhouette(D: np.ndarray, labels: np.ndarray) -> float | None:
    """Mean silhouette from a distance matrix; rows in singleton clusters count 0. None if 1 or n clusters."""
    n = len(labels)
    uniq, lab = np.unique(labels, return_inverse=True)
    k = len(uniq)
    if k < 2 or k >= n:
        return None
    order = np.argsort(lab, kind="stable")
    sizes = np.bincount(lab, minlength=k).astype(np.float64)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    sums = np.add.reduceat(D[:, order], starts, axis=1)  # (n, k): summed distance to each cluster
    own = sizes[lab]
    a = np.where(own > 1, sums[np.arange(n), lab] / np.maximum(own - 1, 1), 0.0)
    mean_other = sums / sizes
    mean_other[np.arange(n), lab] = np.inf
    b = mean_other.min(axis=1)
    s = np.where(own > 1, (b - a) / np.maximum(np.maximum(a, b), 1e-12), 0.0)
    return float(s.mean())


def cluster_vectors(X: np.ndarray, *, similarity: float = 0.0, max_micro: int = 1000, sample: int = 2000,
                    seed: int = 0) -> Clustering:
    """Group rows of X (L2-normalised) by meaning. See the module docstring."""
    X = np.ascontiguousarray(X, dtype=np.float32)
    n = len(X)
    if n == 0:
        return Clustering(np.zeros(0, dtype=np.int64), np.zeros((0, X.shape[1] if X.ndim == 2 else 0)), [], [],
                          0.0, "trivial")
    if n == 1:
        return Clustering(np.zeros(1, dtype=np.int64), X.copy(), [1], [1.0], 0.0, "trivial")
    if n <= max_micro:
        micro = np.arange(n)
    else:
        micro = _kmeans_labels(X, max_micro, seed)
    n_micro = int(micro.max()) + 1
    sums = group_sums(X, micro, n_micro)
    counts = np.bincount(micro, minlength=n_micro)

    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(n, size=min(n, sample), replace=False))
    Xs = X[idx].astype(np.float64)
    S = Xs @ Xs.T
    candidates: list[dict] = []
    if similarity and similarity > 0:
        floor = float(similarity)
        grid = [floor]
    else:
        iu = np.triu_indices(len(idx), 1)
        pair = S[iu]
        levels = [50, 60, 70, 80, 85, 90, 93, 95, 96, 97, 98, 99, 99.5, 99.8]
        if len(pair):
            q = np.percentile(pair, [*levels, 99.9])
            # quantiles, plus even steps up to the 99.9th percentile: topics can be a tiny share of all pairs
            grid = sorted({round(float(v), 4) for v in (*q[:-1], *np.linspace(q[0], q[-1], 12))})
        else:
            grid = [0.5]
        floor = grid[0]
    merges = _average_linkage(sums, counts, floor)

    if len(grid) == 1:
        threshold, chosen_by, sil = grid[0], "setting", None
        group_of_micro = _cut(n_micro, merges, threshold)
        labels = group_of_micro[micro]
        D = 1.0 - S
        sil = silhouette(D, labels[idx])
    else:
        D = 1.0 - S
        best = None
        for t in grid:
            g = _cut(n_micro, merges, t)
            lab = g[micro]
            s = silhouette(D, lab[idx])
            candidates.append({"threshold": t, "clusters": int(g.max()) + 1,
                               "silhouette": None if s is None else round(s, 4)})
            if s is not None and (best is None or s > best[0] + 1e-9):
                best = (s, t, lab)
        if best is None:  # everything in one cluster, or every row alone, at every cut
            t = grid[-1]
            best = (None, t, _cut(n_micro, merges, t)[micro])
        sil, threshold, labels = best
        chosen_by = "silhouette"

    if n > max_micro:
        labels = _detach_strays(X, labels, threshold)
    # number clusters by size, largest first
    sizes = np.bincount(labels)
    order = np.argsort(-sizes, kind="stable")
    remap = np.empty_like(order)
    remap[order] = np.arange(len(order))
    labels = remap[labels]
    k = len(order)
    csum = group_sums(X, labels, k)
    cnt = np.bincount(labels, minlength=k).astype(np.float64)
    norms = np.linalg.norm(csum, axis=1, keepdims=True)
    centroids = (csum / np.maximum(norms, 1e-12)).astype(np.float32)
    sq = (csum * csum).sum(axis=1)
    cohesion = [1.0 if c <= 1 else float((s - c) / (c * (c - 1))) for s, c in zip(sq, cnt, strict=True)]
    return Clustering(labels=labels, centroids=centroids, sizes=[int(c) for c in cnt], cohesion=cohesion,
                      threshold=float(threshold), chosen_by=chosen_by,
                      silhouette=None if sil is None else float(sil), candidates=candidates)


def representatives(X: np.ndarray, members: np.ndarray, centroid: np.ndarray, n: int = 5) -> list[int]:
    """Indices (into X) of the members closest to the centroid, best first."""
    if not len(members):
        return []
    sims = np.einsum("ij,j->i", X[members], centroid)  # no BLAS call per group (see _average_linkage)
    return [int(members[i]) for i in np.argsort(-sims, kind="stable")[:n]]


def top_terms(texts_by_group: Sequence[Sequence[str]], n: int = 4) -> list[list[str]]:
    """The most distinctive words of each group (class-based TF-IDF over word stems).

    Each stem is shown as its most frequent surface form in the group.
    """
    tfs: list[Counter] = []
    forms: list[dict[str, Counter]] = []
    for texts in texts_by_group:
        tf: Counter = Counter()
        fm: dict[str, Counter] = {}
        for t in texts:
            for w in content_terms(t):
                if len(w) < 3 or w.isdigit() or not any(c.isalpha() for c in w) or w.startswith("["):
                    continue
                s = stem(w)
                tf[s] += 1
                fm.setdefault(s, Counter())[w] += 1
        tfs.append(tf)
        forms.append(fm)
    df: Counter = Counter()
    for tf in tfs:
        df.update(tf.keys())
    g = len(tfs)
    out = []
    for tf, fm in zip(tfs, forms, strict=True):
        total = sum(tf.values()) or 1
        scored = sorted(tf.items(), key=lambda kv: (-(kv[1] / total) * math.log(1 + g / df[kv[0]]), kv[0]))
        out.append([fm[s].most_common(1)[0][0] for s, c in scored[:n] if c >= 1])
    return out
