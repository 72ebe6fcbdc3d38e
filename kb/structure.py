"""The structure of an SOP in Markdown: sections by heading, blocks (paragraphs, numbered steps,
bullets, code) and the numbered procedure steps.

Shared by the indexer (chunking), suggested answers (steps in their original order) and QA
(`sop_steps` criteria), so all three read an SOP the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kb.models import Document

_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$")
_NUMBERED = re.compile(r"^\s{0,3}\d{1,3}[.)]\s+")
_BULLET = re.compile(r"^\s{0,3}[-*+•]\s+")
_FENCE = re.compile(r"^\s*(```|~~~)")


@dataclass
class Block:
    start: int
    end: int
    kind: str  # text | step | bullet | code


@dataclass
class Section:
    path: list[str]
    blocks: list[Block]


def _lines_with_offsets(text: str) -> list[tuple[int, str]]:
    out, pos = [], 0
    for line in text.split("\n"):
        out.append((pos, line))
        pos += len(line) + 1
    return out


def parse_sections(doc: Document) -> list[Section]:
    """Split a Markdown body into sections (by heading) made of blocks (paragraphs, list items, code)."""
    body = doc.body
    sections: list[Section] = []
    stack: list[tuple[int, str]] = []  # (level, text)
    current = Section([doc.title], [])
    block: Block | None = None
    in_fence = False

    def close():
        nonlocal block
        if block is not None:
            end = block.end
            while end > block.start and body[end - 1].isspace():
                end -= 1
            if end > block.start:
                block.end = end
                current.blocks.append(block)
            block = None

    for pos, line in _lines_with_offsets(body):
        end = pos + len(line)
        if _FENCE.match(line):
            if not in_fence:
                close()
                block = Block(pos, end, "code")
                in_fence = True
            else:
                block.end = end
                in_fence = False
                close()
            continue
        if in_fence:
            block.end = end
            continue
        m = _HEADING.match(line)
        if m:
            close()
            if current.blocks:
                sections.append(current)
            level, text = len(m.group(1)), m.group(2).strip()
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, text))
            path = [t for _, t in stack]
            if path and path[0] != doc.title and stack[0][0] > 1:
                path = [doc.title, *path]
            current = Section(path, [])
            continue
        if not line.strip():
            if block is not None and block.kind == "text":
                close()
            elif block is not None:
                block.end = end  # a blank line inside a list item: keep going, closed by the next item
            continue
        indented = line.startswith((" ", "\t"))
        if _NUMBERED.match(line) and not indented:
            close()
            block = Block(pos, end, "step")
        elif _BULLET.match(line) and not indented:
            close()
            block = Block(pos, end, "bullet")
        elif block is not None and (block.kind in ("step", "bullet") and (indented or not line.strip() == "")):
            if block.kind in ("step", "bullet") and not indented and body[block.end - 1:block.end] == "\n":
                close()
                block = Block(pos, end, "text")
            else:
                block.end = end
        elif block is None:
            block = Block(pos, end, "text")
        else:
            block.end = end
    close()
    if current.blocks:
        sections.append(current)
    return sections


@dataclass
class Step:
    """One numbered step of an SOP's procedure."""

    number: int
    text: str  # the step without its number, sub-bullets included
    start: int  # offsets of the whole step in Document.body
    end: int
    heading: str  # heading path of the section holding it
    sub_steps: list[str] = field(default_factory=list)


_PROCEDURE = re.compile(r"procedure|steps|process|what to do|how to", re.I)


def procedure_steps(doc: Document) -> list[Step]:
    """The numbered steps of the SOP's procedure, in order.

    Steps are taken from sections whose heading path names a procedure ("Procedure", "Steps",
    "Process", ...); when no section does, from every numbered list in the document.
    """
    sections = parse_sections(doc)
    chosen = [s for s in sections if any(_PROCEDURE.search(p) for p in s.path[1:])]
    if not chosen or not any(b.kind == "step" for s in chosen for b in s.blocks):
        chosen = sections
    steps: list[Step] = []
    for sec in chosen:
        for b in sec.blocks:
            if b.kind != "step":
                continue
            raw = doc.body[b.start:b.end]
            m = re.match(r"\s*(\d{1,3})[.)]\s+", raw)
            first, *rest = raw[m.end():].split("\n") if m else (raw, )
            subs = [re.sub(r"^\s*(?:[-*+•]|\d+[.)])\s+", "", line).strip() for line in rest if line.strip()]
            steps.append(Step(number=len(steps) + 1, text=" ".join([first.strip(), *subs]).strip(),
                              start=b.start, end=b.end, heading=" > ".join(sec.path), sub_steps=subs))
    return steps
