"""Rubrics: YAML files of sections and criteria, loaded and validated.

Validation reports every problem at once, each naming the file, the line and the field:
an unknown method, a missing or unknown field, a duplicate id, a bad threshold or window, a regex
that does not compile, an `order` criterion naming an unknown criterion. Each method declares its
own fields (see `qa_rubrics.criteria`), so the schema grows with the registry. The checks live
in `qa_rubrics.rubric_schema`; this module holds the rubric's dataclasses and the entry points.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kb.errors import InputError
from kb.safeyaml import BoundedLoader
from qa_rubrics.criteria import Method, resolve

SPEAKERS = ("agent", "customer", "any")
REGEX_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE}


class RubricError(InputError):
    """A rubric that does not validate; `errors` lists (line, field, message) for each problem."""

    code = "invalid_rubric"

    def __init__(self, message: str, *, errors: list[tuple[int | None, str, str]] | None = None, **kw):
        super().__init__(message, **kw)
        self.errors = errors or []


@dataclass(frozen=True)
class Window:
    first_turns: int | None = None
    last_turns: int | None = None

    def to_dict(self) -> dict[str, int]:
        return {k: v for k, v in (("first_turns", self.first_turns), ("last_turns", self.last_turns)) if v}


@dataclass
class Check:
    """A method with its parameters: a criterion's own check, its `applies_when`, or an `absent` check."""

    method: str  # versioned key: "semantic.v1"
    speaker: str = "agent"
    params: dict[str, Any] = field(default_factory=dict)
    threshold: float | None = None
    slope: float | None = None
    window: Window | None = None
    question: str = ""
    line: int | None = None
    path: str = ""

    @property
    def method_name(self) -> str:
        return self.method.split(".v")[0]

    def spec(self) -> Method:
        m = resolve(self.method)
        assert m is not None, self.method
        return m


@dataclass
class Criterion:
    id: str
    question: str
    points: float
    critical: bool
    section: str
    check: Check
    applies_when: Check | None = None
    line: int | None = None

    @property
    def method(self) -> str:
        return self.check.method

    @property
    def speaker(self) -> str:
        return self.check.speaker


@dataclass
class Section:
    id: str
    name: str
    criteria: list[Criterion]


@dataclass
class Rubric:
    id: str
    name: str
    version: int
    pass_mark: float
    sections: list[Section]
    path: str = ""
    hash: str = ""
    text: str = ""
    lines: dict[tuple, int] = field(default_factory=dict, repr=False)
    language: str = "en"  # the language of the examples (which sentence bank the classifiers contrast with)
    learned: dict[str, Any] | None = None  # `learned:` block: the file of classifiers learned from labels

    @property
    def criteria(self) -> list[Criterion]:
        return [c for s in self.sections for c in s.criteria]

    def criterion(self, cid: str) -> Criterion:
        for c in self.criteria:
            if c.id == cid:
                return c
        raise KeyError(cid)


def compile_pattern(pattern: str, flags: str = "i") -> re.Pattern:
    f = 0
    for ch in flags or "":
        f |= REGEX_FLAGS[ch]
    return re.compile(pattern, f)


# -- loading -------------------------------------------------------------------------------------
def load_rubric(path: str | Path) -> Rubric:
    """Read and validate a rubric file; RubricError lists every problem with its line and field."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"Rubric file {p} does not exist", field="rubric") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"Cannot read the rubric file {p}: {exc}", field="rubric") from None
    rubric = parse_rubric(text, str(p))
    if rubric.learned:
        from qa_rubrics.learned import load_for_rubric

        load_for_rubric(rubric)  # the learned file must be there and match its hash
    return rubric


def parse_rubric(text: str, source: str = "<rubric>") -> Rubric:
    try:
        loader = BoundedLoader(text)  # no aliases (a few bytes could expand to gigabytes), checked dates
    except yaml.reader.ReaderError as exc:  # a control character: PyYAML checks the whole text first
        line = text[: exc.position].count("\n") + 1
        problem = f"character #x{exc.character:04x} is not allowed in YAML"
        raise RubricError(f"{source}, line {line}: invalid YAML: {problem}", errors=[(line, "", problem)],
                          hint="remove the control character") from None
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise RubricError(f"{source}, line {line}: invalid YAML: {exc.problem or exc}",
                          errors=[(line, "", f"invalid YAML: {exc.problem}")],
                          hint="fix the YAML syntax (indentation, quotes, colons)") from None
    finally:
        loader.dispose()
    from qa_rubrics.rubric_schema import Validator, build, dotted, walk

    lines: dict[tuple, int] = {}
    dupes: list[tuple[int, tuple, str]] = []
    if node is not None:
        walk(node, (), lines, dupes)
    v = Validator(source, lines)
    for line, path, key in dupes:
        v.errors.append((line, dotted((*path, key)), f"field '{key}' is given twice"))
    rubric = build(data, v)
    if v.errors:
        errs = sorted(v.errors, key=lambda e: (e[0] or 0))
        first_line, first_field, first_msg = errs[0]
        body = "\n".join(f"  {source}, line {ln}: {fld + ': ' if fld else ''}{msg}" for ln, fld, msg in errs)
        n = len(errs)
        raise RubricError(
            (f"{source}, line {first_line}: {first_field + ': ' if first_field else ''}{first_msg}" if n == 1 else
             f"{source}: {n} problems\n{body}"),
            errors=errs, field=first_field or None,
            hint="see docs/qa.md for the rubric format")
    assert rubric is not None
    rubric.path = source
    rubric.text = text
    rubric.hash = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    rubric.lines = lines
    return rubric


def order_of_evaluation(rubric: Rubric) -> list[Criterion]:
    """Criteria in an order where every `order` criterion comes after the ones it names."""
    done: set[str] = set()
    out: list[Criterion] = []
    pending = list(rubric.criteria)
    while pending:
        rest = []
        for c in pending:
            deps = [c.check.params.get(k) for k in ("first", "then")] if c.check.method_name == "order" else []
            if all(d in done for d in deps if d):
                out.append(c)
                done.add(c.id)
            else:
                rest.append(c)
        if len(rest) == len(pending):  # cannot happen after validation
            out.extend(rest)
            break
        pending = rest
    return out


# -- writing a tuned copy ------------------------------------------------------------------------
def write_tuned_copy(rubric: Rubric, values: dict[str, dict[str, float]], out_path: str | Path,
                     note: str = "", learned: dict[str, Any] | None = None, version: int | None = None) -> Path:
    """Write `tuned_text` to `out_path` (never over the rubric itself) and check that it loads."""
    out = Path(out_path)
    if rubric.path and out.resolve() == Path(rubric.path).resolve():
        raise InputError("--tune would overwrite the rubric itself", hint="write the tuned copy to another file",
                         field="tune")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(tuned_text(rubric, values, note=note, learned=learned, version=version), encoding="utf-8")
    load_rubric(out)  # the copy must still validate (and its learned file match its hash)
    return out


def tuned_text(rubric: Rubric, values: dict[str, dict[str, float]], *, note: str = "",
               learned: dict[str, Any] | None = None, version: int | None = None) -> str:
    """The rubric's YAML text with new `threshold` (and `slope`) values per criterion, and optionally a
    `learned:` block (classifiers learned from labels) and a new `version`.

    Comments and layout are kept: existing lines are edited in place, missing keys are inserted
    after the criterion's `method:` line; the result is validated.
    """
    lines = rubric.text.splitlines()
    edits: dict[int, str] = {}
    inserts: dict[int, list[str]] = {}
    dropped: set[int] = set()
    ids = {c.id: i for i, c in enumerate(rubric.criteria)}
    for cid, vals in values.items():
        if cid not in ids:
            continue
        crit_path = _criterion_path(rubric, cid)
        if crit_path is None:
            continue
        if rubric.criterion(cid).check.method_name == "absent":  # the threshold is the wrapped check's
            crit_path = (*crit_path, "check")
        method_line = rubric.lines.get((*crit_path, "method"))
        for key, val in vals.items():
            text_val = f"{val:.3f}" if key == "threshold" else f"{val:.1f}"
            line_no = rubric.lines.get((*crit_path, key))
            if line_no:
                old = lines[line_no - 1]
                m = re.match(rf"^(\s*(?:-\s+)?{key}\s*:\s*)([^#]*?)(\s*#.*)?$", old)
                if m:
                    edits[line_no - 1] = f"{m.group(1)}{text_val}{m.group(3) or ''}"
                    continue
            if method_line:
                indent = re.match(r"^(\s*)(?:-\s+)?", lines[method_line - 1])
                pad = " " * len(indent.group(0)) if indent else "      "
                inserts.setdefault(method_line - 1, []).append(f"{pad}{key}: {text_val}")
    if version is not None:
        vline = rubric.lines.get(("version",))
        if vline:
            edits[vline - 1] = re.sub(r"^(\s*version\s*:\s*)\S+", rf"\g<1>{int(version)}", lines[vline - 1])
    if learned is not None:
        start = rubric.lines.get(("learned",))
        if start:  # drop the old block: its key line and the indented lines under it
            i = start - 1
            dropped.add(i)
            while i + 1 < len(lines) and (lines[i + 1].startswith((" ", "\t")) or not lines[i + 1].strip()):
                i += 1
                dropped.add(i)
        anchor = (rubric.lines.get(("sections",)) or len(lines) + 1) - 2  # insert before `sections:`
        block = ["learned:"] + [f"  {k}: {_yaml_scalar(v)}" for k, v in learned.items()]
        inserts.setdefault(anchor, []).extend(block)
    new_lines = []
    for i, ln in enumerate(lines):
        if i not in dropped:
            new_lines.append(edits.get(i, ln))
        new_lines.extend(inserts.get(i, []))
    if -1 in inserts:
        new_lines = inserts[-1] + new_lines
    header = [f"# {line}" for line in note.splitlines()] if note else []
    text = "\n".join(header + new_lines) + "\n"
    parse_rubric(text, rubric.path or "<tuned rubric>")  # must still validate
    return text


def _yaml_scalar(v: Any) -> str:
    import json

    return json.dumps(v) if isinstance(v, str) else str(v)


def _criterion_path(rubric: Rubric, cid: str) -> tuple | None:
    for si, s in enumerate(rubric.sections):
        for ci, c in enumerate(s.criteria):
            if c.id == cid:
                return ("sections", si, "criteria", ci)
    return None
