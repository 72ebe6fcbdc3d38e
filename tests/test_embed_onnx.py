"""Queries through ONNX Runtime (kb.embed_onnx): the model exported once into the cache gives the same vectors
as sentence-transformers, a fresh process encodes queries without torch, and a damaged export or
`query_encoder = "torch"` leaves queries on torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kb import embed_onnx
from kb.embed import SentenceTransformerEmbedder, default_model_path

ROOT = Path(__file__).resolve().parent.parent

TEXTS = ["where is my parcel", "  I was charged twice for my order  ", "refund " * 400,
         "Ünïcode façade — ist das Paket schon unterwegs? Kargom nerede?", "", "DM us your order number ^JS 😀"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A cache of its own, with the default model exported into it once."""
    folder = tmp_path_factory.mktemp("deskbook-cache")
    old = os.environ.get("DESKBOOK_CACHE_DIR")
    os.environ["DESKBOOK_CACHE_DIR"] = str(folder)
    try:
        yield folder
    finally:
        if old is None:
            os.environ.pop("DESKBOOK_CACHE_DIR", None)
        else:
            os.environ["DESKBOOK_CACHE_DIR"] = old


EXPORTS_ANNOUNCED: list[str] = []


@pytest.fixture(scope="module")
def exported(cache):
    emb = SentenceTransformerEmbedder()
    assert emb._onnx is None  # nothing exported in this cache yet: the torch model is loaded, as before
    assert emb.prepare_queries(on_export=lambda: EXPORTS_ANNOUNCED.append("export")) is True
    return emb


def test_the_export_is_announced_only_when_it_is_made(exported):
    assert EXPORTS_ANNOUNCED == ["export"]
    again = SentenceTransformerEmbedder()
    again._onnx = None  # as a process that started before the export existed
    assert again.prepare_queries(on_export=lambda: EXPORTS_ANNOUNCED.append("again")) is True
    assert EXPORTS_ANNOUNCED == ["export"] and again._onnx is not None


def test_onnx_queries_give_the_models_own_vectors(exported):
    reference = exported.model.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    got = exported.encode_queries(TEXTS)
    assert got.shape == (len(TEXTS), 384) and got.dtype == np.float32
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    # the 400-word text is cut at the model's 256 tokens, as sentence-transformers cuts it
    assert (got * reference).sum(axis=1).min() > 0.99999
    one = exported.encode_queries(["where is my parcel"])
    assert float(one[0] @ reference[0]) > 0.99999


def test_export_folder_is_complete_and_reused(exported, cache):
    folder = embed_onnx.find_export(default_model_path())
    assert folder is not None and folder.parent == cache / "query-onnx"
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    assert meta["name"] == "all-MiniLM-L6-v2" and meta["dim"] == 384 and meta["max_tokens"] == 256
    assert sorted(p.name for p in folder.iterdir()) == ["meta.json", "model.onnx", "tokenizer.json"]
    before = (folder / "model.onnx").stat().st_mtime_ns
    assert embed_onnx.export(exported.model, default_model_path(), "all-MiniLM-L6-v2") == folder
    assert (folder / "model.onnx").stat().st_mtime_ns == before  # not exported again
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no half-written folder left


def test_a_fresh_process_encodes_queries_without_torch(exported, cache):
    code = ("import sys; from kb.embed import SentenceTransformerEmbedder as E; e = E(); "
            "v = e.encode_queries(['where is my parcel']); "
            "print(e._onnx is not None, 'torch' in sys.modules, v.shape, e.dim, e.max_tokens)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300,
                         env={**os.environ, "DESKBOOK_CACHE_DIR": str(cache)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "False", "(1,", "384)", "384", "256"]


def test_documents_still_load_the_torch_model(exported, cache):
    emb = SentenceTransformerEmbedder()
    assert emb._onnx is not None and emb._model is None
    docs = emb.encode_documents(TEXTS[:2])
    assert emb._model is not None
    assert (docs * emb.encode_queries(TEXTS[:2])).sum(axis=1).min() > 0.9999


def test_torch_setting_never_exports_or_uses_onnx(exported):
    emb = SentenceTransformerEmbedder(query_encoder="torch")
    assert emb._onnx is None and emb.prepare_queries() is False and emb._onnx is None


def test_a_damaged_export_falls_back_to_torch(exported, cache, tmp_path, monkeypatch, caplog):
    broken = tmp_path / "cache"
    good = embed_onnx.find_export(default_model_path())
    copy = broken / "query-onnx" / good.name
    copy.mkdir(parents=True)
    for name in ("meta.json", "tokenizer.json"):
        (copy / name).write_bytes((good / name).read_bytes())
    (copy / "model.onnx").write_bytes((good / "model.onnx").read_bytes()[:4096])  # a disk that filled up
    monkeypatch.setenv("DESKBOOK_CACHE_DIR", str(broken))
    emb = SentenceTransformerEmbedder()
    assert emb._onnx is None and "unusable" in caplog.text
    vec = emb.encode_queries(["where is my parcel"])
    assert vec.shape == (1, 384)


def test_exportable_names_the_models_it_can_export(tmp_path):
    assert embed_onnx.exportable(default_model_path())
    folder = tmp_path / "model"
    (folder / "1_Pooling").mkdir(parents=True)
    (folder / "tokenizer.json").write_text("{}", encoding="utf-8")
    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
    (folder / "modules.json").write_text(json.dumps(modules), encoding="utf-8")
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_cls_token": True}), encoding="utf-8")
    assert not embed_onnx.exportable(str(folder))  # CLS pooling: the export would not be the model's vectors
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_mean_tokens": True}), encoding="utf-8")
    assert embed_onnx.exportable(str(folder))
    first = embed_onnx.fingerprint(str(folder))
    (folder / "tokenizer.json").write_text('{"changed": 1}', encoding="utf-8")
    assert embed_onnx.fingerprint(str(folder)) != first  # an adapted or replaced model gets its own export
    assert not embed_onnx.exportable(str(tmp_path / "missing"))


def test_a_failing_onnx_encode_falls_back_to_torch(exported, caplog):
    emb = SentenceTransformerEmbedder()
    assert emb._onnx is not None

    class Broken:
        def encode(self, texts):
            raise RuntimeError("session gone")

    emb._onnx = Broken()
    vec = emb.encode_queries(["where is my parcel"])  # answered through torch, not an error
    assert vec.shape == (1, 384) and emb._onnx is None and "queries use torch" in caplog.text
    reference = exported.model.encode(["where is my parcel"], normalize_embeddings=True)
    assert float(vec[0] @ reference[0]) > 0.99999
