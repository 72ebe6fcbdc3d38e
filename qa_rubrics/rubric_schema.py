"""Rubric validation: the YAML node tree (for line numbers) and the schema checks.

Used by `qa_rubrics.rubric.parse_rubric`. Every problem is recorded with its line and field and
reported together; each method's own fields come from its registered spec.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from kb.saferegex import backtracking_risk
from qa_rubrics.criteria import REGISTRY, FieldSpec, Method, later_fields, method_names, resolve
from qa_rubrics.rubric import (
    REGEX_FLAGS,
    SPEAKERS,
    Check,
    Criterion,
    Rubric,
    Section,
    Window,
    compile_pattern,
)

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
TOP_FIELDS = {"id", "name", "version", "pass_mark", "sections", "description", "language", "learned"}
LEARNED_FIELDS = {"file", "sha256", "model", "trained_on", "created", "criteria", "derived_from"}
SECTION_FIELDS = {"id", "name", "criteria", "description"}
CRITERION_FIELDS = {"id", "question", "speaker", "points", "critical", "method", "threshold", "slope", "window",
                    "applies_when", "description", "notes"}
CHECK_FIELDS = {"method", "speaker", "threshold", "slope", "window", "question"}


# -- YAML with line numbers ----------------------------------------------------------------------
def walk(node: yaml.Node, path: tuple, lines: dict[tuple, int], dupes: list[tuple[int, tuple, str]]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for k, v in node.value:
            key = k.value if isinstance(k, yaml.ScalarNode) else str(k.value)
            if key in seen:
                dupes.append((k.start_mark.line + 1, path, key))
            seen.add(key)
            lines[(*path, key)] = k.start_mark.line + 1
            walk(v, (*path, key), lines, dupes)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            walk(v, (*path, i), lines, dupes)


def dotted(path: tuple) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


class Validator:
    def __init__(self, source: str, lines: dict[tuple, int]):
        self.source = source
        self.lines = lines
        self.errors: list[tuple[int | None, str, str]] = []

    def line(self, path: tuple) -> int | None:
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), None)

    def err(self, path: tuple, message: str) -> None:
        self.errors.append((self.line(path), dotted(path), message))

    # scalar helpers: return the value, or None after recording an error
    def text(self, data: dict, key: str, path: tuple, *, required: bool = True) -> str | None:
        if key not in data or data[key] is None:
            if required:
                self.err(path, f"missing field '{key}'")
            return None
        v = data[key]
        if not isinstance(v, str | int | float) or isinstance(v, bool) or not str(v).strip():
            self.err((*path, key), f"'{key}' must be a non-empty string")
            return None
        return str(v).strip()

    def ident(self, data: dict, key: str, path: tuple) -> str | None:
        v = self.text(data, key, path)
        if v is not None and not _ID.match(v):
            self.err((*path, key), f"'{key}' {v!r} may use only letters, digits, '_', '-' and '.'")
            return None
        return v

    def number(self, data: dict, key: str, path: tuple, *, lo: float | None = None, hi: float | None = None,
               required: bool = False, integer: bool = False, default: Any = None) -> Any:
        if key not in data or data[key] is None:
            if required:
                self.err(path, f"missing field '{key}'")
            return default
        v = data[key]
        if isinstance(v, bool) or not isinstance(v, int | float) or (integer and not isinstance(v, int)):
            self.err((*path, key), f"'{key}' must be {'a whole number' if integer else 'a number'}, not {v!r}")
            return default
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            rng = f"between {lo:g} and {hi:g}" if lo is not None and hi is not None else (
                f"at least {lo:g}" if lo is not None else f"at most {hi:g}")
            self.err((*path, key), f"'{key}' must be {rng}, not {v!r}")
            return default
        return v

    def unknown(self, data: dict, allowed: set[str], path: tuple, what: str, hints: dict[str, str] | None = None) -> None:
        """Flag fields not in `allowed`; `hints` adds a word of advice for some (a later method version)."""
        for k in data:
            if k not in allowed:
                close = _closest(str(k), allowed)
                hint = (hints or {}).get(k) or (f"did you mean '{close}'?" if close else "")
                self.err((*path, k), f"unknown field '{k}' in {what}" + (f" ({hint})" if hint else ""))


def _closest(word: str, options: set[str]) -> str | None:
    import difflib

    m = difflib.get_close_matches(word, sorted(options), n=1, cutoff=0.75)
    return m[0] if m else None


def build(data: Any, v: Validator) -> Rubric | None:
    if not isinstance(data, dict):
        v.err((), "a rubric must be a mapping with id, name, version, pass_mark and sections")
        return None
    v.unknown(data, TOP_FIELDS, (), "the rubric")
    rid = v.ident(data, "id", ())
    name = v.text(data, "name", (), required=False) or rid or ""
    version = v.number(data, "version", (), lo=1, integer=True, default=1)
    pass_mark = v.number(data, "pass_mark", (), lo=0, hi=100, default=80)
    language = _language(data, v)
    learned = _learned(data, v)
    sections_raw = data.get("sections")
    sections: list[Section] = []
    if sections_raw is None:
        v.err((), "missing field 'sections'")
    elif not isinstance(sections_raw, list) or not sections_raw:
        v.err(("sections",), "'sections' must be a non-empty list")
    else:
        section_ids: set[str] = set()
        criterion_ids: dict[str, tuple] = {}
        for i, s in enumerate(sections_raw):
            sec = _section(s, ("sections", i), v, section_ids, criterion_ids)
            if sec is not None:
                sections.append(sec)
        _check_references(sections, criterion_ids, v)
    return Rubric(id=rid or "", name=name, version=int(version), pass_mark=float(pass_mark), sections=sections,
                  language=language, learned=learned)


def _language(data: dict, v: Validator) -> str:
    from qa_rubrics.bank import LANGUAGES

    lang = data.get("language", "en")
    if not isinstance(lang, str) or lang.strip().lower()[:2] not in LANGUAGES or len(lang.strip()) > 5:
        v.err(("language",), f"language must be one of {', '.join(LANGUAGES)} (the language of the examples)")
        return "en"
    return lang.strip().lower()[:2]


def _learned(data: dict, v: Validator) -> dict | None:
    """`learned: {file: NAME.learned.npz, sha256: ...}`: classifiers learned from labelled conversations."""
    raw = data.get("learned")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        v.err(("learned",), "learned must be a mapping with 'file' and 'sha256'")
        return None
    v.unknown(raw, LEARNED_FIELDS, ("learned",), "learned")
    ok = True
    for key in ("file", "sha256"):
        if not isinstance(raw.get(key), str) or not raw.get(key):
            v.err(("learned", key), f"learned.{key} is missing")
            ok = False
    return dict(raw) if ok else None


def _section(s: Any, path: tuple, v: Validator, section_ids: set[str],
             criterion_ids: dict[str, tuple]) -> Section | None:
    if not isinstance(s, dict):
        v.err(path, "a section must be a mapping with id, name and criteria")
        return None
    v.unknown(s, SECTION_FIELDS, path, "a section")
    sid = v.ident(s, "id", path)
    if sid is not None:
        if sid in section_ids:
            v.err((*path, "id"), f"duplicate section id '{sid}'")
        section_ids.add(sid)
    crits_raw = s.get("criteria")
    criteria: list[Criterion] = []
    if crits_raw is None:
        v.err(path, "missing field 'criteria'")
    elif not isinstance(crits_raw, list) or not crits_raw:
        v.err((*path, "criteria"), "'criteria' must be a non-empty list")
    else:
        for j, c in enumerate(crits_raw):
            crit = _criterion(c, (*path, "criteria", j), v, sid or "", criterion_ids)
            if crit is not None:
                criteria.append(crit)
    return Section(id=sid or "", name=v.text(s, "name", path, required=False) or sid or "", criteria=criteria)


def _criterion(c: Any, path: tuple, v: Validator, section: str, criterion_ids: dict[str, tuple]) -> Criterion | None:
    if not isinstance(c, dict):
        v.err(path, "a criterion must be a mapping with id, question, points and method")
        return None
    cid = v.ident(c, "id", path)
    if cid is not None:
        if cid in criterion_ids:
            v.err((*path, "id"), f"duplicate criterion id '{cid}' (first at line {v.line(criterion_ids[cid])})")
        else:
            criterion_ids[cid] = (*path, "id")
    question = v.text(c, "question", path) or ""
    points = v.number(c, "points", path, lo=0, required=True, default=0)
    critical = c.get("critical", False)
    if not isinstance(critical, bool):
        v.err((*path, "critical"), f"'critical' must be true or false, not {critical!r}")
        critical = False
    check = _check(c, path, v, allowed_extra=CRITERION_FIELDS, default_speaker="agent", question=question,
                   what=f"criterion '{cid}'")
    applies = None
    if "applies_when" in c:
        applies = _nested(c["applies_when"], (*path, "applies_when"), v, default_speaker="any", default_window=None)
    if check is None:
        return None
    return Criterion(id=cid or "", question=question, points=float(points), critical=critical, section=section,
                     check=check, applies_when=applies, line=v.line(path))


def _nested(data: Any, path: tuple, v: Validator, *, default_speaker: str, default_window: Window | None) -> Check | None:
    if not isinstance(data, dict):
        v.err(path, f"'{path[-1]}' must be a mapping with a method and its fields")
        return None
    check = _check(data, path, v, allowed_extra=CHECK_FIELDS, default_speaker=default_speaker,
                   question=str(data.get("question") or ""), what=f"'{path[-1]}'", nested=True)
    if check is not None and check.window is None and default_window is not None:
        check.window = default_window
    return check


def _check(data: dict, path: tuple, v: Validator, *, allowed_extra: set[str], default_speaker: str,
           question: str, what: str, nested: bool = False) -> Check | None:
    method_name = v.text(data, "method", path)
    method: Method | None = None
    if method_name is not None:
        method = resolve(method_name)
        if method is None:
            close = _closest(method_name.lower(), set(method_names()))
            v.err((*path, "method"), f"unknown method '{method_name}'" +
                  (f" (did you mean '{close}'?)" if close else f"; use one of {', '.join(method_names())}"))
        elif nested and not method.nested:
            v.err((*path, "method"), f"method '{method.name}' cannot be used inside {what}")
            method = None
    speaker = data.get("speaker", default_speaker)
    if speaker not in SPEAKERS:
        v.err((*path, "speaker"), f"'speaker' must be one of {', '.join(SPEAKERS)}, not {speaker!r}")
        speaker = default_speaker
    window = _window(data.get("window"), (*path, "window"), v) if "window" in data else None
    fields = {f.name: f for f in method.fields} if method else {}
    if method is None:  # cannot check the method's own fields: only flag what no method has
        method_names()  # loads the built-in methods
        fields = {f.name: f for m in REGISTRY.values() for f in m.fields}
    v.unknown(data, allowed_extra | set(fields), path, what, later_fields(method) if method else None)
    threshold = slope = None
    if method is not None:
        if "threshold" in data and method.default_threshold is None:
            v.err((*path, "threshold"), f"method '{method.name}' takes no threshold")
        elif method.default_threshold is not None:
            threshold = v.number(data, "threshold", path, lo=0, hi=1)
        if "slope" in data:
            if method.default_threshold is None:
                v.err((*path, "slope"), f"method '{method.name}' takes no slope")
            else:
                slope = v.number(data, "slope", path, lo=0.1, hi=1000)
    params: dict[str, Any] = {}
    for name, spec in fields.items():
        if method is None:
            break
        value = _field(data, spec, path, v, speaker=speaker, window=window)
        if value is not None:
            params[name] = value
    if method is None:
        return None
    if method.one_of and not any(k in data for k in method.one_of):
        v.err(path, f"method '{method.name}' needs at least one of: {', '.join(method.one_of)}")
    return Check(method=method.key, speaker=speaker, params=params, threshold=threshold, slope=slope, window=window,
                 question=question, line=v.line(path), path=dotted(path))


def _window(w: Any, path: tuple, v: Validator) -> Window | None:
    if not isinstance(w, dict) or not w:
        v.err(path, "'window' must be a mapping: {first_turns: N} or {last_turns: N}")
        return None
    v.unknown(w, {"first_turns", "last_turns"}, path, "a window")
    first = v.number(w, "first_turns", path, lo=1, integer=True)
    last = v.number(w, "last_turns", path, lo=1, integer=True)
    if first and last:
        v.err(path, "a window takes first_turns or last_turns, not both")
        return None
    if not first and not last:
        if not any(k not in ("first_turns", "last_turns") for k in w):
            v.err(path, "a window needs first_turns or last_turns")
        return None
    return Window(first_turns=first, last_turns=last)


def _field(data: dict, spec: FieldSpec, path: tuple, v: Validator, *, speaker: str, window: Window | None) -> Any:
    name = spec.name
    fpath = (*path, name)
    if name not in data or data[name] is None:
        if spec.required:
            v.err(path, f"missing field '{name}'" + (f" ({spec.help})" if spec.help else ""))
        return None
    value = data[name]
    kind = spec.kind
    if kind in ("str", "criterion", "sop"):
        if not isinstance(value, str) or not value.strip():
            v.err(fpath, f"'{name}' must be a non-empty string")
            return None
        return value.strip()
    if kind == "str_list":
        if isinstance(value, str) or not isinstance(value, list) or not value:
            v.err(fpath, f"'{name}' must be a non-empty list of strings")
            return None
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, str | int | float) or isinstance(item, bool) or not str(item).strip():
                v.err((*fpath, i), f"'{name}' item {i + 1} must be a non-empty string")
                continue
            out.append(str(item).strip())
        return out
    if kind == "choices":
        if isinstance(value, str) or not isinstance(value, list):
            v.err(fpath, f"'{name}' must be a list (possibly empty) of: {', '.join(spec.choices)}")
            return None
        bad = [str(x) for x in value if x not in spec.choices]
        if bad:
            v.err(fpath, f"'{name}' cannot hold {', '.join(repr(b) for b in bad)}; "
                         f"it takes: {', '.join(spec.choices)}")
            return None
        return list(dict.fromkeys(value))
    if kind in ("number", "positive", "ratio"):
        lo, hi = (0, 1) if kind == "ratio" else (0, None)
        val = v.number(data, name, path, lo=lo, hi=hi)
        if val is not None and kind == "positive" and val <= 0:
            v.err(fpath, f"'{name}' must be greater than 0")
            return None
        return val
    if kind == "flags":
        if not isinstance(value, str) or any(ch not in REGEX_FLAGS for ch in value):
            v.err(fpath, f"'{name}' must be letters from 'imsx' (i: ignore case, m: multi-line, s: dot-all, "
                         f"x: verbose), not {value!r}")
            return None
        return value
    if kind == "regex":
        if not isinstance(value, str) or not value:
            v.err(fpath, f"'{name}' must be a regular expression string")
            return None
        flags = data.get("flags", "i")
        try:
            compile_pattern(value, flags if isinstance(flags, str) and all(c in REGEX_FLAGS for c in flags) else "")
        except re.error as exc:
            v.err(fpath, f"'{name}' is not a valid regular expression: {exc}")
            return None
        risk = backtracking_risk(value, flags if isinstance(flags, str) else "")
        if risk:
            v.err(fpath, f"'{name}' could take forever on some text: {risk}; write it without the nested "
                         "repetition, e.g. (a+)+ as a+")
            return None
        return value
    if kind == "check":
        return _nested(value, fpath, v, default_speaker=speaker, default_window=window)
    raise AssertionError(kind)  # pragma: no cover


def _check_references(sections: list[Section], ids: dict[str, tuple], v: Validator) -> None:
    """`order` criteria must name other, known criteria, without cycles."""
    edges: dict[str, list[str]] = {}
    for sec in sections:
        for c in sec.criteria:
            if c.check.method_name != "order":
                continue
            path = next((p[:-1] for k, p in ids.items() if k == c.id), ())
            for key in ("first", "then"):
                ref = c.check.params.get(key)
                if ref is None:
                    continue
                if ref not in ids:
                    close = _closest(ref, set(ids))
                    v.err((*path, key), f"'{key}' names unknown criterion '{ref}'" +
                          (f" (did you mean '{close}'?)" if close else ""))
                elif ref == c.id:
                    v.err((*path, key), f"'{key}' names the criterion itself")
                else:
                    edges.setdefault(c.id, []).append(ref)
            if c.check.params.get("first") and c.check.params.get("first") == c.check.params.get("then"):
                v.err((*path, "then"), "'first' and 'then' name the same criterion")
    # cycles among order criteria (a -> b where b is an order criterion naming a ...)
    state: dict[str, int] = {}

    def visit(n: str, stack: list[str]) -> None:
        state[n] = 1
        for m in edges.get(n, []):
            if state.get(m) == 1:
                cyc = " -> ".join([*stack[stack.index(m):], m]) if m in stack else f"{n} -> {m}"
                v.err(ids.get(n, ()), f"order criteria refer to each other in a cycle: {cyc}")
            elif state.get(m) is None:
                visit(m, [*stack, m])
        state[n] = 2

    for n in edges:
        if state.get(n) is None:
            visit(n, [n])
