"""The `qa_score` background job: transcripts prescored against a rubric, each scorecard stored once.

Payload: the rubric's YAML text (so every worker scores with the rubric the analyst chose, whatever
its own files hold), its file name, and the speaker aliases; the transcript files travel with the
job in the database. They are parsed in a private temporary folder (they hold unredacted text),
scored, and each scorecard is stored with its redacted transcript under the idempotency key
`<job id>/<file>/<transcript id>`: a job taken over from a killed worker skips what is stored and
never stores a scorecard twice. The files are removed from the database when the job ends.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from kb.errors import DeskbookError


def _scorer(ctx, rubric_text: str, rubric_name: str):
    """One Scorer per rubric text and worker process (its phrases are embedded once)."""
    from kb.models import content_hash
    from qa_rubrics.rubric import load_rubric
    from qa_rubrics.score import Scorer

    key = "qa-scorer:" + content_hash(rubric_text)
    scorer = ctx.cache.get(key)
    if scorer is None:
        with tempfile.TemporaryDirectory(prefix="deskbook-rubric-") as tmp:
            path = Path(tmp) / (Path(rubric_name).name or "rubric.yaml")
            path.write_text(rubric_text, encoding="utf-8")
            rubric = load_rubric(path)
        scorer = Scorer(rubric, ctx.config, ctx.embedder, store=ctx.store, searcher=ctx.searcher)
        for old in [k for k in ctx.cache if k.startswith("qa-scorer:")]:
            del ctx.cache[old]
        ctx.cache[key] = scorer
    return scorer


def score_transcripts(ctx) -> dict[str, Any]:
    from qa_rubrics.transcripts import LoadFailure, load_inputs

    p = ctx.payload
    store = ctx.store
    ids: list[int] = []
    failures: list[str] = []
    verdicts = {"pass": 0, "fail": 0, "na": 0}
    ctx.progress(0, 0, "reading transcripts")
    with tempfile.TemporaryDirectory(prefix="deskbook-transcripts-") as tmp:
        paths = []
        for name, data in ctx.files():
            path = Path(tmp) / Path(name).name
            path.write_bytes(data)
            paths.append(path)
        items = list(load_inputs(paths, aliases=p.get("aliases") or ()))
    transcripts = [t for t in items if not isinstance(t, LoadFailure)]
    failures += [f.reason.replace(tmp + "/", "") for f in items if isinstance(f, LoadFailure)]
    ctx.progress(0, len(transcripts), "preparing the rubric")
    scorer = _scorer(ctx, p["rubric_text"], p.get("rubric_name", "rubric.yaml"))
    for i, t in enumerate(transcripts):
        ctx.progress(i, len(transcripts), f"scoring {t.id} ({i + 1} of {len(transcripts)})")
        source = t.source.replace(tmp + "/", "")
        key = f"{ctx.job.id}/{source}/{t.id}"
        done = store.scorecard_for_key(key)
        if done is not None:  # stored before this job was taken over
            ids.append(done)
            verdict = store.get_scorecard(done)["verdict"]
            verdicts[verdict] = verdicts.get(verdict, 0) + 1
            continue
        try:
            card = scorer.score(t)
            sid = store.save_scorecard(card.to_dict(), transcript=card.transcript_record(source), idempotency_key=key)
        except DeskbookError as exc:
            failures.append(f"{t.id}: {exc}")
            continue
        ids.append(sid)
        verdicts[card.verdict] = verdicts.get(card.verdict, 0) + 1
    ctx.progress(len(transcripts), len(transcripts), "done")
    summary = (f"{len(ids)} transcript(s) scored with {p.get('rubric_id', '')} v{p.get('rubric_version', '')}: "
               f"{verdicts['pass']} pass, {verdicts['fail']} fail, {verdicts['na']} n/a"
               + (f"; {len(failures)} skipped" if failures else ""))
    return {"summary": summary, "scorecard_ids": ids, "errors": failures, "rubric": p.get("rubric_id", ""), **verdicts}
