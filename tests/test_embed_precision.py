"""Document batches in bfloat16 where the CPU computes in it natively (`embedding_precision`): the vectors
are the float32 model's to within rounding, so stored and new vectors mix; queries stay float32."""

from __future__ import annotations

import numpy as np
import pytest

from kb.config import load_config
from kb.embed import SentenceTransformerEmbedder, get_embedder, native_bf16
from kb.errors import ConfigError

TEXTS = ["My parcel says delivered but I never got it.",
         "Refunds go back to the original payment method within 5 to 7 working days.",
         "Ask the customer to confirm the email address on the account before resetting the password.",
         "Danke, das hat geholfen!"]


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    made = {}
    for prec in ("fp32", "bf16"):
        config = load_config(data_dir=str(tmp_path_factory.mktemp(prec))).with_overrides(embedding_precision=prec)
        made[prec] = get_embedder(config)
    return made


def test_bf16_documents_are_the_fp32_vectors_to_within_rounding(both):
    fp32, bf16 = both["fp32"], both["bf16"]
    assert not fp32.bf16 and bf16.bf16
    a, b = fp32.encode_documents(TEXTS), bf16.encode_documents(TEXTS)
    assert a.dtype == b.dtype == np.float32 and a.shape == b.shape
    assert np.allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-4)
    cos = (a * b).sum(axis=1)
    assert cos.min() > 0.999, cos
    # what the texts are nearest to does not change
    assert ((a @ a.T).argsort(axis=1) == (b @ b.T).argsort(axis=1)).all()


def test_queries_stay_float32(both):
    q = ["where is my refund"]
    assert np.array_equal(both["bf16"].encode_queries(q), both["fp32"].encode_queries(q))


def test_auto_follows_the_cpu_and_a_bad_value_names_the_setting(tmp_path):
    auto = get_embedder(load_config(data_dir=str(tmp_path)))
    assert auto.bf16 == native_bf16()
    with pytest.raises(ConfigError) as exc:
        SentenceTransformerEmbedder(precision="fp16")
    assert exc.value.field == "embedding_precision" and "auto, fp32, bf16" in str(exc.value)
    with pytest.raises(ConfigError) as exc:
        load_config(data_dir=str(tmp_path)).with_overrides(embedding_precision="half")
    assert "embedding_precision" in str(exc.value)
