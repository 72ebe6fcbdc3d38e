"""Learning from the analysts' reviews in the database: retrain, then adopt or discard.

Every confirmed or overridden verdict in the review screen is a label. `retrain` reads the
reviewed conversations of a rubric (their redacted turns, the latest review per criterion),
learns a classifier per semantic criterion (`qa_rubrics.learning`: the rubric's examples stay the
prior; the agreement before and the cross-validated agreement after are measured per criterion)
and stores the result as a *candidate* model: the rubric's text with the next version number and
the classifiers. Nothing changes for scoring until someone adopts it; then new scorecards are
scored with that version, and older ones keep the version they were scored with.

`active_rubric` is what scoring uses: the rubric file, or the adopted model learned for that very
file (same text hash). A rubric file edited since the model was learned gets its own examples
back until the model is retrained.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from kb.errors import InputError
from qa_rubrics.learned import LearnedModels
from qa_rubrics.rubric import Rubric, parse_rubric, tuned_text
from qa_rubrics.transcripts import Transcript, Turn

STORED_FILE = "(stored in the database)"


@dataclass
class ActiveRubric:
    rubric: Rubric
    learned: LearnedModels | None = None
    model_id: int | None = None  # the adopted model's id, when it applies

    @property
    def label(self) -> str:
        r = self.rubric
        return f"{r.id} v{r.version}" + (" (learned from reviews)" if self.model_id else "")


def load_model(store, model_id: int) -> ActiveRubric:
    """The rubric version and classifiers of a stored model, checked against the recorded hash."""
    row = store.get_qa_model(model_id)
    rubric = parse_rubric(row["rubric_text"], f"{row['rubric_id']} v{row['version']} (learned)")
    learned = None
    if row.get("learned"):
        digest = hashlib.sha256(row["learned"]).hexdigest()
        if rubric.learned and rubric.learned.get("sha256") != digest:
            raise InputError(f"Learned model {model_id}: the stored classifiers do not match the rubric's hash",
                             hint="retrain the rubric from its reviews", field="learned")
        learned = LearnedModels.from_bytes(row["learned"], source=f"learned model {model_id}")
    return ActiveRubric(rubric, learned, model_id)


def active_rubric(store, rubric: Rubric) -> ActiveRubric:
    """The adopted model learned for this rubric file, when there is one; else the file itself."""
    row = store.adopted_qa_model(rubric.id) if store is not None else None
    if row is None or row["base_hash"] != rubric.hash:
        return ActiveRubric(rubric)
    return load_model(store, row["id"])


def labelled_transcripts(store, rubric_id: str) -> tuple[list[Transcript], dict[str, dict[str, str]]]:
    """The reviewed conversations of a rubric as transcripts (redacted turns) and their labels."""
    transcripts, labels = [], {}
    for item in store.review_labels(rubric_id):
        turns = [Turn(t.get("speaker", "other"), t.get("text", ""), t.get("start"), t.get("end"))
                 for t in item["turns"] if t.get("text")]
        if not turns or not item["labels"]:
            continue
        tid = str(item["transcript_id"])
        transcripts.append(Transcript(id=tid, turns=turns, agent=item.get("agent") or "",
                                      channel=item.get("channel") or ""))
        labels[tid] = dict(item["labels"])
    return transcripts, labels


def retrain(store, rubric: Rubric, config, embedder=None, *, by: str, progress=None) -> dict[str, Any]:
    """Learn from the stored reviews of `rubric` (the file's rubric); store a candidate model.

    Returns {"model_id", "version", "report"}; with nothing learnable, no model is stored and
    `model_id` is None (the report says why)."""
    from qa_rubrics.learning import learn_rubric
    from qa_rubrics.score import Scorer

    transcripts, labels = labelled_transcripts(store, rubric.id)
    if not transcripts:
        raise InputError(f"No reviewed conversations for rubric {rubric.id!r} yet",
                         hint="confirm or override verdicts in the review screen first, then retrain", field="rubric")
    current = active_rubric(store, rubric)
    # "before" is what scoring does today: the adopted model's classifiers where there are some
    scorer = Scorer(rubric, config, embedder, store=store, learned=current.learned or LearnedModels())
    scorer.keep_conversations = True
    result = learn_rubric(scorer, transcripts, labels, progress=progress, source=f"reviews of {rubric.id}")
    report = {**result.to_dict(), "reviewed_conversations": len(transcripts),
              "based_on": current.label}
    if not result.learned.models:
        return {"model_id": None, "version": None, "report": report}
    models = store.list_qa_models(rubric.id, limit=1000)
    version = max([rubric.version] + [m["version"] for m in models]) + 1
    lm = result.learned
    lm.meta["rubric_version"] = version
    blob = lm.to_bytes()
    digest = hashlib.sha256(blob).hexdigest()
    block = {"file": STORED_FILE, "sha256": digest, "model": lm.meta["embedding_model"],
             "trained_on": lm.meta["trained_on"], "created": lm.meta["created"]}
    adopted = [c.id for c in result.criteria if c.adopted]
    note = (f"Version {version} of {rubric.id}: classifiers learned from {len(transcripts)} reviewed conversations "
            f"by {by}.\nLearned: {', '.join(adopted)}.")
    text = tuned_text(rubric, {}, note=note, learned=block, version=version)
    model_id = store.save_qa_model(rubric_id=rubric.id, base_hash=rubric.hash, version=version, rubric_text=text,
                                   learned=blob, report=report, trained_on=len(transcripts), created_by=by)
    return {"model_id": model_id, "version": version, "report": report}
