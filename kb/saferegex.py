"""Regular expressions written by users (QA rubrics): refused when they can backtrack for ever, and
run with a time limit whatever they are.

- `backtracking_risk(pattern)` finds the classic shapes of catastrophic backtracking before a
  pattern is accepted: a repeated group that itself repeats something unbounded (`(a+)+`,
  `(\\w+\\s?)*`, `(.*a){20}`), and a repeated alternation whose branches can match the same text
  (`(a|aa)+`, parsed as `a(|a)`). A rubric with such a pattern fails validation with the reason.
- `compile_limited` compiles with the `regex` package (compatible with `re` for these
  patterns), and `finditer_limited` stops a search after `timeout` seconds with `PatternTimeout`,
  so a pattern that slips past the check cannot hang scoring or the web app's job thread.
"""

from __future__ import annotations

import re
import re._constants as sre_constants  # noqa: PLC2701 - the parser's node types
import re._parser as sre_parse  # noqa: PLC2701 - the stdlib's own parser, to inspect a pattern
from collections.abc import Iterator
from typing import Any

import regex

DEFAULT_TIMEOUT = 1.0
_REPEATS = (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT, getattr(sre_constants, "POSSESSIVE_REPEAT", None))
_UNBOUNDED = sre_constants.MAXREPEAT
FLAGS = {"i": regex.IGNORECASE, "m": regex.MULTILINE, "s": regex.DOTALL, "x": regex.VERBOSE}


class PatternTimeout(Exception):
    """A pattern ran longer than its time limit on one text."""


def _items(node: Any) -> Iterator[tuple[Any, Any]]:
    for item in node:
        if isinstance(item, tuple) and len(item) == 2:
            yield item


def _children(op: Any, av: Any) -> list[Any]:
    """Sub-patterns of one parsed node."""
    if op in _REPEATS:
        return [av[2]]
    if op == sre_constants.SUBPATTERN:
        return [av[-1]]
    if op == sre_constants.BRANCH:
        return list(av[1])
    if op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT):
        return [av[1]]
    if op == getattr(sre_constants, "ATOMIC_GROUP", None):
        return [av]
    if op == sre_constants.GROUPREF_EXISTS:
        return [x for x in av[1:] if x is not None]
    return []


def _has_unbounded(node: Any) -> bool:
    for op, av in _items(node):
        if op in _REPEATS and op is not None and (av[1] == _UNBOUNDED or av[1] > 10):
            return True
        if any(_has_unbounded(c) for c in _children(op, av)):
            return True
    return False


def _first_chars(node: Any) -> set[str] | None:
    """Literal first characters a sub-pattern can start with; None when it could start with many."""
    for op, av in _items(node):
        if op == sre_constants.LITERAL:
            return {chr(av)}
        if op == sre_constants.AT:
            continue
        if op == sre_constants.SUBPATTERN:
            return _first_chars(av[-1])
        return None
    return set()


def _can_be_empty(op: Any, av: Any) -> bool:
    if op == sre_constants.BRANCH:
        return any(not b for b in av[1])
    return op in _REPEATS and op is not None and av[0] == 0


def _ambiguous(body: Any) -> bool:
    """True when one iteration of a repeated `body` can end in more than one place on the same text:
    branches that start alike (`(a|ab)`), or an optional part that may also start the next
    iteration (`(a|aa)` is parsed as `a(|a)`)."""
    items = list(_items(body))
    first = _first_chars(items)
    for op, av in items:
        if op == sre_constants.BRANCH:
            firsts = [_first_chars(b) for b in av[1]]
            seen: set[str] = set()
            for f in firsts:
                if f and seen & f:
                    return True
                seen |= f or set()
        if _can_be_empty(op, av) and first:
            inner = [b for b in av[1] if b] if op == sre_constants.BRANCH else [av[2]]
            if any((_first_chars(b) or set()) & first for b in inner):
                return True
        if op == sre_constants.SUBPATTERN and _ambiguous(av[-1]):
            return True
    return False


def _risky(node: Any) -> str | None:
    for op, av in _items(node):
        if op in _REPEATS and op is not None:
            lo, hi, body = av
            if hi == _UNBOUNDED or hi > 10:
                if _has_unbounded(body):
                    return "a repeated group repeats something unbounded inside it (like (a+)+)"
                if _ambiguous(body):
                    return "a repeated alternation has branches that can match the same text (like (a|aa)+)"
        for child in _children(op, av):
            found = _risky(child)
            if found:
                return found
    return None


def backtracking_risk(pattern: str, flags: str = "") -> str | None:
    """Why `pattern` may backtrack catastrophically, or None when it has none of the known shapes."""
    f = 0
    for ch in flags or "":
        f |= {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE}.get(ch, 0)
    try:
        parsed = sre_parse.parse(pattern, f)
    except (re.error, RecursionError, OverflowError):
        return None  # an invalid pattern is reported by compiling it
    return _risky(list(parsed))


def compile_limited(pattern: str, flags: str = "i") -> regex.Pattern:
    f = 0
    for ch in flags or "":
        f |= FLAGS[ch]
    return regex.compile(pattern, f)


def finditer_limited(rx: regex.Pattern, text: str, timeout: float = DEFAULT_TIMEOUT) -> list[Any]:
    """Every match of `rx` in `text`; PatternTimeout when that takes longer than `timeout` seconds."""
    try:
        return list(rx.finditer(text, timeout=timeout))
    except TimeoutError:
        raise PatternTimeout(f"the pattern {rx.pattern!r} ran longer than {timeout:g} s on one turn") from None
