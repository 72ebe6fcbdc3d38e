"""QA for the analyst pages and the API, as plain functions over qa_rubrics and kb.qa_store.

- Rubrics are the YAML files in the `rubrics_dir` folder (validated on load; a broken one is
  listed with its error, not offered).
- Import + prescore is a `qa_score` background job (`qa_rubrics.jobs`): the files and the rubric's
  text are queued in the database, and a worker parses, redacts and scores each transcript and
  stores each scorecard once, with its redacted transcript.
- Reviews are stored beside the automatic results (the store's `add_review`), never over them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from werkzeug.datastructures import FileStorage
from werkzeug.utils import secure_filename

from kb.csvout import csv_lines
from kb.errors import DeskbookError, InputError, NotFoundError
from kb.storage.records import EXPORT_COLUMNS

TRANSCRIPT_SUFFIXES = (".json", ".jsonl", ".txt", ".vtt")
LEARNED_FILE = "__rubric_learned__.npz"  # a tuned rubric file's classifiers, sent with the scoring job


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


def read_transcript_files(files: list[FileStorage]) -> list[tuple[str, bytes]]:
    files = [f for f in files if f and f.filename]
    if not files:
        raise InputError("No file was sent", hint="choose transcript files (.json, .jsonl, .txt, .vtt)", field="files")
    for f in files:
        if Path(f.filename).suffix.lower() not in TRANSCRIPT_SUFFIXES:
            raise InputError(f"{f.filename}: not a transcript file",
                             hint=f"allowed: {', '.join(TRANSCRIPT_SUFFIXES)}", field="files")
    out: list[tuple[str, bytes]] = []
    names: set[str] = set()
    for f in files:
        name = secure_filename(f.filename) or f"transcript{len(out)}{Path(f.filename).suffix.lower()}"
        stem, suffix, n = Path(name).stem, Path(name).suffix, 2
        while name in names:
            name = f"{stem}-{n}{suffix}"
            n += 1
        names.add(name)
        out.append((name, f.read()))
    return out


def _queue_scoring(services, info: RubricInfo, files: list[tuple[str, bytes]], *, label: str, by: str,
                   defaults=None):
    """Queue a `qa_score` job with the rubric as scoring uses it now: the file, or the model adopted for it."""
    from qa_rubrics.retrain import active_rubric
    from qa_rubrics.rubric import load_rubric

    rubric = load_rubric(info.path)
    active = active_rubric(services.store, rubric)
    if active.model_id is None and rubric.learned:  # tuned with `deskbook qa eval --tune`: the classifiers travel too
        from qa_rubrics.learned import learned_path

        files = [*files, (LEARNED_FILE, learned_path(rubric).read_bytes())]
    payload = {"rubric_id": info.id, "rubric_version": active.rubric.version, "rubric_name": Path(info.path).name,
               "rubric_text": Path(info.path).read_text(encoding="utf-8"), "model_id": active.model_id,
               "aliases": list(services.config.speaker_aliases or ()),
               "defaults": dict(defaults.__dict__) if defaults is not None else {}}
    return services.jobs.submit("qa_score", by, label, payload, files=files)


def import_defaults(form) -> Any:
    """Agent, channel, date and customer from the import form (for files that do not name them)."""
    from qa_rubrics.transcripts import TranscriptDefaults

    return TranscriptDefaults.from_values(agent=form.get("agent"), channel=form.get("channel"),
                                          date=form.get("date") or None, customer=form.get("customer"), where="date")


def check_transcript_files(items: list[tuple[str, bytes]], aliases) -> list[str]:
    """Read the files as the job will (nothing is kept): the problems found. None holding a transcript is
    an error here, on the import page, not a job that ends with nothing scored."""
    import tempfile

    from qa_rubrics.transcripts import LoadFailure, load_inputs

    with tempfile.TemporaryDirectory(prefix="deskbook-check-") as tmp:
        paths = []
        for name, data in items:
            path = Path(tmp) / name
            path.write_bytes(data)
            paths.append(path)
        found = list(load_inputs(paths, aliases=aliases))
    problems = [f.reason.replace(tmp + "/", "") for f in found if isinstance(f, LoadFailure)]
    if not any(not isinstance(f, LoadFailure) for f in found):
        raise InputError("No transcript found in the file(s): " + "; ".join(problems[:5] or ["the files are empty"]),
                         hint="each file must hold a transcript: JSON or JSONL with 'turns', 'Speaker: text' lines, "
                              "or WebVTT cues with <v Speaker> tags", field="files")
    return problems


def start_import(services, files: list[FileStorage], rubric_id: str, *, by: str, defaults=None):
    """Queue uploaded transcript files to be prescored in the background; returns (Job, problems found)."""
    info = find_rubric(services.config, rubric_id)
    items = read_transcript_files(files)
    problems = check_transcript_files(items, services.config.speaker_aliases or ())
    job = _queue_scoring(services, info, items, by=by, defaults=defaults,
                         label=f"Score {len(items)} file(s) with {info.id}: " + ", ".join(n for n, _ in items)[:160])
    return job, problems


def start_scoring_json(services, transcripts: list[dict[str, Any]], rubric_id: str, *, by: str):
    """Score transcripts sent as JSON objects (the JSON transcript format) in the background.

    They travel as one JSONL file and are read by the same parsers as uploaded files (a
    transcript without an id is named after its line)."""
    info = find_rubric(services.config, rubric_id)
    data = "".join(json.dumps(t, ensure_ascii=False) + "\n" for t in transcripts).encode("utf-8")
    return _queue_scoring(services, info, [("api.jsonl", data)], by=by,
                          label=f"Score {len(transcripts)} transcript(s) with {info.id} (API)")


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


def erase_transcript(store, transcript_id: str, actor: str) -> dict[str, int]:
    """A customer's erasure request: every stored content of the transcript, its scorecards and reviews
    (removed counts; `actor`, the user, goes into the erasure record); a transcript not stored is a
    NotFoundError (404)."""
    out = store.delete_transcripts([transcript_id], actor=actor)
    if not out["transcripts"]:
        raise NotFoundError(f"No stored transcript {transcript_id!r}", field="transcript_id")
    return out


def export_csv(store, **filters: Any) -> str:
    """The export through the one CSV writer (kb.csvout: formula-like cells neutralised)."""
    return csv_lines(EXPORT_COLUMNS, (["" if row[c] is None else row[c] for c in EXPORT_COLUMNS]
                                      for row in store.export_rows(**filters)))


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
