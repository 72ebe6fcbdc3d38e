"""Safe rendering of content: SOP Markdown, ticket text, transcript turns and diffs.

- Markdown goes through markdown-it-py with raw HTML *disabled* (a `<script>` in an SOP is shown
  as text), then through bleach with a short allow-list of tags, attributes and URL schemes. The
  live preview in the SOP editor uses the same function, so what a manager previews is exactly
  what agents see.
- Plain text (tickets, transcripts) is escaped; highlighted spans are cut on character offsets
  and each piece escaped on its own.
- The Content-Security-Policy (see webapp/__init__.py) forbids inline scripts as a second fence.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import bleach
from markupsafe import Markup, escape

ALLOWED_TAGS = frozenset({
    "a", "abbr", "b", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i",
    "li", "mark", "ol", "p", "pre", "s", "strong", "sub", "sup", "table", "tbody", "td", "th", "thead", "tr", "ul",
})
ALLOWED_PROTOCOLS = frozenset({"http", "https", "mailto"})
_ID = re.compile(r"^(match|h-[a-z0-9-]{1,80})$")
_CLASSES = frozenset({"match"})


def _attr_ok(tag: str, name: str, value: str) -> bool:
    if name == "id":
        return bool(_ID.match(value))
    if name == "class":
        return all(c in _CLASSES for c in value.split())
    if tag == "a" and name in ("href", "title"):
        return True
    if tag == "ol" and name == "start":
        return value.isdigit()
    return False


def sanitize(html: str) -> str:
    """Only the allowed tags, attributes and URL schemes survive; everything else is stripped or escaped."""
    return bleach.clean(html, tags=ALLOWED_TAGS, attributes=_attr_ok, protocols=ALLOWED_PROTOCOLS, strip=True)


@lru_cache(maxsize=1)
def _md():
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")


def _slug(text: str) -> str:
    return "h-" + (re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:80] or "section")


_MARKABLE = {"heading_open", "paragraph_open", "list_item_open", "fence", "code_block", "table_open",
             "blockquote_open"}


def render_markdown(text: str, *, mark_lines: tuple[int, int] | None = None) -> Markup:
    """Sanitised HTML for SOP Markdown. `mark_lines` (first, last source line, 0-based) marks the
    blocks of a matched passage with class="match"; the first of them gets id="match"."""
    md = _md()
    tokens = md.parse(text or "")
    first = True
    inside: int | None = None  # level of a marked container: what it holds is not marked again
    used: set[str] = set()
    for i, tok in enumerate(tokens):
        if inside is not None and tok.nesting == -1 and tok.level == inside:
            inside = None
            continue
        if tok.type == "heading_open" and i + 1 < len(tokens):
            slug = _slug(tokens[i + 1].content)
            n, base = 2, slug
            while slug in used:
                slug, n = f"{base}-{n}", n + 1
            used.add(slug)
            tok.attrSet("id", slug)
        if mark_lines and inside is None and tok.type in _MARKABLE and tok.map:
            a, b = tok.map  # [first line, line after the block)
            if a <= mark_lines[1] and b - 1 >= mark_lines[0]:
                tok.attrSet("class", "match")
                if first:
                    tok.attrSet("id", "match")
                    first = False
                if tok.nesting == 1:
                    inside = tok.level
    html = md.renderer.render(tokens, md.options, {})
    return Markup(sanitize(html))


def offsets_to_lines(text: str, start: int, end: int) -> tuple[int, int]:
    """0-based (first, last) line numbers covering text[start:end]."""
    start = max(0, min(start, len(text)))
    end = max(start, min(end, len(text)))
    return text.count("\n", 0, start), text.count("\n", 0, max(start, end - 1))


def highlight_text(text: str, spans: Sequence[tuple[int, int, str]] = ()) -> Markup:
    """Escaped `text` with each (start, end, css-class) span wrapped in <mark>. Overlaps are merged."""
    text = text or ""
    clean = sorted((max(0, s), min(len(text), e), c) for s, e, c in spans if e > s)
    out, pos = [], 0
    for s, e, cls in clean:
        if s < pos:  # overlapping: extend the previous mark
            s = pos
        if e <= s:
            continue
        out.append(escape(text[pos:s]))
        attr = f' class="{escape(cls)}"' if cls else ""
        out.append(Markup(f"<mark{attr}>") + escape(text[s:e]) + Markup("</mark>"))
        pos = e
    out.append(escape(text[pos:]))
    return Markup("").join(out)


def snippet_html(snippet: str) -> Markup:
    """A search snippet (already escaped by kb.search, with <mark> tags), re-sanitised to be sure."""
    return Markup(bleach.clean(snippet or "", tags={"mark"}, attributes={}, strip=True))


@dataclass
class DiffRow:
    kind: str  # equal | insert | delete | replace
    left_no: int | None
    left: str
    right_no: int | None
    right: str


def side_by_side(a: str, b: str, *, context: int | None = None) -> list[DiffRow]:
    """Line diff of two texts as side-by-side rows (difflib); `context` keeps only N lines around changes."""
    la, lb = (a or "").splitlines(), (b or "").splitlines()
    sm = difflib.SequenceMatcher(None, la, lb, autojunk=False)
    groups = sm.get_grouped_opcodes(context) if context is not None else [sm.get_opcodes()]
    rows: list[DiffRow] = []
    for gi, group in enumerate(groups):
        if gi and context is not None:
            rows.append(DiffRow("gap", None, "…", None, "…"))
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                for k in range(i2 - i1):
                    rows.append(DiffRow("equal", i1 + k + 1, la[i1 + k], j1 + k + 1, lb[j1 + k]))
            else:
                n = max(i2 - i1, j2 - j1)
                for k in range(n):
                    left = la[i1 + k] if i1 + k < i2 else None
                    right = lb[j1 + k] if j1 + k < j2 else None
                    kind = "replace" if left is not None and right is not None else ("delete" if right is None
                                                                                      else "insert")
                    rows.append(DiffRow(kind, i1 + k + 1 if left is not None else None, left or "",
                                        j1 + k + 1 if right is not None else None, right or ""))
    return rows


def diff_stats(rows: Sequence[DiffRow]) -> dict[str, int]:
    added = sum(1 for r in rows if r.kind in ("insert", "replace"))
    removed = sum(1 for r in rows if r.kind in ("delete", "replace"))
    return {"added": added, "removed": removed}


def unified(a: str, b: str, a_name: str, b_name: str) -> str:
    """A unified diff (for the API)."""
    return "".join(difflib.unified_diff(a.splitlines(True), b.splitlines(True), a_name, b_name))
