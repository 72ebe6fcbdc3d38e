"""The `qa_score` background job: transcripts prescored against a rubric, each scorecard stored once.

Payload: the rubric's YAML text (so every worker scores with the rubric the analyst chose, whatever
its own files hold), its file name, and the speaker aliases; the transcript files travel with the
job in the database. They are parsed in a private temporary folder (they hold unredacted text),
scored, and each scorecard is stored with its redacted transcript under the idempotency key
`<job id>/<file>/<transcript id>`: a job taken over from a killed worker skips what is stored and
never stores a scorecard twice. Transcripts are scored in small batches (`Scorer.score_many`), each
scorecard stored as soon as it is made. The files are removed from the database when the job ends.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from kb.errors import DeskbookError
from kb.transcript import describe_inferred

LEARNED_FILE = "__rubric_learned__.npz"  # sent by the web app with a rubric tuned by `deskbook qa eval --tune`
# Transcripts scored together (sentences embedded in one call, the next batch parsed meanwhile): small
# enough that the job's progress moves often and a killed worker leaves little scored and not stored.
JOB_BATCH = 4


def _scorer(ctx, rubric_text: str, rubric_name: str, model_id: int | None = None, learned_bytes: bytes | None = None):
    """One Scorer per rubric text (or learned model) and worker process (its phrases are embedded once)."""
    from kb.models import content_hash
    from qa_rubrics.learned import LearnedModels
    from qa_rubrics.retrain import load_model
    from qa_rubrics.rubric import parse_rubric
    from qa_rubrics.score import Scorer

    key = "qa-scorer:" + (f"model-{model_id}" if model_id else content_hash(rubric_text))
    scorer = ctx.cache.get(key)
    if scorer is None:
        if model_id:
            active = load_model(ctx.store, int(model_id))
            rubric, learned = active.rubric, active.learned or LearnedModels()
        else:
            rubric = parse_rubric(rubric_text, Path(rubric_name).name or "rubric.yaml")
            learned = LearnedModels()
            if rubric.learned and learned_bytes:
                import hashlib

                if hashlib.sha256(learned_bytes).hexdigest() != rubric.learned["sha256"]:
                    raise DeskbookError(f"{rubric_name}: the learned classifiers sent with the job do not match "
                                        "learned.sha256", hint="re-run `deskbook qa eval --tune`")
                learned = LearnedModels.from_bytes(learned_bytes, source=f"{rubric_name} (learned)")
        scorer = Scorer(rubric, ctx.config, ctx.embedder, store=ctx.store, searcher=ctx.searcher, learned=learned)
        scorer.warm()
        for old in [k for k in ctx.cache if k.startswith("qa-scorer:")]:
            del ctx.cache[old]
        ctx.cache[key] = scorer
    return scorer


def score_transcripts(ctx) -> dict[str, Any]:
    from qa_rubrics.transcripts import LoadFailure, Transcript, TranscriptDefaults, load_inputs

    p = ctx.payload
    d = p.get("defaults") or {}
    defaults = TranscriptDefaults(agent=d.get("agent", ""), channel=d.get("channel", ""),
                                  started_at=d.get("started_at", ""), customer=d.get("customer", ""))
    store = ctx.store
    ids: list[int] = []
    failures: list[str] = []
    verdicts = {"pass": 0, "fail": 0, "na": 0}
    ctx.progress(0, 0, "reading transcripts")
    with tempfile.TemporaryDirectory(prefix="deskbook-transcripts-") as tmp:
        paths = []
        learned_bytes = None
        for name, data in ctx.files():
            if name == LEARNED_FILE:
                learned_bytes = data
                continue
            path = Path(tmp) / Path(name).name
            path.write_bytes(data)
            paths.append(path)
        items = list(load_inputs(paths, aliases=p.get("aliases") or (), defaults=defaults))
    transcripts = [t for t in items if not isinstance(t, LoadFailure)]
    failures += [f.reason.replace(tmp + "/", "") for f in items if isinstance(f, LoadFailure)]
    ctx.progress(0, len(transcripts), "preparing the rubric")
    if not transcripts:
        raise DeskbookError("No transcript could be read from the files" + (": " + "; ".join(failures[:5])
                                                                             if failures else ""),
                            hint="each file must hold a transcript: JSON, JSONL, 'Speaker: text' lines or WebVTT")
    scorer = _scorer(ctx, p["rubric_text"], p.get("rubric_name", "rubric.yaml"), p.get("model_id"), learned_bytes)
    todo: list[tuple[Transcript, str]] = []  # (transcript, idempotency key) not stored yet
    for t in transcripts:
        source = t.source.replace(tmp + "/", "")
        key = f"{ctx.job.id}/{source}/{t.id}"
        done = store.scorecard_for_key(key)
        if done is None:
            todo.append((t, key))
            continue
        ids.append(done)  # stored before this job was taken over
        verdict = store.get_scorecard(done)["verdict"]
        verdicts[verdict] = verdicts.get(verdict, 0) + 1

    def save(card, t: Transcript, key: str) -> None:
        sid = store.save_scorecard(card.to_dict(), transcript=card.transcript_record(t.source.replace(tmp + "/", "")),
                                   idempotency_key=key)
        ids.append(sid)
        verdicts[card.verdict] = verdicts.get(card.verdict, 0) + 1

    # In batches (sentences embedded together, the next batch parsed meanwhile), each scorecard stored as
    # it comes; an error stops the batches and what is left is scored one by one, so that it names its
    # transcript and the others are still scored.
    ctx.progress(len(ids), len(transcripts), "scoring")
    cards = scorer.score_many([t for t, _ in todo], batch=JOB_BATCH)
    for i, (t, key) in enumerate(todo):
        try:
            card = next(cards)
        except DeskbookError:
            for rest, rest_key in todo[i:]:
                ctx.progress(len(ids), len(transcripts), f"scoring {rest.id}")
                try:
                    save(scorer.score(rest), rest, rest_key)
                except DeskbookError as exc:
                    failures.append(f"{rest.id}: {exc}")
            break
        try:
            save(card, t, key)
        except DeskbookError as exc:
            failures.append(f"{t.id}: {exc}")
        ctx.progress(len(ids), len(transcripts), f"scored {t.id} ({i + 1} of {len(todo)})")
    ctx.progress(len(transcripts), len(transcripts), "done")
    summary = (f"{len(ids)} transcript(s) scored with {p.get('rubric_id', '')} v{p.get('rubric_version', '')}: "
               f"{verdicts['pass']} pass, {verdicts['fail']} fail, {verdicts['na']} n/a"
               + (f"; {len(failures)} skipped" if failures else ""))
    if not ids:
        raise DeskbookError("No transcript was scored: " + "; ".join(failures[:5]))
    no_agent = sum(1 for t in transcripts if not t.agent)
    if no_agent:
        summary += f"; {no_agent} without an agent (flagged in the review queue)"
    inferred = {t.id: t.metadata["speakers_inferred"] for t in transcripts if t.metadata.get("speakers_inferred")}
    if inferred:
        summary += (f"; in {len(inferred)} the speakers were told apart by what they say (e.g. "
                    f"{describe_inferred(next(iter(inferred.values())))}): check them in the review")
    return {"summary": summary, "scorecard_ids": ids, "errors": failures, "rubric": p.get("rubric_id", ""),
            "no_agent": no_agent, "speakers_inferred": inferred, **verdicts}


def retrain_rubric(ctx) -> dict[str, Any]:
    """The `qa_retrain` job: learn from the stored reviews of a rubric; a candidate model to adopt or discard."""
    from qa_rubrics.retrain import retrain
    from qa_rubrics.rubric import parse_rubric

    p = ctx.payload
    rubric = parse_rubric(p["rubric_text"], Path(p.get("rubric_name", "rubric.yaml")).name)
    ctx.progress(0, 0, "reading the reviews")

    def step(stage: str, n: int, total: int) -> None:
        ctx.progress(n, total, f"{stage} {n} of {total}")

    out = retrain(ctx.store, rubric, ctx.config, ctx.embedder, by=ctx.job.owner or "", progress=step)
    rep = out["report"]
    learned = rep.get("adopted") or []
    if out["model_id"] is None:
        summary = (f"Nothing to learn yet from {rep['reviewed_conversations']} reviewed conversation(s): "
                   "learning lowered every criterion's cross-validated agreement, or too few were reviewed")
    else:
        summary = (f"Candidate {rubric.id} v{out['version']} from {rep['reviewed_conversations']} reviewed "
                   f"conversation(s): learned {', '.join(learned)}; adopt or discard it")
    return {"summary": summary, "model_id": out["model_id"], "version": out["version"], "report": rep}
