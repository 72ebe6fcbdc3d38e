"""The work behind `deskbook qa score` and `deskbook qa eval`, as plain functions.

The CLI parses arguments and formats output; everything else happens here, so the web app and
tests can call the same code.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kb.errors import InputError
from qa_rubrics.calibrate import EvalReport, evaluate, load_labels, tune, tuned_values
from qa_rubrics.rubric import Rubric, load_rubric, write_tuned_copy
from qa_rubrics.score import Scorecard, Scorer
from qa_rubrics.transcripts import LoadFailure, Transcript, load_inputs


@dataclass
class BatchResult:
    rubric: Rubric
    cards: list[Scorecard] = field(default_factory=list)
    failures: list[LoadFailure] = field(default_factory=list)
    stored: list[int] = field(default_factory=list)  # scorecard ids, when stored
    warnings: list[str] = field(default_factory=list)


def _warnings(rubric: Rubric, store) -> list[str]:
    out = []
    if store is None and any(c.check.method_name == "sop_steps" for c in rubric.criteria):
        out.append("no knowledge base (--db): sop_steps criteria are N/A")
    return out


def read_transcripts(inputs: Sequence[str | Path], config, *, exclude: Iterable[str | Path] = ()) \
        -> tuple[list[Transcript], list[LoadFailure]]:
    items = list(load_inputs(inputs, aliases=config.speaker_aliases or (), exclude=exclude))
    return ([t for t in items if isinstance(t, Transcript)], [f for f in items if isinstance(f, LoadFailure)])


def score_inputs(rubric_path: str | Path, inputs: Sequence[str | Path], config, *, store=None, save: bool = False,
                 progress: bool = False, embedder=None) -> BatchResult:
    """Score every transcript in `inputs`; unreadable ones are collected, never fatal.

    With `save`, each scorecard is stored (with its redacted transcript) in `store`.
    """
    if not inputs:
        raise InputError("Give at least one transcript file or folder", field="inputs")
    rubric = load_rubric(rubric_path)
    transcripts, failures = read_transcripts(inputs, config)
    res = BatchResult(rubric, failures=failures, warnings=_warnings(rubric, store))
    if not transcripts:
        return res
    scorer = Scorer(rubric, config, embedder, store=store)
    for t, card in zip(transcripts, scorer.score_many(transcripts, progress=progress, total=len(transcripts)),
                       strict=True):
        res.cards.append(card)
        if save and store is not None:
            res.stored.append(store.save_scorecard(card.to_dict(), transcript=card.transcript_record(t.source)))
    return res


@dataclass
class EvalResult:
    rubric: Rubric
    report: EvalReport
    cards: list[Scorecard]
    failures: list[LoadFailure]
    tuning: dict[str, dict[str, Any]] | None = None
    tuned_path: str | None = None
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = self.report.to_dict()
        if self.tuning is not None:
            out["tuning"] = {"criteria": self.tuning, "written_to": self.tuned_path}
        if self.failures:
            out["skipped"] = [{"source": f.source, "reason": f.reason} for f in self.failures]
        return out


def eval_inputs(rubric_path: str | Path, labels_path: str | Path, inputs: Sequence[str | Path], config, *,
                store=None, tune_out: str | Path | None = None, progress: bool = False,
                embedder=None) -> EvalResult:
    """Score the labelled transcripts among `inputs` and compare with the labels; optionally tune."""
    rubric = load_rubric(rubric_path)
    labels = load_labels(labels_path, rubric.id)
    if not labels:
        raise InputError(f"{labels_path} has no labels for rubric '{rubric.id}'", field="labels")
    transcripts, failures = read_transcripts(inputs, config, exclude=[labels_path])
    labelled = [t for t in transcripts if t.id in labels]
    scorer = Scorer(rubric, config, embedder, store=store)
    cards = list(scorer.score_many(labelled, progress=progress, total=len(labelled))) if labelled else []
    report = evaluate(cards, labels, rubric)
    result = EvalResult(rubric, report, cards, failures, warnings=_warnings(rubric, store))
    if tune_out is not None:
        result.tuning = tune(cards, labels, rubric, config)
        values = tuned_values(result.tuning)
        note = (f"Tuned copy of {rubric.path} written by `deskbook qa eval --tune` from the labels in\n"
                f"{labels_path} ({len(cards)} transcripts). Thresholds changed: "
                f"{', '.join(sorted(c for c, v in values.items() if 'threshold' in v)) or 'none'}.")
        result.tuned_path = str(write_tuned_copy(rubric, values, tune_out, note=note))
    return result


CSV_BASE = ("transcript_id", "agent", "channel", "rubric_id", "rubric_version", "score", "verdict", "reason")


def scorecards_csv(cards: Sequence[Scorecard], rubric: Rubric) -> str:
    """One row per transcript: the total, the verdict and one column per criterion result."""
    buf = io.StringIO()
    w = csv.writer(buf)
    ids = [c.id for c in rubric.criteria]
    w.writerow([*CSV_BASE, *ids])
    for card in cards:
        d = card.to_dict()
        res = card.results()
        w.writerow([*(d[k] if d[k] is not None else "" for k in CSV_BASE), *(res.get(i, "") for i in ids)])
    return buf.getvalue()
