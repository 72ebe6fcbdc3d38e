"""Cosine thresholds on each packaged embedding model's own scale.

A cosine means different things for different models: all-MiniLM-L6-v2 spreads sentences from about 0
to 0.9, multilingual-e5-small puts any two of them at 0.7-0.9. A threshold chosen with one model is
wrong for the other (with MiniLM's 0.4, no question was ever a content gap with the multilingual
model). The settings below take `auto`, the packaged model's own value, or a number that applies to
any model.

How the multilingual model's values were set (the sample corpus indexed with each model; `python
bench/bench_scales.py` reproduces them, and gives a team's own model its values): the value at which
the same share of the same population falls below as with MiniLM's value, no labels involved.

- Content gaps: 2.5% of the answerable dev questions' best results are below 0.40 with MiniLM, below
  0.84 with multilingual-e5.
- Ticket coverage: 14% of the sample tickets' best SOP sections are below 0.45 with MiniLM, below 0.86
  with multilingual-e5; tickets up to 0.1 above it are grouped with MiniLM, up to 0.016 above it with
  multilingual-e5 (the same share again).
- Near-duplicate SOP sections: MiniLM's 0.9 is above every pair of sections of two different SOPs
  (highest 0.81, 99.9th percentile 0.70); placed as far above multilingual-e5's highest pair (0.95,
  99.9th percentile 0.93): 0.97.
- Contradictions: 99.2% of those section pairs are below MiniLM's 0.6, below 0.91 with
  multilingual-e5; 99.96% of the pairs of sentences (five words or more) of two SOPs are below 0.7,
  below 0.925.
- QA `sop_steps`: 10% of the sample calls' and chats' best SOP (searched with the customer's first
  turns) are below MiniLM's 0.35, below 0.82 with multilingual-e5; 60% of the steps' best match score
  in the agent's sentences (similarity plus keyword overlap) are below 0.5, below 0.885.
- Live assist's topic shift: `kb.assist`.
"""

from __future__ import annotations

from typing import TypeVar

from kb.errors import ConfigError

T = TypeVar("T")

MINILM = "all-MiniLM-L6-v2"
E5 = "multilingual-e5-small"
PACKAGED: dict[str, dict[str, float]] = {
    "gap_score_threshold": {MINILM: 0.4, E5: 0.84},
    "ticket_coverage_threshold": {MINILM: 0.45, E5: 0.86},
    "near_duplicate_threshold": {MINILM: 0.9, E5: 0.97},
    "assist_shift_threshold": {MINILM: 0.4, E5: 0.87},
    "contradiction_similarity": {MINILM: 0.6, E5: 0.91},
    "contradiction_sentence_similarity": {MINILM: 0.7, E5: 0.925},
    "qa_sop_min_similarity": {MINILM: 0.35, E5: 0.82},
    "qa_step_threshold": {MINILM: 0.5, E5: 0.885},
    # not a setting: how far above ticket_coverage_threshold tickets are still grouped (34% of the sample
    # tickets are below MiniLM's 0.45 + 0.1, the same share below 0.876 with multilingual-e5)
    "ticket_candidate_margin": {MINILM: 0.1, E5: 0.016},
    # not a setting: how far above qa_sop_min_similarity a searched SOP is fully trusted in sop_steps'
    # confidence (the sample calls' median best-SOP similarity is 0.126 above MiniLM's 0.35 and 0.025 above
    # multilingual-e5's 0.82: the span shrinks in the same ratio)
    "qa_sop_confidence_span": {MINILM: 0.2, E5: 0.04},
}
RANGES = {"qa_step_threshold": (0.0, 2.0)}  # similarity plus keyword overlap; the others are cosines (-1 to 1)


def for_model(table: dict[str, T], model_name: str) -> T | None:
    """The entry of a per-model table (keys: the start of a packaged model's recorded name, as here, in
    kb.scales.WEAK_MATCH and kb.answers.CONFIDENCE_MODELS) for `model_name`; None for another model."""
    name = str(model_name or "")
    return next((v for prefix, v in table.items() if name.startswith(prefix)), None)


def packaged_value(setting: str, model_name: str) -> float:
    """The packaged model's own value of a cosine setting (all-MiniLM-L6-v2's for a model without one)."""
    value = for_model(PACKAGED[setting], model_name)
    return PACKAGED[setting][MINILM] if value is None else value


def check_setting(setting: str, value) -> str | float:
    """`auto` or the number a scaled setting holds; anything else is a ConfigError naming the setting (the
    configuration checks this when it is read, so a wrong value stops a command before it starts)."""
    if isinstance(value, str) and value.strip().lower() in ("auto", ""):
        return "auto"
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    low, high = RANGES.get(setting, (-1.0, 1.0))
    if not low <= number <= high:
        own = ", ".join(f"{k} {v:g}" for k, v in PACKAGED[setting].items())
        raise ConfigError(f"Setting {setting!r} is {value!r}: use auto or a number from {low:g} to {high:g}",
                          hint=f"auto = the packaged model's own ({own})", field=setting)
    return number


def cosine_setting(config, setting: str, model_name: str) -> float:
    """A cosine setting's value for `model_name`: `auto` gives the packaged model's own, a number itself."""
    value = check_setting(setting, getattr(config, setting, "auto"))
    return packaged_value(setting, model_name) if value == "auto" else float(value)


def configured_model(config) -> str:
    """The model name the `model` setting stands for, without loading it ('' when it cannot be told)."""
    try:
        from kb.embed import model_name

        return model_name(str(getattr(config, "model", "") or ""))
    except Exception:  # noqa: BLE001 - the multilingual extra missing: its own error comes when it is used
        return str(getattr(config, "model", "") or "")


def store_model(store) -> str:
    """The embedding model a knowledge base was indexed with ('' before anything is indexed)."""
    try:
        return str(store.get_meta("model") or "")
    except Exception:  # noqa: BLE001 - a store without that key (or not opened yet): no model known
        return ""


# Best cosine similarity under which nothing in the knowledge base is close to the query, per packaged
# model: the 5th percentile of the answerable dev questions' best cosine (so about 1 in 20 real questions
# is flagged), measured against corpus/eval/out_of_scope.jsonl (docs/search.md). (same language, a
# question in a language the knowledge base does not hold): multilingual-e5's cosines across languages
# are lower than its cosines of unrelated English questions, so no threshold holds there: no flag.
WEAK_MATCH: dict[str, tuple[float, float | None]] = {"all-MiniLM-L6-v2": (0.42, 0.42),
                                                     "multilingual-e5-small-q4": (0.85, None)}


def weak_match_threshold(config, model_name: str, *, cross_language: bool = False) -> float | None:
    """The `weak_match_threshold` setting, or the packaged model's own ("auto"); None: no flag."""
    value = getattr(config, "weak_match_threshold", "auto")
    if str(value).strip().lower() not in ("auto", ""):
        return float(value)
    pair = for_model(WEAK_MATCH, model_name)
    if pair is None:
        return None
    same, cross = pair
    return cross if cross_language else same
