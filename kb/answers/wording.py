"""What an SOP step says to the customer and what it asks the agent to do.

SOP steps carry the words to read out on "Say:" lines ("Sagen Sie:" in German, "Şöyle söyleyin:" in
Turkish), as a sub-bullet or after the action on the same line. `split_step(text)` separates them:
the agent's action (with its other sub-bullets, e.g. the branches of a decision) and the customer
wording, without the marker and the quotation marks. Markdown emphasis is removed for display
(`plain`); the verbatim text stays in the answer's `sentences`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kb.snippets import plain

__all__ = ["SAY_MARKERS", "plain", "split_step"]

# "Say:" markers, per language; a line may start with its bullet.
SAY_MARKERS = ("Say", "Say to the customer", "Sagen Sie", "Sagen", "Şöyle söyleyin", "Söyleyin", "Deyin")
_SAY = re.compile(r"(?:(?<=^)|(?<=[\s.:;!?]))(?:" + "|".join(re.escape(m) for m in SAY_MARKERS) + r")\s*:\s*")
_BULLET = re.compile(r"^\s*(?:[-*+•]|\d{1,3}[.)])\s+")
_QUOTES = "\"'“”„‟«»‹›‘’"


_CLOSING = {'"': '"', "“": "”", "„": "“”", "«": "»", "‘": "’", "'": "'"}


def quoted(text: str) -> tuple[str, str]:
    """The words in the quotation marks that open `text`, and what follows them ("... " Then end the
    call." -> the words, "Then end the call."); text without an opening mark is all words."""
    t = text.strip()
    if t and t[0] in _CLOSING:
        ends = [k for k in range(1, len(t)) if t[k] in _CLOSING[t[0]]
                and (k + 1 == len(t) or not t[k + 1].isalnum())]  # not the apostrophe of "I'm"
        if ends:
            k = ends[0]
            return t[1:k].strip(), t[k + 1:].strip()
    return unquote(t), ""


def unquote(text: str) -> str:
    t = text.strip()
    if len(t) >= 2 and t[0] in _QUOTES and t[-1] in _QUOTES:
        return t[1:-1].strip()
    if t and t[0] in _QUOTES and not any(q in t[1:] for q in _QUOTES):
        return t[1:].strip()
    return t


@dataclass
class StepParts:
    action: str  # the first line's instruction, without any inline "Say:" part
    sub: list[str] = field(default_factory=list)  # the other sub-bullets that are not customer wording
    say: list[str] = field(default_factory=list)  # customer wording, in order


def split_step(text: str) -> StepParts:
    """A step's (or sentence's) action, its sub-bullets and its customer wording."""
    lines = [ln for ln in (text or "").split("\n") if ln.strip()]
    parts = StepParts("")
    for i, line in enumerate(lines):
        body = _BULLET.sub("", line).strip()
        m = _SAY.search(body)
        before, quote, after = body, "", ""
        if m:
            quote, after = quoted(body[m.end():])
            before = " ".join(x for x in (body[:m.start()].strip(), after) if x)
        if quote:
            parts.say.append(plain(quote))
        if before:
            if i == 0:
                parts.action = plain(before)
            else:
                parts.sub.append(plain(before))
    return parts


def has_say(text: str) -> bool:
    return bool(_SAY.search(text or ""))
