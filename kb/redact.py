"""PII redaction: payment cards, e-mail addresses, phone numbers, IBANs and person names.

`redact(text, nlp)` returns the text with each finding replaced by a typed placeholder
(`[CARD]`, `[EMAIL]`, `[PHONE]`, `[IBAN]`, `[NAME]`) and the list of findings with their offsets
in the original text. Numbers are checked before they are replaced: a card number must pass the
Luhn check and an IBAN the mod-97 check, so order numbers and references are left alone.

Names need a spaCy pipeline with NER (`kb.text.load_spacy(name, full=True)`); without one
(`nlp=None`) only the pattern-based types are redacted, which is much faster.

Shared by QA (transcripts are redacted before they are stored or shown) and the query log
(queries are redacted before they are logged). Company and product names that the NER model takes
for people are kept through the `redact_keep` setting (the sample corpus sets its own in
corpus/deskbook.toml), never by a list in the code.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

PLACEHOLDERS = {"card": "[CARD]", "email": "[EMAIL]", "phone": "[PHONE]", "iban": "[IBAN]", "name": "[NAME]"}

_CARD = re.compile(r"(?<![\w-])\d(?:[ -]?\d){12,18}(?![\w-])")
_EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}\b")
# +44 7700 900123, (020) 7946 0018, 07700-900-123, 0800 123 4567, +1 (555) 123-4567
_PHONE = re.compile(r"(?<![\w+])(?:\+\d{1,3}[ .-]?(?:\(0\)[ .-]?)?|\(0\d{1,4}\)[ .-]?|0)\d(?:[ .-]?\(?\d\)?){6,13}(?![\w-])")
_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]){11,30}(?![A-Za-z0-9])")
# Self-introductions the small NER model often misses: "my name's Amara", "Tom speaking".
_INTRO = re.compile(
    r"\b(?:my name(?:'s|’s| is)|this is|speaking with|you're through to|you’re through to|you're talking to|"
    r"you’re talking to|i'm|i’m|i am|it's|it’s)\s+([A-Z][a-z]+(?:[ -][A-Z][a-z]+)?)\b"
    r"|\b([A-Z][a-z]+) (?:here|speaking)\b", re.I)
_NOT_NAMES = frozenset("""
afraid back fine glad going good great happy here just not okay really sorry sure the this that afternoon
morning evening calling customer service support team thanks thank hello hi hiya yes yeah no
ok right well still only also there very so all about able aware""".split())
_PHONE_WORD = re.compile(r"\b(?:phone|mobile|number|tel|call|ring|landline|whatsapp|text)\b", re.I)


@dataclass(frozen=True)
class Redaction:
    """One finding: its type and its offsets in the original text."""

    type: str  # card | email | phone | iban | name
    start: int
    end: int

    @property
    def placeholder(self) -> str:
        return PLACEHOLDERS[self.type]


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def iban_ok(compact: str) -> bool:
    if not 15 <= len(compact) <= 34 or not compact[:2].isalpha() or not compact[2:4].isdigit():
        return False
    moved = compact[4:] + compact[:4]
    number = "".join(str(int(c, 36)) for c in moved)
    return int(number) % 97 == 1


def _cards(text: str) -> Iterable[Redaction]:
    for m in _CARD.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        if 13 <= len(digits) <= 19 and luhn_ok(digits) and len(set(digits)) > 1:
            yield Redaction("card", m.start(), m.end())


def _ibans(text: str) -> Iterable[Redaction]:
    for m in _IBAN.finditer(text):
        raw = m.group()
        # A match may run into the next upper-case word: try shorter prefixes until one checks.
        end = len(raw)
        while end >= 15:
            compact = raw[:end].replace(" ", "")
            if iban_ok(compact):
                yield Redaction("iban", m.start(), m.start() + len(raw[:end].rstrip()))
                break
            end -= 1
            while end > 0 and raw[end - 1] == " ":
                end -= 1


def _emails(text: str) -> Iterable[Redaction]:
    for m in _EMAIL.finditer(text):
        yield Redaction("email", m.start(), m.end())


def _phones(text: str) -> Iterable[Redaction]:
    for m in _PHONE.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        if not 9 <= len(digits) <= 15:
            continue
        raw = m.group()
        # A bare run of digits starting with 0 could be a reference number: only take it as a
        # phone number when it looks like one (grouped, international, or named as a number).
        grouped = bool(re.search(r"[ .()-]", raw)) or raw.startswith("+")
        if not grouped and not _PHONE_WORD.search(text[max(0, m.start() - 40):m.start()]):
            if not (raw.startswith("07") and len(digits) == 11):
                continue
        yield Redaction("phone", m.start(), m.end())


def _names(doc) -> Iterable[Redaction]:
    for ent in getattr(doc, "ents", ()):
        if ent.label_ not in ("PERSON", "PER"):
            continue
        start, end = ent.start_char, ent.end_char
        text = doc.text
        # "Kieran's" -> redact the name, keep the possessive
        if text[start:end].endswith(("'s", "’s")):
            end -= 2
        if end > start and any(c.isalpha() for c in text[start:end]):
            yield Redaction("name", start, end)


def _intro_names(text: str) -> Iterable[Redaction]:
    for m in _INTRO.finditer(text):
        g = 1 if m.group(1) else 2
        name = m.group(g)
        if not name[0].isupper() or name.split()[0].lower() in _NOT_NAMES:
            continue
        # "I'm Priya And ..." never happens, but "It's Kieran Walsh" does: keep both words
        # only when both are capitalised.
        parts = name.replace("-", " ").split()
        if len(parts) > 1 and (parts[1].lower() in _NOT_NAMES or not parts[1][0].isupper()):
            yield Redaction("name", m.start(g), m.start(g) + len(parts[0]))
        else:
            yield Redaction("name", m.start(g), m.end(g))


def known_name_pattern(names: Iterable[str]) -> re.Pattern | None:
    """A pattern matching each word of the given names (3+ letters, capitalised) as a whole word."""
    parts = sorted({w for n in names for w in re.findall(r"[A-Z][\w'’-]{2,}", n or "")
                    if w.lower() not in _NOT_NAMES}, key=len, reverse=True)
    if not parts:
        return None
    return re.compile(r"\b(?:" + "|".join(re.escape(p) for p in parts) + r")\b")


def find_pii(text: str, nlp=None, *, doc=None, types: Sequence[str] | None = None,
             known_names: re.Pattern | None = None, keep: Iterable[str] = ()) -> list[Redaction]:
    """Findings in `text`, non-overlapping and sorted.

    Names come from NER (pass `nlp`, or an already parsed `doc`), from self-introductions
    ("my name's Amara", "Tom speaking") and from `known_names` (see `known_name_pattern`): names
    found elsewhere in the same conversation. Words in `keep` (brand and product names the NER
    model mistakes for people) are never redacted as names.
    """
    wanted = set(types or PLACEHOLDERS)
    found: list[Redaction] = []
    # Order matters: the most specific detectors claim their spans first.
    for kind, finder in (("card", _cards), ("iban", _ibans), ("email", _emails), ("phone", _phones)):
        if kind in wanted:
            found.extend(finder(text))
    if "name" in wanted and (doc is not None or nlp is not None):
        if doc is None:
            doc = nlp(text)
        found.extend(_names(doc))
    if "name" in wanted:
        found.extend(_intro_names(text))
        if known_names is not None:
            found.extend(Redaction("name", m.start(), m.end()) for m in known_names.finditer(text))
    keep_folded = {k.lower() for k in keep}
    if keep_folded:
        found = [r for r in found if r.type != "name" or text[r.start:r.end].lower() not in keep_folded]
    out: list[Redaction] = []
    for r in sorted(found, key=lambda r: (r.start, -(r.end - r.start))):
        if out and r.start < out[-1].end:
            continue
        out.append(r)
    return out


def apply_redactions(text: str, redactions: Sequence[Redaction]) -> str:
    parts, pos = [], 0
    for r in sorted(redactions, key=lambda r: r.start):
        parts.append(text[pos:r.start])
        parts.append(r.placeholder)
        pos = r.end
    parts.append(text[pos:])
    return "".join(parts)


def redact(text: str, nlp=None, *, doc=None, known_names: re.Pattern | None = None,
           keep: Iterable[str] = ()) -> tuple[str, list[Redaction]]:
    """(redacted text, findings). Pass a spaCy pipeline with NER as `nlp` (or its `doc`) for names."""
    found = find_pii(text, nlp, doc=doc, known_names=known_names, keep=keep)
    return apply_redactions(text, found), found


def redact_many(texts: Sequence[str], nlp=None, *, docs: Sequence | None = None, batch_size: int = 64,
                keep: Iterable[str] = (), names: Iterable[str] = ()) -> list[tuple[str, list[Redaction]]]:
    """`redact` over the texts of one conversation, running the NER pipeline in batches.

    A name found in one text is redacted in all of them ("It's Kieran Walsh" ... "Thanks, Kieran"),
    and so are the extra `names` (e.g. the agent's name from the transcript's metadata). Pass
    `docs` when the texts were already parsed with a pipeline that has NER.
    """
    keep = list(keep)
    if docs is None:
        docs = list(nlp.pipe(list(texts), batch_size=batch_size)) if nlp is not None else [None] * len(texts)
    first = [find_pii(t, doc=d, types=("name",), keep=keep) for t, d in zip(texts, docs, strict=True)]
    found = [t[r.start:r.end] for t, rs in zip(texts, first, strict=True) for r in rs]
    pattern = known_name_pattern([*found, *names])
    return [redact(t, doc=d, known_names=pattern, keep=keep) for t, d in zip(texts, docs, strict=True)]


class OffsetMap:
    """Maps character offsets in an original text to offsets in its redacted text.

    A span that touches a redacted region is widened to cover the whole placeholder, so that
    what is shown never contains part of what was removed.
    """

    def __init__(self, redactions: Sequence[Redaction]):
        self.items = sorted(redactions, key=lambda r: r.start)
        self._starts = [r.start for r in self.items]
        self._shift = []  # cumulative shift after each redaction
        shift = 0
        for r in self.items:
            shift += len(r.placeholder) - (r.end - r.start)
            self._shift.append(shift)

    def _new_start(self, i: int) -> int:
        return self.items[i].start + (self._shift[i - 1] if i else 0)

    def start(self, pos: int) -> int:
        i = bisect_right(self._starts, pos) - 1  # last redaction starting at or before pos
        if i < 0:
            return pos
        if pos < self.items[i].end:  # inside it: snap to the placeholder's start
            return self._new_start(i)
        return pos + self._shift[i]

    def end(self, pos: int) -> int:
        i = bisect_left(self._starts, pos) - 1  # last redaction starting before pos
        if i < 0:
            return pos
        if pos < self.items[i].end:  # inside it: snap to the placeholder's end
            return self._new_start(i) + len(self.items[i].placeholder)
        return pos + self._shift[i]

    def span(self, start: int, end: int) -> tuple[int, int]:
        if not self.items:
            return start, end
        a = self.start(start)
        return a, max(a, self.end(end))
