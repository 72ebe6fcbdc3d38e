"""How documents are cut into batches for the embedding model, and encoded batch by batch (`kb.embed`)."""

from __future__ import annotations

import numpy as np

# Documents are encoded in batches, each under the model's lock, so a query waits for one batch at most.
# A batch holds 16 texts (DOCUMENT_BATCH); in bfloat16 (`embedding_precision`), up to 16 long texts (chunks
# at the model's limit, ~5 characters a token) and more short ones, up to the same padded size
# (DOCUMENT_CHARS) and DOCUMENT_BATCH_SHORT texts. In bfloat16, batches of 16 short QA sentences cost 1.6x
# batches of 64 per text; in float32 1.1x, while its chunks of a few hundred characters encode fastest 16
# at a time (32: up to 15% slower, 64: 20-30%; docs/benchmarks.md).
DOCUMENT_BATCH = 16
DOCUMENT_CHARS = DOCUMENT_BATCH * 1280
DOCUMENT_BATCH_SHORT = 64


def length_batches(texts: list[str], cap: int, max_chars: int) -> list[list[int]]:
    """Indices of `texts`, longest first, in batches whose padded size (texts x the batch's longest, at
    most `max_chars`) stays within `DOCUMENT_CHARS`, and at most `cap` texts."""
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    batches, i = [], 0
    while i < len(order):
        longest = max(1, min(len(texts[order[i]]), max_chars))
        size = max(1, min(cap, DOCUMENT_CHARS // longest))
        batches.append(order[i:i + size])
        i += size
    return batches


def encode_in_batches(batches: list[list[int]], n: int, dim: int, encode, progress: bool) -> np.ndarray:
    """An (n, dim) matrix filled batch by batch: `encode(indices)` gives the rows of those texts (it takes
    the model's lock itself, so that queries can go between batches); a progress bar when asked."""
    out = np.zeros((n, dim), dtype=np.float32)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=n, unit="text", desc="embedding", leave=False, dynamic_ncols=True)
    try:
        for idx in batches:
            out[idx] = np.asarray(encode(idx), dtype=np.float32)
            if bar is not None:
                bar.update(len(idx))
    finally:
        if bar is not None:
            bar.close()
    return out
