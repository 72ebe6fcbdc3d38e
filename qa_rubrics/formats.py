"""The transcript formats: one parser per format, and reading files, folders and JSONL files.

- JSON: {"id", "agent", "started_at", "channel", "turns": [{"speaker", "text", "start"?, "end"?}]},
  or a list of such objects;
- JSONL: one such object per line;
- plain text: `Speaker: text` lines (a line without a known speaker label continues the previous
  turn); an optional `[00:01:02]` time before the speaker; a header block of `# key: value` lines
  (also `|`-separated on one line) with the keys `id`, `agent`, `channel`, `date` (ISO 8601),
  `customer` and `speakers` (`# speakers: Dan = agent, Amy = customer`);
- WebVTT: cues with `<v Speaker>` voice tags; cue times become turn times; a `NOTE` block holds the
  same `key: value` header (`agent: Tom Fletcher`, `channel: phone`, `date: 2026-09-04`, `id: ...`).

What a file does not say (agent, channel, date, customer) can come from the import: see
`TranscriptDefaults` (the QA import form, `deskbook qa score --agent --channel --date`).

Errors name the file and the line; in a batch they come back as `LoadFailure`s, never raised.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from qa_rubrics.transcripts import (
    EXTENSIONS,
    ROLES,
    LoadFailure,
    SpeakerMap,
    Transcript,
    TranscriptDefaults,
    TranscriptError,
    Turn,
    check_transcript,
    norm_label,
    normalize_date,
    parse_time,
)


# -- JSON / JSONL --------------------------------------------------------------------------------
def transcript_from_dict(data: Any, *, source: str, default_id: str, speakers: SpeakerMap) -> Transcript:
    if not isinstance(data, dict):
        raise TranscriptError(f"{source}: expected a transcript object, found {type(data).__name__}")
    turns_raw = data.get("turns", data.get("messages"))
    if turns_raw is None:
        raise TranscriptError(f"{source}: the transcript has no 'turns' list", field="turns",
                              hint='give "turns": [{"speaker": "agent", "text": "..."}, ...]')
    if not isinstance(turns_raw, list):
        raise TranscriptError(f"{source}: 'turns' must be a list", field="turns")
    agent = str(data.get("agent") or data.get("agent_name") or "")
    customer = str(data.get("customer") or data.get("customer_name") or "")
    declared = {norm_label(k): str(v).lower() for k, v in (data.get("speakers") or {}).items()} \
        if isinstance(data.get("speakers"), dict) else None
    labels, texts, times = [], [], []
    for i, t in enumerate(turns_raw):
        where = f"{source}: turns[{i}]"
        if not isinstance(t, dict):
            raise TranscriptError(f"{where} must be an object with 'speaker' and 'text'", field=f"turns[{i}]")
        label = t.get("speaker", t.get("role", t.get("from")))
        if label is None or str(label).strip() == "":
            raise TranscriptError(f"{where} has no 'speaker'", field=f"turns[{i}].speaker")
        text = t.get("text", t.get("message", t.get("content")))
        if text is None:
            raise TranscriptError(f"{where} has no 'text'", field=f"turns[{i}].text")
        if not isinstance(text, str):
            raise TranscriptError(f"{where}: 'text' must be a string", field=f"turns[{i}].text")
        labels.append(str(label))
        texts.append(text)
        times.append((parse_time(t.get("start"), where, f"turns[{i}].start"),
                      parse_time(t.get("end"), where, f"turns[{i}].end")))
    inferred: dict[str, str] = {}
    roles = speakers.resolve(labels, declared=declared, agent_name=agent, customer_name=customer, where=source,
                             texts=texts, inferred=inferred)
    turns = [Turn(roles.get(lab, "other"), txt, s, e, lab) for lab, txt, (s, e) in zip(labels, texts, times, strict=True)
             if txt.strip()]
    if not turns:
        raise TranscriptError(f"{source}: the transcript has no turns with text", field="turns")
    tid = data.get("id", data.get("transcript_id"))
    known = {"id", "transcript_id", "agent", "agent_name", "started_at", "date", "channel", "turns", "messages",
             "speakers", "customer", "customer_name"}
    started = data.get("started_at") or data.get("date") or ""
    if started:
        started = normalize_date(started, where=f"{source}: started_at")
    return Transcript(id=str(tid) if tid not in (None, "") else default_id, turns=turns, agent=agent,
                      started_at=started, channel=str(data.get("channel") or ""), customer=customer,
                      source=source, metadata={**{k: v for k, v in data.items() if k not in known},
                                               **({"speakers_inferred": inferred} if inferred else {})})


def parse_json(text: str, path: str, speakers: SpeakerMap) -> list[Transcript]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TranscriptError(f"{path}, line {exc.lineno}: invalid JSON: {exc.msg}",
                              hint="fix the JSON syntax (one transcript per line belongs in a .jsonl file)") from None
    stem = Path(path).stem
    if isinstance(data, list):
        return [transcript_from_dict(d, source=f"{path} [{i}]", default_id=f"{stem}-{i + 1}", speakers=speakers)
                for i, d in enumerate(data)]
    return [transcript_from_dict(data, source=path, default_id=stem, speakers=speakers)]


def iter_jsonl(text: str, path: str, speakers: SpeakerMap) -> Iterator[Transcript | LoadFailure]:
    """One transcript per line; a bad line is a LoadFailure, the other lines are still read."""
    stem = Path(path).stem
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        source = f"{path}, line {n}"
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            yield LoadFailure(source, f"{source}: invalid JSON: {exc.msg} (column {exc.colno})")
            continue
        except RecursionError:
            yield LoadFailure(source, f"{source}: the JSON is nested too deeply")
            continue
        if isinstance(data, dict) and "turns" not in data and "messages" not in data and "criteria" in data:
            continue  # a labels line (see `deskbook qa eval`), not a transcript
        try:
            yield transcript_from_dict(data, source=source, default_id=f"{stem}-{n}", speakers=speakers)
        except TranscriptError as exc:
            yield LoadFailure(source, exc.message)


# -- plain text ----------------------------------------------------------------------------------
_LINE = re.compile(r"^\s*(?:\[?(?P<time>(?:\d+:)?\d{1,2}:\d{2}(?:[.,]\d+)?)\]?\s*[-–]?\s*)?"
                   r"(?P<label>[^\W\d][\w .'’()/*-]{0,40}?)\s*:\s+(?P<text>.*)$")
_HEADER_KV = re.compile(r"^\s*([A-Za-z_][\w -]*?)\s*:\s*(.+?)\s*$")


HEADER_KEYS = {"id": "id", "transcript_id": "id", "agent": "agent", "agent_name": "agent", "channel": "channel",
               "date": "started_at", "started_at": "started_at", "started": "started_at", "customer": "customer",
               "customer_name": "customer"}


def _parse_header(lines: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """`# ...` lines: 'key: value' fields (also '|'-separated) and '# speakers: X = role, ...'.

    Known keys are normalised (`date` -> `started_at`, `agent_name` -> `agent` ...)."""
    meta: dict[str, str] = {}
    declared: dict[str, str] = {}
    for raw in lines:
        body = raw.lstrip("#").strip()
        for part in (p.strip() for p in body.split("|")):
            m = _HEADER_KV.match(part)
            if not m:
                if part and "id" not in meta and re.fullmatch(r"[\w.-]+", part):
                    meta["id"] = part
                continue
            key, value = m.group(1).strip().lower(), m.group(2)
            if key == "speakers":
                for item in re.split(r"[,;]", value):
                    name, sep, role = item.partition("=")
                    if sep and role.strip().lower() in (*ROLES, "other"):
                        declared[norm_label(name)] = role.strip().lower()
            else:
                meta.setdefault(HEADER_KEYS.get(key.replace(" ", "_"), key), value)
    return meta, declared


def _header_date(meta: dict[str, str], where: str) -> str:
    return normalize_date(meta["started_at"], where=f"{where}: date") if meta.get("started_at") else ""


def parse_text(text: str, path: str, speakers: SpeakerMap) -> Transcript:
    lines = text.splitlines()
    header = [ln for ln in lines if ln.lstrip().startswith("#")]
    meta, declared = _parse_header(header)
    agent = meta.get("agent", "")
    customer = meta.get("customer", "")
    where_date = next((f"{path}, line {n}" for n, ln in enumerate(lines, 1)
                       if ln.lstrip().startswith("#") and re.search(r"\b(?:date|started(?:_at)?)\s*:", ln, re.I)), path)
    started = _header_date(meta, where_date)
    # A label starts a turn when it is known (alias, declared, agent's name), used on 2+ lines, or
    # comes after a time stamp; with a single speaker found, a lone other label is the second party.
    candidates: dict[str, int] = {}
    timed: set[str] = set()
    for ln in lines:
        m = _LINE.match(ln)
        if m and not ln.lstrip().startswith("#"):
            lab = m.group("label").strip()
            candidates[lab] = candidates.get(lab, 0) + 1
            if m.group("time"):
                timed.add(lab)
    speakers_ok = {lab for lab, n in candidates.items()
                   if speakers.role(lab, declared=declared, agent_name=agent, customer_name=customer) or n >= 2
                   or lab in timed}
    others = [lab for lab in candidates if lab not in speakers_ok]
    if len(speakers_ok) == 1 and len(others) == 1:
        speakers_ok.add(others[0])
    labels: list[str] = []
    turns: list[list[Any]] = []  # [label, text, start, line]
    for n, ln in enumerate(lines, 1):
        if ln.lstrip().startswith("#") or not ln.strip():
            continue
        m = _LINE.match(ln)
        if m and m.group("label").strip() in speakers_ok:
            label = m.group("label").strip()
            start = parse_time(m.group("time"), f"{path}, line {n}") if m.group("time") else None
            turns.append([label, m.group("text").strip(), start, n])
            labels.append(label)
        elif turns:
            turns[-1][1] = (turns[-1][1] + " " + ln.strip()).strip()
        else:
            raise TranscriptError(
                f"{path}, line {n}: expected 'Speaker: text', found {ln.strip()[:60]!r}",
                hint="start each turn with a speaker label such as 'Agent:' or 'Customer:'", field="speaker")
    if not turns:
        raise TranscriptError(f"{path}: no 'Speaker: text' lines found", field="turns")
    inferred: dict[str, str] = {}
    try:
        roles = speakers.resolve(labels, declared=declared, agent_name=agent, customer_name=customer, where=path,
                                 texts=[t[1] for t in turns], inferred=inferred)
    except TranscriptError as exc:
        bad = re.search(r"speaker '([^']+)'", exc.message)
        line = next((t[3] for t in turns if bad and t[0] == bad.group(1)), None)
        if line:
            exc.message = exc.message.replace(f"{path}:", f"{path}, line {line}:", 1)
        raise
    return Transcript(
        id=meta.get("id") or Path(path).stem, agent=agent, channel=meta.get("channel", ""),
        started_at=started, customer=customer, source=path,
        turns=[Turn(roles.get(lab, "other"), txt, start, None, lab) for lab, txt, start, _ in turns if txt],
        metadata={"speakers_inferred": inferred} if inferred else {})


# -- WebVTT --------------------------------------------------------------------------------------
_CUE_TIME = re.compile(r"^\s*((?:\d+:)?\d{1,2}:\d{2}[.,]\d{1,3})\s+-->\s+((?:\d+:)?\d{1,2}:\d{2}[.,]\d{1,3})")
_VOICE = re.compile(r"<v(?:\.[\w.-]+)?\s+([^>]+)>(.*?)(?:</v>|(?=<v[\s.])|$)", re.S)
_TAG = re.compile(r"</?[^>]+>")


def parse_vtt(text: str, path: str, speakers: SpeakerMap) -> Transcript:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if not lines or not lines[0].lstrip("\ufeff").startswith("WEBVTT"):
        raise TranscriptError(f"{path}, line 1: a WebVTT file must start with 'WEBVTT'", field="format")
    meta: dict[str, str] = {}
    cues: list[tuple[int, float, float, list[str]]] = []
    i = 1
    while i < len(lines):
        ln = lines[i]
        if not ln.strip():
            i += 1
            continue
        if ln.startswith("NOTE"):
            block = [ln[4:]]
            i += 1
            while i < len(lines) and lines[i].strip():
                block.append(lines[i])
                i += 1
            note_line = i - len(block) + 1
            note = "\n".join(block)
            for key in ("id", "transcript_id", "agent", "agent_name", "channel", "date", "started_at", "customer",
                        "customer_name"):
                m = re.search(rf"(?<![\w-]){key}\s*:\s*([^,|\n]+)", note, re.I)
                if m:
                    meta.setdefault(HEADER_KEYS[key], m.group(1).strip())
            if "id" not in meta:
                m = re.match(r"\s*([A-Za-z][\w.-]*\d[\w.-]*)(?![\w.:-])", note)
                if m:
                    meta["id"] = m.group(1)
            if "started_at" in meta and "date_line" not in meta:
                meta["date_line"] = str(note_line)
            continue
        if ln.startswith(("STYLE", "REGION")):
            while i < len(lines) and lines[i].strip():
                i += 1
            continue
        start_line = i
        if "-->" not in ln:  # a cue identifier
            i += 1
            if i >= len(lines) or "-->" not in lines[i]:
                raise TranscriptError(f"{path}, line {start_line + 1}: expected a cue time line "
                                      "('00:00:01.000 --> 00:00:04.000')", field="cue")
        m = _CUE_TIME.match(lines[i])
        if not m:
            raise TranscriptError(f"{path}, line {i + 1}: bad cue time line {lines[i].strip()!r}",
                                  hint="use hh:mm:ss.mmm --> hh:mm:ss.mmm", field="cue")
        where = f"{path}, line {i + 1}"
        start, end = parse_time(m.group(1), where), parse_time(m.group(2), where)
        i += 1
        payload = []
        while i < len(lines) and lines[i].strip():
            payload.append(lines[i])
            i += 1
        cues.append((start_line + 1, start, end, payload))
    raw_turns: list[tuple[str, str, float, float, int]] = []
    for line_no, start, end, payload in cues:
        body = "\n".join(payload)
        voices = _VOICE.findall(body)
        if voices:
            for label, said in voices:
                said = " ".join(_TAG.sub("", said).split())
                if said:
                    raw_turns.append((label.strip(), said, start, end, line_no))
            continue
        plain = " ".join(_TAG.sub("", body).split())
        m2 = _LINE.match(plain)
        if m2 and speakers.role(m2.group("label"), agent_name=meta.get("agent", ""),
                                customer_name=meta.get("customer", "")):
            raw_turns.append((m2.group("label").strip(), m2.group("text").strip(), start, end, line_no))
        elif raw_turns and plain:  # no voice tag: the previous speaker goes on
            lab = raw_turns[-1][0]
            raw_turns.append((lab, plain, start, end, line_no))
        elif plain:
            raise TranscriptError(f"{path}, line {line_no}: cue without a speaker (<v Speaker>)", field="speaker")
    if not raw_turns:
        raise TranscriptError(f"{path}: no cues with text found", field="turns")
    inferred: dict[str, str] = {}
    roles = speakers.resolve([t[0] for t in raw_turns], agent_name=meta.get("agent", ""),
                             customer_name=meta.get("customer", ""), where=path,
                             texts=[t[1] for t in raw_turns], inferred=inferred)
    started = _header_date(meta, f"{path}, line {meta['date_line']}" if "date_line" in meta else path)
    return Transcript(id=meta.get("id") or Path(path).stem, agent=meta.get("agent", ""), source=path,
                      channel=meta.get("channel", ""), started_at=started, customer=meta.get("customer", ""),
                      turns=[Turn(roles.get(lab, "other"), txt, s, e, lab) for lab, txt, s, e, _ in raw_turns],
                      metadata={"speakers_inferred": inferred} if inferred else {})


# -- files and folders ---------------------------------------------------------------------------
def parse_file(path: str | Path, speakers: SpeakerMap | None = None) -> Iterator[Transcript | LoadFailure]:
    """The transcripts in one file (JSONL: several); failures are yielded, not raised."""
    speakers = speakers or SpeakerMap()
    p = Path(path)
    name = str(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        yield LoadFailure(name, f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})")
        return
    except OSError as exc:
        yield LoadFailure(name, f"{name}: cannot read: {exc.strerror or exc}")
        return
    suffix = p.suffix.lower()
    try:
        if suffix == ".jsonl":
            items: Iterable[Transcript | LoadFailure] = iter_jsonl(text, name, speakers)
        elif suffix == ".json":
            items = parse_json(text, name, speakers)
        elif suffix == ".vtt" or text.lstrip("\ufeff").startswith("WEBVTT"):
            items = [parse_vtt(text, name, speakers)]
        else:
            items = [parse_text(text, name, speakers)]
        for item in items:
            problem = check_transcript(item) if isinstance(item, Transcript) else None
            yield LoadFailure(item.source or name, problem) if problem else item
    except TranscriptError as exc:
        yield LoadFailure(name, exc.message + (f" ({exc.hint})" if exc.hint else ""))
    except RecursionError:
        yield LoadFailure(name, f"{name}: the JSON is nested too deeply")




def _is_labels_file(p: Path) -> bool:
    return p.suffix.lower() == ".jsonl" and "label" in p.stem.lower()


def expand_inputs(paths: Iterable[str | Path], *, exclude: Iterable[str | Path] = ()) -> list[Path]:
    """Files named, and transcript files (.json, .jsonl, .txt, .vtt) under folders named, sorted.

    Inside folders, hidden files and label files (`*label*.jsonl`) are skipped.
    """
    excluded = {Path(e).resolve() for e in exclude}
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if (f.is_file() and f.suffix.lower() in EXTENSIONS and not any(part.startswith(".") for part in
                                                                               f.relative_to(p).parts)
                        and not _is_labels_file(f) and f.resolve() not in excluded):
                    out.append(f)
        elif p.resolve() not in excluded:
            out.append(p)
    return out


def load_inputs(paths: Iterable[str | Path], *, aliases: Iterable[str] = (), exclude: Iterable[str | Path] = (),
                defaults: TranscriptDefaults | None = None) -> Iterator[Transcript | LoadFailure]:
    """Transcripts from files, folders and JSONL files; unreadable ones come as LoadFailure (never raised).

    `defaults` fill in the agent, channel, date and customer that a file does not give."""
    speakers = SpeakerMap(aliases)
    for p in expand_inputs(paths, exclude=exclude):
        if not p.exists():
            yield LoadFailure(str(p), f"{p}: no such file or folder")
            continue
        for item in parse_file(p, speakers):
            yield defaults.apply(item) if defaults is not None and isinstance(item, Transcript) else item


def load_transcript(path: str | Path, *, aliases: Iterable[str] = ()) -> Transcript:
    """Exactly one transcript from one file; a failure raises TranscriptError."""
    items = list(parse_file(path, SpeakerMap(aliases)))
    for item in items:
        if isinstance(item, LoadFailure):
            raise TranscriptError(item.reason)
    if len(items) != 1:
        raise TranscriptError(f"{path}: expected one transcript, found {len(items)}")
    return items[0]  # type: ignore[return-value]
