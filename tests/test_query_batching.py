"""Queries waiting for the model are encoded together (kb.sidework.Batcher, kb.embed.query_batcher): each
caller gets its own vectors, a lone query is encoded at once, an error reaches every caller of its batch, and the real
model gives the same vectors batched as alone."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest

from kb.embed import QueryFirstLock, query_batcher


class SlowEncoder:
    """Vectors that say which text they are for; each call takes a while and is recorded."""

    def __init__(self, delay: float = 0.05, fail_on: str | None = None):
        self.calls: list[list[str]] = []
        self.delay = delay
        self.fail_on = fail_on

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        time.sleep(self.delay)
        if self.fail_on is not None and self.fail_on in texts:
            raise RuntimeError(f"cannot encode {self.fail_on!r}")
        return np.array([[float(t.split("-")[1]), float(len(t))] for t in texts], dtype=np.float32)


def run_concurrently(batcher, groups: list[list[str]]) -> list:
    out: list = [None] * len(groups)

    def call(i: int) -> None:
        try:
            out[i] = batcher.run(groups[i])
        except Exception as exc:  # noqa: BLE001 - the test looks at it
            out[i] = exc

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(groups))]
    for th in threads:
        th.start()
        time.sleep(0.002)
    for th in threads:
        th.join(timeout=30)
    return out


def test_a_lone_query_is_encoded_at_once():
    enc = SlowEncoder(delay=0.0)
    vec = query_batcher(QueryFirstLock(), enc).run(["q-7"])
    assert enc.calls == [["q-7"]] and vec.tolist() == [[7.0, 3.0]]


def test_waiting_queries_share_a_call_and_each_gets_its_own_vectors():
    enc = SlowEncoder()
    groups = [[f"q-{i}"] for i in range(12)] + [["q-20", "q-21"]]
    out = run_concurrently(query_batcher(QueryFirstLock(), enc), groups)
    for g, vecs in zip(groups, out, strict=True):
        assert [int(v[0]) for v in vecs] == [int(t.split("-")[1]) for t in g]
    assert len(enc.calls) < len(groups)  # the ones that queued behind the first call went together
    assert sorted(t for c in enc.calls for t in c) == sorted(t for g in groups for t in g)


def test_a_batch_never_exceeds_max_texts():
    enc = SlowEncoder()
    run_concurrently(query_batcher(QueryFirstLock(), enc, max_texts=3), [[f"q-{i}"] for i in range(10)])
    assert max(len(c) for c in enc.calls) <= 3


def test_an_error_reaches_every_caller_of_its_batch_and_the_next_batch_works():
    enc = SlowEncoder(fail_on="q-3")
    batcher = query_batcher(QueryFirstLock(), enc)
    out = run_concurrently(batcher, [[f"q-{i}"] for i in range(6)])
    failed = [o for o in out if isinstance(o, Exception)]
    assert failed and all("q-3" in str(e) for e in failed)
    assert batcher.run(["q-9"]).tolist() == [[9.0, 3.0]]


@pytest.mark.parametrize("n", [8])
def test_the_real_model_gives_the_same_vectors_batched(embedder, n):
    queries = [f"how do I refund order {i} to the original card" if i % 2 else "parcel lost" for i in range(n)]
    alone = np.vstack([embedder.encode_queries([q]) for q in queries])
    out = run_concurrently(embedder._queries, [[q] for q in queries])
    together = np.vstack(out)
    assert np.allclose(alone, together, atol=1e-5)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_is_not_stuck_on_a_mutex_held_at_the_fork():
    """A pre-forking server may fork while one of the parent's threads holds a batcher's mutex: the child
    still serves its own callers (the parent's waiting callers do not exist there)."""
    from kb.sidework import Batcher

    b = Batcher(threading.Lock, lambda items: [x * 2 for x in items])
    b._mutex.acquire()  # as if a parent's thread were inside run() at the fork
    try:
        pid = os.fork()
        if pid == 0:  # the child: exit 0 only if the batcher works
            ok = False
            try:
                ok = b.run([1, 2]) == [2, 4]
            finally:
                os._exit(0 if ok else 1)
        deadline = time.monotonic() + 20
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                pytest.fail("the forked child waited forever for the parent's mutex")
            time.sleep(0.05)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        b._mutex.release()
    assert b.run([3]) == [6]


def test_counting_tokens_leaves_the_models_tokenizer_as_an_encode_set_it(embedder):
    """The indexer counts tokens (chunking the next batch) while another thread encodes: counting with the
    model's own tokenizer switched its padding and truncation off under the running encode, which then
    failed ("Unable to create tensor"). Counting uses a tokenizer of its own, and counts the same."""
    tok = embedder.model.tokenizer
    tok(["a short text", "a somewhat longer text to pad against"], padding=True, truncation=True, max_length=256)
    core = tok._tokenizer
    before = (core.truncation, core.padding)
    assert before[0] is not None  # an encode's settings are in place
    text = "Customer says the parcel never arrived; wants a refund to the original card. " * 20
    assert embedder.count_tokens(text) == len(tok.tokenize(text)) > 256  # counted in full, not truncated
    tok(["a short text", "a somewhat longer text to pad against"], padding=True, truncation=True, max_length=256)
    embedder.count_tokens("another text")
    assert (core.truncation, core.padding) == before

