"""The work behind `deskbook qa score` and `deskbook qa eval`, as plain functions.

The CLI parses arguments and formats output; everything else happens here, so the web app and
tests can call the same code.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kb.csvout import csv_lines
from kb.errors import InputError
from kb.transcript import describe_inferred
from qa_rubrics.calibrate import EvalReport, evaluate, load_labels, tune, tuned_values
from qa_rubrics.rubric import Rubric, load_rubric, write_tuned_copy
from qa_rubrics.score import Scorecard, Scorer
from qa_rubrics.transcripts import LoadFailure, Transcript, TranscriptDefaults, load_inputs


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


def read_transcripts(inputs: Sequence[str | Path], config, *, exclude: Iterable[str | Path] = (),
                     defaults: TranscriptDefaults | None = None) -> tuple[list[Transcript], list[LoadFailure]]:
    items = list(load_inputs(inputs, aliases=config.speaker_aliases or (), exclude=exclude, defaults=defaults))
    return ([t for t in items if isinstance(t, Transcript)], [f for f in items if isinstance(f, LoadFailure)])


def score_inputs(rubric_path: str | Path, inputs: Sequence[str | Path], config, *, store=None, save: bool = False,
                 progress: bool = False, embedder=None, defaults: TranscriptDefaults | None = None) -> BatchResult:
    """Score every transcript in `inputs`; unreadable ones are collected, never fatal.

    With `save`, each scorecard is stored (with its redacted transcript) in `store`.
    """
    if not inputs:
        raise InputError("Give at least one transcript file or folder", field="inputs")
    rubric = load_rubric(rubric_path)
    transcripts, failures = read_transcripts(inputs, config, defaults=defaults)
    res = BatchResult(rubric, failures=failures, warnings=_warnings(rubric, store))
    no_agent = [t.id for t in transcripts if not t.agent]
    if no_agent:
        res.warnings.append(f"{len(no_agent)} transcript(s) name no agent ({', '.join(no_agent[:5])}"
                            f"{' ...' if len(no_agent) > 5 else ''}): give --agent, or an 'agent:' header in the file")
    for t in transcripts:
        if t.metadata.get("speakers_inferred"):
            told = describe_inferred(t.metadata["speakers_inferred"])
            res.warnings.append(f"{t.source or t.id}: speakers told apart by what they say ({told}); declare them "
                                "('# speakers: Speaker 1 = agent') if that is wrong")
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
    learning: Any = None  # qa_rubrics.learning.LearningResult, with --tune
    learned_path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = self.report.to_dict()
        if self.tuning is not None:
            out["tuning"] = {"criteria": self.tuning, "written_to": self.tuned_path}
            if self.learning is not None:
                out["tuning"]["learning"] = {**self.learning.to_dict(), "learned_file": self.learned_path}
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
    scorer.keep_conversations = tune_out is not None  # learning reuses what scoring embedded
    cards = list(scorer.score_many(labelled, progress=progress, total=len(labelled))) if labelled else []
    report = evaluate(cards, labels, rubric)
    result = EvalResult(rubric, report, cards, failures, warnings=_warnings(rubric, store) + scorer.warnings)
    if tune_out is not None:
        tune_rubric(result, scorer, labelled, labels, labels_path, tune_out, progress=progress)
    return result


def tune_rubric(result: EvalResult, scorer: Scorer, labelled: list[Transcript], labels, labels_path,
                tune_out: str | Path, *, progress: bool = False) -> None:
    """Thresholds (sop_steps, semantic.v1) and classifiers (semantic) from the labels; a tuned copy.

    The copy gets the next version number; learned classifiers go to `OUT.learned.npz`, named in
    the copy with their SHA-256."""
    from qa_rubrics.learning import learn_rubric

    rubric = result.rubric
    out = Path(tune_out)
    if rubric.path and out.resolve() == Path(rubric.path).resolve():
        raise InputError("--tune would overwrite the rubric itself", hint="write the tuned copy to another file",
                         field="tune")
    result.tuning = tune(result.cards, labels, rubric, scorer.config)
    values = tuned_values(result.tuning)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(labelled), desc="learning", unit="transcript", leave=False, dynamic_ncols=True)

    shown = ""  # the stage the bar shows

    def step(stage: str, n: int, total: int) -> None:
        nonlocal shown
        if bar is None:
            return
        if shown != stage:  # a new stage: a bar of its own length
            shown = stage
            bar.set_description(stage, refresh=False)
            bar.unit = "criterion" if stage == "learning" else "transcript"
            bar.reset(total=total)
        bar.update(n - bar.n)  # tqdm draws at most every few tenths of a second (a log is not flooded)

    try:
        result.learning = learn_rubric(scorer, labelled, labels, progress=step, source=str(labels_path))
    finally:
        if bar is not None:
            bar.close()
    learned_block = None
    new_version = rubric.version + 1
    if result.learning.learned.models:
        lm = result.learning.learned
        lm.meta["rubric_version"] = new_version
        path = out.with_name(out.name.removesuffix(".yaml").removesuffix(".yml") + ".learned.npz")
        digest = lm.save(path)
        result.learned_path = str(path)
        learned_block = {"file": path.name, "sha256": digest, "model": lm.meta["embedding_model"],
                         "trained_on": lm.meta["trained_on"], "created": lm.meta["created"]}
    adopted = [c.id for c in result.learning.criteria if c.adopted]
    note = (f"Tuned copy of {rubric.path} (version {rubric.version} -> {new_version}) written by `deskbook qa eval "
            f"--tune`\nfrom the labels in {labels_path} ({len(result.cards)} transcripts). Thresholds changed: "
            f"{', '.join(sorted(c for c, v in values.items() if 'threshold' in v)) or 'none'}.\n"
            f"Classifiers learned: {', '.join(adopted) or 'none'}.")
    result.tuned_path = str(write_tuned_copy(rubric, values, out, note=note, learned=learned_block,
                                             version=new_version))


CSV_BASE = ("transcript_id", "agent", "channel", "rubric_id", "rubric_version", "score", "verdict", "reason")


def scorecards_csv(cards: Sequence[Scorecard], rubric: Rubric) -> str:
    """One row per transcript: the total, the verdict and one column per criterion result."""
    ids = [c.id for c in rubric.criteria]
    rows = []
    for card in cards:
        d = card.to_dict()
        res = card.results()
        rows.append([*(d[k] if d[k] is not None else "" for k in CSV_BASE), *(res.get(i, "") for i in ids)])
    return csv_lines([*CSV_BASE, *ids], rows)
