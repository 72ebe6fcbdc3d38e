"""Queries through ONNX Runtime: the sentence-transformers model's own vectors, several times faster for
one short text.

An agent's search or answer waits for one query encode. sentence-transformers (torch) spends most of a
single short query in per-call overhead: on 2 cores, 27-30 ms a query on an AMD EPYC (AVX2) against
9.5-10 ms through ONNX Runtime, and 9 ms against 3 ms on an Intel Xeon with AMX (docs/benchmarks.md). For batches
of documents torch is as fast or faster (and in bfloat16 where the CPU has it), so documents stay on torch.

The model is exported once per machine, from the local model folder (nothing is downloaded), into the
cache (`~/.cache/deskbook/query-onnx/`, or `DESKBOOK_CACHE_DIR`): the transformer, mean pooling and
normalisation as one graph, next to a `meta.json`. The folder's name is a fingerprint of the model's
files, so a changed or adapted model gets its own export. The export runs where the torch model is
already loaded and a process will serve queries (`deskbook index` at its end, `deskbook serve` while
warming up), never inside a query. A process that finds an export encodes queries without importing
torch at all (a cold `deskbook search`); documents load the torch model when first needed.

Only models that are a Transformer, mean pooling and optionally a Normalize layer (what
all-MiniLM-L6-v2 and most sentence-transformers models are) are exported; any other model, a failed
export or `query_encoder = "torch"` keep torch for queries, as before.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np

from kb.config import cache_dir

log = logging.getLogger(__name__)

EXPORT_VERSION = 1
_WEIGHT_SUFFIXES = {".json", ".safetensors", ".bin", ".txt", ".model"}


def available() -> bool:
    """Whether ONNX Runtime is installed (it is a dependency; a stripped install may lack it)."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def exportable(model_path: str) -> bool:
    """Whether the model folder is a Transformer + mean pooling (+ Normalize) with a fast tokenizer."""
    folder = Path(model_path)
    try:
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
        kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
        pooling = next(m for m in modules if m["type"].endswith("Pooling"))
        pool = json.loads((folder / pooling["path"] / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError, StopIteration):
        return False
    modes = {k for k, v in pool.items() if k.startswith("pooling_mode") and v}
    return (kinds in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"])
            and modes == {"pooling_mode_mean_tokens"} and (folder / "tokenizer.json").is_file())


def fingerprint(model_path: str) -> str:
    """A short hash of the model folder's files (names, sizes, modification times) and the export's version."""
    folder = Path(model_path).resolve()
    h = hashlib.sha256(f"deskbook-query-onnx-{EXPORT_VERSION}\0{folder}".encode())
    for f in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in _WEIGHT_SUFFIXES):
        st = f.stat()
        h.update(f"\0{f.relative_to(folder)}\0{st.st_size}\0{st.st_mtime_ns}".encode())
    return h.hexdigest()[:20]


def export_folder(model_path: str) -> Path:
    return cache_dir() / "query-onnx" / fingerprint(model_path)


def find_export(model_path: str) -> Path | None:
    """The export of this model on this machine, if one is there and complete."""
    if not Path(model_path).is_dir():
        return None
    folder = export_folder(model_path)
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if meta.get("version") != EXPORT_VERSION or not (folder / "model.onnx").is_file():
        return None
    return folder


def export(st_model, model_path: str, name: str) -> Path:
    """Export the loaded sentence-transformers model (`st_model`, from `model_path`) into the cache; the folder
    appears complete or not at all (written aside, then renamed). Returns the folder."""
    import inspect

    import torch

    target = export_folder(model_path)
    if find_export(model_path) is not None:
        return target
    transformer = st_model[0]
    hf = transformer.auto_model if hasattr(transformer, "auto_model") else transformer.model
    with_types = "token_type_ids" in inspect.signature(hf.forward).parameters

    class Pooled(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids=None):
            extra = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
            hidden = self.inner(input_ids=input_ids, attention_mask=attention_mask, **extra).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, dim=-1)

    names = ["input_ids", "attention_mask"] + (["token_type_ids"] if with_types else [])
    sample = tuple(torch.ones((2, 8), dtype=torch.long) for _ in names)
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        work.chmod(0o755)  # as a folder made by mkdir: other users of a shared cache read it
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tracer's notes on Python branches, about shapes it keeps dynamic
            torch.onnx.export(Pooled(hf).eval(), sample, str(work / "model.onnx"), input_names=names,
                              output_names=["embedding"], opset_version=17, dynamo=False,
                              dynamic_axes={**{n: {0: "batch", 1: "tokens"} for n in names}, "embedding": {0: "batch"}})
        shutil.copy2(Path(model_path) / "tokenizer.json", work / "tokenizer.json")
        dim = getattr(st_model, "get_embedding_dimension", None) or st_model.get_sentence_embedding_dimension
        meta = {"version": EXPORT_VERSION, "name": name, "source": str(Path(model_path).resolve()),
                "dim": int(dim()), "max_tokens": int(st_model.max_seq_length),
                "lower_case": bool(getattr(transformer, "do_lower_case", False)), "inputs": names}
        (work / "meta.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
        try:
            os.replace(work, target)
        except OSError:  # another process finished the same export first: keep theirs
            if find_export(model_path) is None:
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


class OnnxQueryEncoder:
    """An exported model: tokenizer (the `tokenizers` library, as the model's fast tokenizer) and an ONNX
    Runtime session. `encode` gives L2-normalised float32 rows."""

    def __init__(self, folder: Path, threads: int = 0):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        self.dim = int(meta["dim"])
        self.max_tokens = int(meta["max_tokens"])
        self.lower_case = bool(meta.get("lower_case"))
        self.inputs = list(meta["inputs"])
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(self.max_tokens)
        pad = self.tokenizer.padding or {}  # the model's pad token where its tokenizer names one; to the longest
        self.tokenizer.enable_padding(pad_id=int(pad.get("pad_id", 0)), pad_token=str(pad.get("pad_token", "[PAD]")))
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
        # Idle threads sleep: spinning ones take the cores from torch and the web threads (as OMP_WAIT_POLICY).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"])

    def encode(self, texts: list[str]) -> np.ndarray:
        # as sentence-transformers' Transformer.tokenize: stripped, lower-cased where the model says so
        texts = [(t.lower() if self.lower_case else t).strip() for t in texts]
        out = []
        for i in range(0, len(texts), 32):
            enc = self.tokenizer.encode_batch(texts[i:i + 32])
            feeds = {"input_ids": np.array([e.ids for e in enc], dtype=np.int64),
                     "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64)}
            if "token_type_ids" in self.inputs:
                feeds["token_type_ids"] = np.array([e.type_ids for e in enc], dtype=np.int64)
            out.append(self.session.run(None, feeds)[0])
        vecs = np.concatenate(out).astype(np.float32, copy=False)
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        return vecs / np.where(norms > 0, norms, 1.0)


def load(model_path: str, threads: int = 0) -> OnnxQueryEncoder | None:
    """The exported query encoder of this model, or None (a model that cannot be exported, no export yet,
    ONNX Runtime missing, a broken export: then queries use torch, and a broken export is logged). The
    export is of the folder's files, whatever name the configuration gives the model."""
    if not (exportable(model_path) and available()):
        return None
    folder = find_export(model_path)
    if folder is None:
        return None
    try:
        return OnnxQueryEncoder(folder, threads)
    except Exception as exc:  # noqa: BLE001 - a damaged export must never stop searches
        log.warning("query encoder export %s unusable (%s: %s); queries use torch", folder, type(exc).__name__, exc)
        return None
