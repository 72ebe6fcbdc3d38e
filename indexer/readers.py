"""Readers, one per format: SOPs from Markdown, plain text and HTML; tickets from CSV and JSONL.

Each reader returns `Document`s, or raises `InputError` naming the file (and line) and how to
fix it. Unreadable or non-UTF-8 files are reported by the caller and skipped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from html.parser import HTMLParser
from pathlib import Path

import yaml

from indexer.csvrows import csv_rows
from kb.errors import InputError
from kb.models import Document, content_hash
from kb.safeyaml import safe_load
from kb.text import bad_character

SOP_SUFFIXES = {".md": "markdown", ".markdown": "markdown", ".txt": "text", ".html": "html", ".htm": "html"}
TICKET_SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
TICKET_FIELDS = ("id", "subject", "question", "answer", "tags", "channel", "created_at", "status", "language")
SOP_STATUSES = ("draft", "published", "archived")


@dataclass
class SourceFile:
    path: Path
    root: Path  # the folder given on the command line (ids are relative to it)
    kind: str  # markdown | text | html | csv | jsonl


def discover(paths: list[Path]) -> tuple[list[SourceFile], list[str]]:
    """Files to index under `paths` (recursively), and notes on files skipped for their type."""
    found, skipped = [], []
    for p in paths:
        if p.is_file():
            kind = SOP_SUFFIXES.get(p.suffix.lower()) or TICKET_SUFFIXES.get(p.suffix.lower())
            if kind is None:
                raise InputError(f"{p}: unknown file type {p.suffix!r}",
                                 hint="SOPs are .md, .txt or .html; tickets are .csv or .jsonl")
            found.append(SourceFile(p, p.parent, kind))
            continue
        for f in sorted(p.rglob("*")):
            if not f.is_file() or any(part.startswith(".") for part in f.relative_to(p).parts):
                continue
            kind = SOP_SUFFIXES.get(f.suffix.lower()) or TICKET_SUFFIXES.get(f.suffix.lower())
            if kind is None:
                if f.suffix.lower() not in (".yaml", ".yml", ".json", ".vtt", ".py"):
                    skipped.append(f"{f}: skipped (not an SOP or ticket format)")
                continue
            found.append(SourceFile(f, p, kind))
    return found, skipped


def read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})", hint="check the file's permissions") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(f"{path}:{line}: not valid UTF-8 (byte {exc.start})",
                         hint="save the file as UTF-8") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


# -- SOPs ------------------------------------------------------------------------------------

_FRONT = re.compile(r"\A---[ \t]*\n(.*?\n)?---[ \t]*(?:\n|\Z)", re.S)


def _as_str(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return str(value).strip()


def _as_tags(value, where: str) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [t.strip().lower() for t in re.split(r"[;,]", value) if t.strip()]
    if isinstance(value, list):
        return [str(t).strip().lower() for t in value if str(t).strip()]
    raise InputError(f"{where}: `tags` must be a list or a comma-separated string", field="tags")


def parse_front_matter(text: str, path: Path) -> tuple[dict, str, int]:
    """(front matter, body, number of lines the front matter took)."""
    m = _FRONT.match(text)
    if not m:
        if text.startswith("---\n"):
            raise InputError(f"{path}:1: front matter starts with '---' but has no closing '---' line",
                             hint="end the front matter with a line of three dashes")
        return {}, text, 0
    raw = m.group(1) or ""
    try:
        data = safe_load(raw) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = (mark.line + 2) if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(f"{path}:{line}: malformed front matter: {problem}",
                         hint="front matter is YAML between two '---' lines, e.g. `title: Refunds`") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}:2: front matter must be a mapping of `key: value` lines",
                         hint="e.g. `id: sop-refunds` and `title: Refund processing`")
    return data, text[m.end():], raw.count("\n") + 2


def _doc_id(meta: dict, src: SourceFile) -> str:
    if meta.get("id") not in (None, ""):
        return _as_str(meta["id"])
    return src.path.relative_to(src.root).with_suffix("").as_posix()


def _first_heading(body: str) -> tuple[str | None, str]:
    for line in body.splitlines():
        if line.strip():
            m = re.match(r"#\s+(.+?)\s*#*\s*$", line)
            return (m.group(1) if m else None), body
    return None, body


def sop_document(src: SourceFile, body: str, meta: dict) -> Document:
    where = str(src.path)
    title = _as_str(meta.get("title"))
    if not title:
        h1, _ = _first_heading(body)
        title = h1 or src.path.stem.replace("-", " ").replace("_", " ").capitalize()
    status = _as_str(meta.get("status") or "published").lower()
    if status not in SOP_STATUSES:
        raise InputError(f"{where}: status {status!r} is not one of {', '.join(SOP_STATUSES)}", field="status")
    review_by = _as_str(meta.get("review_by"))
    if review_by:
        try:
            date.fromisoformat(review_by[:10])
        except ValueError:
            raise InputError(f"{where}: review_by {review_by!r} is not a date",
                             hint="write it as YYYY-MM-DD", field="review_by") from None
        review_by = review_by[:10]
    extra = {k: _as_str(v) for k, v in meta.items()
             if k not in ("id", "title", "owner", "tags", "review_by", "status") and not isinstance(v, (dict, list))}
    for name, value in (("title", title), ("text", body), *((k, _as_str(v)) for k, v in meta.items())):
        bad = bad_character(value)
        if bad:
            raise InputError(f"{where}: the {name} has {bad}", hint="remove that character", field=name)
    return Document(id=_doc_id(meta, src), type="sop", title=title, body=body.strip("\n") + "\n",
                    source_path=str(src.path.resolve()), tags=_as_tags(meta.get("tags"), where),
                    owner=_as_str(meta.get("owner")), status=status, review_by=review_by, metadata=extra)


def _with_source_hash(doc: Document, raw: str) -> Document:
    """Remember which file text a document came from: an SOP edited in the web app since is not
    overwritten by re-indexing the same, unchanged file."""
    doc.metadata["source_hash"] = content_hash(raw)
    return doc


def read_markdown(src: SourceFile) -> Document:
    text = read_text(src.path)
    meta, body, _ = parse_front_matter(text, src.path)
    return _with_source_hash(sop_document(src, body, meta), text)


def _text_to_markdown(text: str) -> str:
    """Plain-text SOPs: a short line without final punctuation, alone between blank lines, is a heading."""
    lines = text.split("\n")
    out = []
    first = True
    for i, line in enumerate(lines):
        s = line.strip()
        prev_blank = i == 0 or not lines[i - 1].strip()
        next_blank = i + 1 >= len(lines) or not lines[i + 1].strip()
        is_heading = (s and prev_blank and next_blank and len(s) <= 80 and not s.endswith((".", ":", ";", ","))
                      and not re.match(r"^(\d+[.)]|[-*•])\s", s))
        underline = i + 1 < len(lines) and re.fullmatch(r"[=-]{3,}", lines[i + 1].strip() or "x")
        if s and re.fullmatch(r"[=-]{3,}", s):
            continue
        if is_heading or (s and underline):
            out.append(("# " if first else "## ") + s)
            first = False
        else:
            if s:
                first = False if out else first
            out.append(re.sub(r"^(\s*)•\s", r"\1- ", line))
    return "\n".join(out)


def read_plain_text(src: SourceFile) -> Document:
    text = read_text(src.path)
    meta, body, _ = parse_front_matter(text, src.path)
    return _with_source_hash(sop_document(src, _text_to_markdown(body), meta), text)


# Lists nested deeper than this are indented no further: each level indents every item below it, so a
# 250 KB file of 10,000 nested lists would otherwise become 150 MB of Markdown (and minutes of work).
MAX_LIST_DEPTH = 8


class _HtmlToMarkdown(HTMLParser):
    """Just enough HTML to keep headings, lists and paragraphs (scripts and styles dropped)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.title = ""
        self.meta: dict[str, str] = {}
        self._skip = 0
        self._lists: list[list] = []  # [kind, counter]
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("script", "style", "noscript", "template"):
            self._skip += 1
        elif tag == "title":
            self._in_title = True
        elif tag == "meta" and a.get("name") and a.get("content") is not None:
            self.meta[a["name"].lower()] = a["content"]
        elif re.fullmatch(r"h[1-6]", tag):
            self.out.append("\n\n" + "#" * int(tag[1]) + " ")
        elif tag in ("ol", "ul"):
            self._lists.append([tag, 0])
            self.out.append("\n")
        elif tag == "li":
            indent = "   " * min(max(0, len(self._lists) - 1), MAX_LIST_DEPTH)
            if self._lists and self._lists[-1][0] == "ol":
                self._lists[-1][1] += 1
                self.out.append(f"\n{indent}{self._lists[-1][1]}. ")
            else:
                self.out.append(f"\n{indent}- ")
        elif tag in ("p", "div", "section", "article", "table", "tr", "blockquote"):
            self.out.append("\n\n")
        elif tag == "br":
            self.out.append("\n")
        elif tag in ("td", "th"):
            self.out.append(" | ")

    def handle_endtag(self, tag):
        if tag in ("script", "style", "noscript", "template"):
            self._skip = max(0, self._skip - 1)
        elif tag == "title":
            self._in_title = False
        elif tag in ("ol", "ul") and self._lists:
            self._lists.pop()
            self.out.append("\n")
        elif re.fullmatch(r"h[1-6]", tag) or tag == "p":
            self.out.append("\n\n")

    def handle_data(self, data):
        if self._skip:
            return
        if self._in_title:
            self.title += data
            return
        self.out.append(re.sub(r"\s+", " ", data))

    def markdown(self) -> str:
        text = "".join(self.out)
        text = re.sub(r"[ \t]+\n", "\n", text)
        text = re.sub(r"\n[ \t]+(?=\S)", lambda m: "\n" + m.group(0).strip("\n").replace("\t", "   "), text)
        text = re.sub(r"\n{3,}", "\n\n", text)
        return "\n".join(line.rstrip() for line in text.strip().split("\n")) + "\n"


def read_html(src: SourceFile) -> Document:
    parser = _HtmlToMarkdown()
    raw = read_text(src.path)
    parser.feed(raw)
    parser.close()
    meta = {k: v for k, v in parser.meta.items() if k in ("id", "owner", "tags", "review_by", "status")}
    if parser.title.strip() and "title" not in meta:
        meta["title"] = parser.title.strip()
    return _with_source_hash(sop_document(src, parser.markdown(), meta), raw)


# -- tickets ---------------------------------------------------------------------------------

def parse_field_map(pairs: list[str]) -> dict[str, str]:
    """`--map question=description` -> {"question": "description"} (our field = their column)."""
    out = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise InputError(f"--map {pair!r} is not FIELD=COLUMN", hint="e.g. --map question=description")
        ours, theirs = (s.strip() for s in pair.split("=", 1))
        if ours not in TICKET_FIELDS:
            raise InputError(f"--map {pair!r}: {ours!r} is not a ticket field",
                             hint=f"fields are {', '.join(TICKET_FIELDS)}", field=ours)
        out[ours] = theirs
    return out


def ticket_title_body(tid: str, subject: str, question: str, answer: str) -> tuple[str, str]:
    """A ticket's title (its subject, else the start of its question) and body (question + resolution)."""
    title = subject or (question[:77] + "…" if len(question) > 80 else question) or tid
    parts = []
    if question:
        parts.append(f"Question:\n{question}")
    if answer:
        parts.append(f"Resolution:\n{answer}")
    return title, "\n\n".join(parts) + "\n"


def ticket_document(row: dict, src: SourceFile, line: int, field_map: dict[str, str]) -> Document:
    def get(name: str):
        col = field_map.get(name, name)
        return row.get(col) if col in row else row.get(name)

    where = f"{src.path}:{line}"
    for name in TICKET_FIELDS:
        value = get(name)
        bad = bad_character(value) if isinstance(value, str) else None
        if bad:
            raise InputError(f"{where}: the `{field_map.get(name, name)}` field has {bad}",
                             hint="remove that character (the export that made the file may be broken)", field=name)
    tid = _as_str(get("id"))
    if not tid:
        col = field_map.get("id", "id")
        raise InputError(f"{where}: ticket has no `{col}`", hint="every ticket needs an id; map another column "
                         "with --map id=COLUMN", field="id")
    question = _as_str(get("question"))
    answer = _as_str(get("answer"))
    subject = _as_str(get("subject"))
    if not (question or answer or subject):
        raise InputError(f"{where}: ticket {tid} has no subject, question or answer",
                         hint="map the text columns with --map question=COLUMN --map answer=COLUMN")
    title, body = ticket_title_body(tid, subject, question, answer)
    metadata = {"question": question, "answer": answer, "subject": subject, "channel": _as_str(get("channel")),
                "created_at": _as_str(get("created_at"))}
    language = _as_str(get("language"))
    if language:  # only when given: tickets without it keep their content hash
        metadata["language"] = language.strip().lower()
    return Document(id=tid, type="ticket", title=title, body=body, source_path=str(src.path.resolve()),
                    tags=_as_tags(get("tags"), where), status=_as_str(get("status")).lower(), metadata=metadata)


def read_tickets(src: SourceFile, field_map: dict[str, str]) -> Iterator[Document | InputError]:
    """Tickets of one file; a bad row yields an InputError (reported and skipped), the rest are read."""
    text = read_text(src.path)
    if src.kind == "csv":
        header, rows = csv_rows(text, str(src.path))
        if field_map.get("id", "id") not in header and "id" not in header:
            raise InputError(f"{src.path}:1: the CSV header has no `{field_map.get('id', 'id')}` column "
                             f"(columns: {', '.join(header)})",
                             hint="add an id column or map one with --map id=COLUMN")
        for item in rows:
            if isinstance(item, InputError):
                yield item
                continue
            try:
                yield ticket_document(item[1], src, item[0], field_map)
            except InputError as exc:
                yield exc
    else:
        for line_no, line in enumerate(text.split("\n"), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                yield InputError(f"{src.path}:{line_no}: not valid JSON ({exc.msg} at column {exc.colno})",
                                 hint="each line of a JSONL file is one JSON object")
                continue
            except RecursionError:
                yield InputError(f"{src.path}:{line_no}: the JSON is nested too deeply",
                                 hint="a ticket is one flat JSON object of text fields")
                continue
            if not isinstance(row, dict):
                yield InputError(f"{src.path}:{line_no}: a JSONL line must be a JSON object")
                continue
            try:
                yield ticket_document(row, src, line_no, field_map)
            except InputError as exc:
                yield exc


READERS = {"markdown": read_markdown, "text": read_plain_text, "html": read_html}
