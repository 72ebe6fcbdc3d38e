"""Cosine thresholds on each packaged embedding model's own scale.

A cosine means different things for different models: all-MiniLM-L6-v2 spreads sentences from about 0 to
0.9, multilingual-e5-small puts any two of them at 0.7-0.9. A threshold chosen with one model is wrong for
the other (with MiniLM's 0.4, no question was ever a content gap with the multilingual model). The
settings below take `auto`, the packaged model's own value, or a number that applies to any model.

How the multilingual model's values were set (the sample corpus indexed with each model; bench script
in docs/insights.md): the cosine at which the same share of the same population falls below as with
MiniLM's value. Content gaps: 2.5% of the answerable dev questions' best results are below 0.40 with
MiniLM, and below 0.84 with multilingual-e5. Ticket coverage: 14% of the sample tickets' best SOP
sections are below 0.45 with MiniLM, below 0.86 with multilingual-e5 (and tickets up to 0.1 above it are grouped with MiniLM, up to
0.016 above it with multilingual-e5: the same share again). Near-duplicate SOP sections:
MiniLM's 0.9 is above every pair of sections of two different SOPs (highest 0.81, 99.9th percentile
0.70); placed as far above multilingual-e5's highest pair (0.95, 99.9th percentile 0.93): 0.97. Live
assist's topic shift: `kb.assist`.
"""

from __future__ import annotations

from kb.errors import ConfigError

MINILM = "all-MiniLM-L6-v2"
E5 = "multilingual-e5-small"
PACKAGED: dict[str, dict[str, float]] = {
    "gap_score_threshold": {MINILM: 0.4, E5: 0.84},
    "ticket_coverage_threshold": {MINILM: 0.45, E5: 0.86},
    "near_duplicate_threshold": {MINILM: 0.9, E5: 0.97},
    "assist_shift_threshold": {MINILM: 0.4, E5: 0.87},
    # not a setting: how far above ticket_coverage_threshold tickets are still grouped (34% of the sample
    # tickets are below MiniLM's 0.45 + 0.1, the same share below 0.876 with multilingual-e5)
    "ticket_candidate_margin": {MINILM: 0.1, E5: 0.016},
}


def packaged_value(setting: str, model_name: str) -> float:
    """The packaged model's own value of a cosine setting (all-MiniLM-L6-v2's for a model without one)."""
    table = PACKAGED[setting]
    return next((v for prefix, v in table.items() if str(model_name or "").startswith(prefix)), table[MINILM])


def cosine_setting(config, setting: str, model_name: str) -> float:
    """A cosine setting's value for `model_name`: `auto` gives the packaged model's own, a number itself."""
    value = getattr(config, setting, "auto")
    if isinstance(value, str) and value.strip().lower() in ("auto", ""):
        return packaged_value(setting, model_name)
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not -1.0 <= number <= 1.0:
        raise ConfigError(f"Setting {setting!r} is {value!r}: use auto or a cosine similarity from -1 to 1",
                          hint=f"auto = the packaged model's own ({', '.join(f'{k} {v:g}' for k, v in PACKAGED[setting].items())})",
                          field=setting)
    return number


def store_model(store) -> str:
    """The embedding model a knowledge base was indexed with ('' before anything is indexed)."""
    try:
        return str(store.get_meta("model") or "")
    except Exception:  # noqa: BLE001 - a store without that key (or not opened yet): no model known
        return ""
