"""QA for the analyst pages and the API, as plain functions over qa_rubrics and kb.qa_store.

- Rubrics are the YAML files in the `rubrics_dir` folder (validated on load; a broken one is
  listed with its error, not offered).
- Import + prescore runs in the background job runner: each transcript is parsed (the formats of
  qa_rubrics.transcripts), redacted and scored by the chosen rubric, and the scorecard stored with
  its redacted transcript (kb.qa_store). A scorer is built once per rubric file version and reused.
- Reviews are stored beside the automatic results (kb.qa_store.add_review), never over them.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from werkzeug.datastructures import FileStorage
from werkzeug.utils import secure_filename

from kb.errors import DeskbookError, InputError, NotFoundError

TRANSCRIPT_SUFFIXES = (".json", ".jsonl", ".txt", ".vtt")
_scorer_lock = threading.Lock()


@dataclass
class RubricInfo:
    id: str
    name: str
    version: int
    path: str
    criteria: int
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def rubric_files(config) -> list[Path]:
    folder = Path(str(config.rubrics_dir))
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in (".yaml", ".yml") and p.is_file())


def list_rubrics(config) -> list[RubricInfo]:
    from qa_rubrics.rubric import load_rubric

    out = []
    for p in rubric_files(config):
        try:
            r = load_rubric(p)
            out.append(RubricInfo(r.id, r.name, r.version, str(p), len(r.criteria)))
        except DeskbookError as exc:
            out.append(RubricInfo(p.stem, p.name, 0, str(p), 0, error=str(exc)))
    return out


def find_rubric(config, rubric_id: str) -> RubricInfo:
    for r in list_rubrics(config):
        if r.id == rubric_id and not r.error:
            return r
    raise NotFoundError(f"No rubric {rubric_id!r} in {config.rubrics_dir}",
                        hint="put the rubric's YAML file in the rubrics_dir folder", field="rubric")


def scorer_for(services, info: RubricInfo):
    """One Scorer per app and rubric file version (its phrases are embedded once), kept on the services."""
    from qa_rubrics.rubric import load_rubric
    from qa_rubrics.score import Scorer

    key = (info.path, Path(info.path).stat().st_mtime)
    with _scorer_lock:
        cache = services.scorers
        scorer = cache.get(key)
        if scorer is None:
            scorer = Scorer(load_rubric(info.path), services.config, services.embedder, store=services.store,
                            searcher=services.searcher)
            for old in [k for k in cache if k[0] == info.path]:
                del cache[old]  # an older version of the same rubric file
            cache[key] = scorer
        return scorer


def save_transcript_files(services, files: list[FileStorage], *, folder_name: str) -> list[Path]:
    files = [f for f in files if f and f.filename]
    if not files:
        raise InputError("No file was sent", hint="choose transcript files (.json, .jsonl, .txt, .vtt)", field="files")
    for f in files:
        if Path(f.filename).suffix.lower() not in TRANSCRIPT_SUFFIXES:
            raise InputError(f"{f.filename}: not a transcript file",
                             hint=f"allowed: {', '.join(TRANSCRIPT_SUFFIXES)}", field="files")
    root = Path(services.config.data_dir) / "transcripts" / "incoming" / folder_name
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for f in files:
        name = secure_filename(f.filename) or f"transcript{len(paths)}{Path(f.filename).suffix.lower()}"
        target = root / name
        n = 2
        while target.exists():
            target = root / f"{Path(name).stem}-{n}{Path(name).suffix}"
            n += 1
        f.save(target)
        paths.append(target)
    return paths


def _score_job(services, info: RubricInfo, load, *, label: str, by: str, cleanup: Path | None = None):
    """A job that scores the transcripts `load()` yields and stores each scorecard (redacted).

    `cleanup`: a folder of uploaded files removed once they are read, since they hold the
    unredacted text (kept only with the `store_original_text` setting)."""

    def run(job):
        from kb.qa_store import save_scorecard
        from qa_rubrics.transcripts import LoadFailure

        job.progress(0, 0, "reading transcripts")
        try:
            items = list(load())
        finally:
            if cleanup is not None and not services.config.store_original_text:
                shutil.rmtree(cleanup, ignore_errors=True)
        transcripts = [t for t in items if not isinstance(t, LoadFailure)]
        failures = [f.reason for f in items if isinstance(f, LoadFailure)]
        job.progress(0, len(transcripts), "preparing the rubric")
        scorer = scorer_for(services, info)
        ids, verdicts = [], {"pass": 0, "fail": 0, "na": 0}
        for i, t in enumerate(transcripts):
            job.progress(i, len(transcripts), f"scoring {t.id} ({i + 1} of {len(transcripts)})")
            try:
                card = scorer.score(t)
                sid = save_scorecard(services.store, card.to_dict(), transcript=card.transcript_record(t.source))
            except DeskbookError as exc:
                failures.append(f"{t.id}: {exc}")
                continue
            ids.append(sid)
            verdicts[card.verdict] = verdicts.get(card.verdict, 0) + 1
        job.progress(len(transcripts), len(transcripts), "done")
        summary = (f"{len(ids)} transcript(s) scored with {info.id} v{info.version}: {verdicts['pass']} pass, "
                   f"{verdicts['fail']} fail, {verdicts['na']} n/a" + (f"; {len(failures)} skipped" if failures else ""))
        return {"summary": summary, "scorecard_ids": ids, "errors": failures, "rubric": info.id, **verdicts}

    return services.jobs.submit("score", by, label, run)


def start_import(services, files: list[FileStorage], rubric_id: str, *, by: str):
    """Save uploaded transcript files and prescore them in the background; returns the Job."""
    from qa_rubrics.transcripts import load_inputs

    info = find_rubric(services.config, rubric_id)
    folder = secure_filename(time.strftime("%Y%m%d-%H%M%S") + "-" + by) or "import"
    paths = save_transcript_files(services, files, folder_name=folder)
    aliases = services.config.speaker_aliases or ()
    return _score_job(services, info, lambda: load_inputs(paths, aliases=aliases),
                      label=f"Score {len(paths)} file(s) with {info.id}: " + ", ".join(p.name for p in paths)[:160],
                      by=by, cleanup=paths[0].parent)


def start_scoring_json(services, transcripts: list[dict[str, Any]], rubric_id: str, *, by: str):
    """Score transcripts sent as JSON objects (the JSON transcript format) in the background.

    They are written as one JSONL file and read by the same parsers as uploaded files (a
    transcript without an id is named after its line)."""
    from qa_rubrics.transcripts import load_inputs

    info = find_rubric(services.config, rubric_id)
    folder = Path(services.config.data_dir) / "transcripts" / "incoming" / (
        secure_filename(time.strftime("%Y%m%d-%H%M%S") + "-api-" + by) or "api")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "api.jsonl"
    path.write_text("".join(json.dumps(t, ensure_ascii=False) + "\n" for t in transcripts), encoding="utf-8")
    aliases = services.config.speaker_aliases or ()
    return _score_job(services, info, lambda: load_inputs([path], aliases=aliases),
                      label=f"Score {len(transcripts)} transcript(s) with {info.id} (API)", by=by, cleanup=folder)


def review_spans(card: dict[str, Any]) -> dict[int, list[tuple[int, int, str]]]:
    """Evidence spans per turn: (start, end, css classes) naming the criterion (class c-<n>)."""
    spans: dict[int, list[tuple[int, int, str]]] = {}
    for n, c in enumerate(card["criteria"]):
        for ev in c.get("evidence") or []:
            try:
                turn, start, end = int(ev["turn"]), int(ev["start"]), int(ev["end"])
            except (KeyError, TypeError, ValueError):
                continue
            if 0 <= turn < len(card["turns"]) and end > start:
                spans.setdefault(turn, []).append((start, end, f"ev c-{n} r-{c['result']}"))
    return spans


def _cell(value: Any) -> Any:
    """A CSV cell that a spreadsheet will not run as a formula."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


def export_csv(store, **filters: Any) -> str:
    from kb.qa_store import EXPORT_COLUMNS, export_rows

    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(EXPORT_COLUMNS)
    for row in export_rows(store, **filters):
        w.writerow([_cell(row[c]) for c in EXPORT_COLUMNS])
    return buf.getvalue()


def review_filters(args) -> dict[str, Any]:
    """Queue / export filters from request args (empty ones left out)."""
    out: dict[str, Any] = {}
    for key in ("agent", "rubric", "verdict", "since", "until"):
        v = (args.get(key) or "").strip()
        if v:
            out[key] = v
    if "verdict" in out and out["verdict"] not in ("pass", "fail", "na"):
        raise InputError("verdict must be pass, fail or na", field="verdict")
    for key in ("since", "until"):
        if key in out:
            from webapp.sops import parse_date

            out[key] = parse_date(out[key], key)
    return out
