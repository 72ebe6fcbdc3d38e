"""Quantities and yes/no rules in a sentence, for spotting SOPs that contradict each other.

`facts(doc)` reads a spaCy `Doc` (a pipeline with a parser: the default `en_core_web_sm`) and
returns what two versions of one rule could disagree on:

- quantities, normalised so that equal amounts compare equal: money (`£20`, `20 pounds`,
  `free` = 0), durations in hours (`48 hours` = `2 days` = `two days`; working days are their own
  unit), percentages, times of day (`5pm` = `17:00`) and counts of a thing (`three photos`);
  ranges (`3-5 working days`, `£20-£100`) give both ends.
- polarity: each verb (or predicate adjective) with whether it is negated (`cannot refund`,
  `must not share`, `never ask`, `is not eligible`).

`compare(a, b)` lists the differences between two sentences' facts: a unit both mention with
different values, or a verb one negates and the other does not. Ids, dates, years and step
numbers are not quantities.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

CURRENCY_SYMBOLS = {"£": "GBP", "$": "USD", "€": "EUR", "¥": "JPY", "₹": "INR"}
CURRENCY_WORDS = {"pound": "GBP", "pounds": "GBP", "quid": "GBP", "gbp": "GBP", "p": "GBP", "pence": "GBP",
                  "dollar": "USD", "dollars": "USD", "usd": "USD", "euro": "EUR", "euros": "EUR", "eur": "EUR"}
PENCE = {"p", "pence"}
DURATION_HOURS = {"second": 1 / 3600, "minute": 1 / 60, "min": 1 / 60, "mins": 1 / 60, "hour": 1.0, "hr": 1.0,
                  "hrs": 1.0, "day": 24.0, "night": 24.0, "week": 168.0, "fortnight": 336.0,
                  "month": 730.0, "year": 8760.0}
DAY_QUALIFIERS = {"working", "business", "banking", "bank"}
WORD_NUMBERS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split())}
WORD_NUMBERS.update({"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "ninety": 90, "hundred": 100,
                     "a": 1, "an": 1, "single": 1, "couple": 2, "half": 0.5})
_NUMBER = re.compile(r"^\d{1,3}(?:,\d{3})*(?:\.\d+)?$|^\d+(?:\.\d+)?$")
_CLOCK = re.compile(r"^(\d{1,2})(?::(\d{2}))?\s*(am|pm)?$", re.I)
_ID_LIKE = re.compile(r"[A-Za-z]+-?\d|\d+-[A-Za-z]")
NEGATIONS = {"not", "n't", "never", "no", "cannot", "nobody", "nothing", "neither", "nor"}
GENERIC_VERBS = {"be", "have", "do"}
CONDITIONAL_MARKS = {"if", "unless", "whether", "once", "until"}
# Modal verbs spaCy tags AUX; their polarity matters ("must" vs "must not") through the main verb.


@dataclass(frozen=True)
class Quantity:
    kind: str  # money | duration | working_days | percent | clock | count
    unit: str  # currency, "hours", "days", "%", "time", or the counted noun's lemma
    value: float
    text: str  # as written
    anchor: str = ""  # lemma of the word the amount belongs to ("deposit" in "a deposit of £20")

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.unit)


@dataclass
class Facts:
    quantities: list[Quantity] = field(default_factory=list)
    polarity: dict[str, bool] = field(default_factory=dict)  # verb lemma -> negated?
    polarity_text: dict[str, str] = field(default_factory=dict)  # verb lemma -> the words as written


@dataclass
class Difference:
    kind: str  # quantity | polarity
    what: str  # the unit or the verb
    a: str
    b: str

    def describe(self) -> str:
        return f"{self.a} vs {self.b}"


def _number(text: str) -> float | None:
    t = text.lower().replace(",", "")
    if _NUMBER.match(text):
        try:
            return float(t)
        except ValueError:
            return None
    return float(WORD_NUMBERS[t]) if t in WORD_NUMBERS and t not in ("a", "an") else None


_RANGE_TOKEN = re.compile(r"^([£$€]?)(\d+(?:\.\d+)?)[-–]([£$€]?)(\d+(?:\.\d+)?)$")
_YEAR = re.compile(r"^(19|20)\d\d$")


def _skip(tok) -> bool:
    """Ids, dates and step numbers: numbers that are not amounts."""
    if "/" in tok.text or _ID_LIKE.search(tok.text):
        return True
    doc = tok.doc
    prev = doc[tok.i - 1] if tok.i > 0 else None
    nxt = doc[tok.i + 1] if tok.i + 1 < len(doc) else None
    if prev is not None and (prev.text in ("#", "/", "v") and prev.whitespace_ == ""):
        return True
    if nxt is not None and nxt.text in ("/",) and tok.whitespace_ == "":
        return True
    # a numbered step or list item: "3." / "3)" opening a sentence or a line
    at_start = tok.i == tok.sent.start or (prev is not None and "\n" in prev.text)
    return bool(at_start and nxt is not None and nxt.text in (".", ")"))


def _unit_after(doc, i: int) -> tuple[str, str, float, int] | None:
    """A unit following the number at token i: (kind, unit, multiplier, index of the unit token)."""
    j = i + 1
    while j < len(doc) and doc[j].text in ("-", "–"):
        j += 1
    if j >= len(doc):
        return None
    t = doc[j]
    low = t.lower_
    if low in ("%", "percent") or (low == "per" and j + 1 < len(doc) and doc[j + 1].lower_ == "cent"):
        return ("percent", "%", 1.0, j + (1 if low == "per" else 0))
    if low in CURRENCY_WORDS:
        return ("money", CURRENCY_WORDS[low], 0.01 if low in PENCE else 1.0, j)
    if low in ("am", "pm", "a.m.", "p.m."):
        return ("clock", low[0], 1.0, j)
    if low in DAY_QUALIFIERS and j + 1 < len(doc) and doc[j + 1].lemma_.lower() in ("day", "days"):
        return ("working_days", "days", 1.0, j + 1)
    if low in ("calendar", "clear", "full") and j + 1 < len(doc):
        j += 1
        t = doc[j]
        low = t.lower_
    lemma = t.lemma_.lower()
    for cand in (lemma, low, low.rstrip("s")):
        if cand in DURATION_HOURS:
            return ("duration", "hours", DURATION_HOURS[cand], j)
    return None


_UNIT_WORDS = set(DURATION_HOURS) | set(CURRENCY_WORDS) | {"day", "days", "percent", "cent", "%", "am", "pm"}


def anchor(tok) -> str:
    """The lemma of the nearest noun or verb a number hangs from, past units and prepositions."""
    seen = 0
    t = tok
    while t.head is not t and seen < 6:
        t = t.head
        seen += 1
        if t.pos_ in ("NOUN", "PROPN", "VERB", "ADJ") and t.lemma_.lower() not in _UNIT_WORDS and t.lower_ not in (
                _UNIT_WORDS | DAY_QUALIFIERS):
            return t.lemma_.lower()
        if t.pos_ == "AUX":  # "collections are free": the subject
            subj = [c for c in t.children if c.dep_ in ("nsubj", "nsubjpass")]
            if subj:
                return subj[0].lemma_.lower()
    return ""


def _negated_noun(tok) -> bool:
    head = tok.head
    for _ in range(2):
        if any(c.dep_ == "det" and c.lower_ == "no" for c in head.children):
            return True
        head = head.head
    return False


def _counted_noun(tok) -> str | None:
    if tok.dep_ in ("nummod", "quantmod") and tok.head.pos_ in ("NOUN", "PROPN") and tok.head.i > tok.i:
        return tok.head.lemma_.lower()
    return None


def quantities(doc) -> list[Quantity]:
    """The quantities in a parsed text; see the module docstring."""
    out: list[Quantity] = []
    n = len(doc)
    i = 0
    while i < n:
        tok = doc[i]
        low = tok.lower_
        if low == "free" and tok.pos_ == "ADJ" and not (i > 0 and doc[i - 1].lemma_.lower() == "feel"):
            out.append(Quantity("money", "", 0.0, tok.text, anchor(tok)))
            i += 1
            continue
        m = _CLOCK.match(tok.text)
        if m and m.group(3) and any(c.isdigit() for c in tok.text):  # "5pm", "5:30pm" as one token
            h = int(m.group(1)) % 12 + (12 if m.group(3).lower() == "pm" else 0)
            out.append(Quantity("clock", "time", round(h + int(m.group(2) or 0) / 60, 4), tok.text, anchor(tok)))
            i += 1
            continue
        currency = CURRENCY_SYMBOLS.get(doc[i - 1].text) if i > 0 else None
        start = i - 1 if currency else i
        rm = _RANGE_TOKEN.match(tok.text)
        if rm:
            values = [(i, float(rm.group(2))), (i, float(rm.group(4)))]
            currency = currency or CURRENCY_SYMBOLS.get(rm.group(1) or rm.group(3))
            last = i
        else:
            value = _number(tok.text)
            if value is None or _skip(tok) or (tok.text.lower() in WORD_NUMBERS and not tok.like_num):
                i += 1
                continue
            values, last = [(i, value)], i
            # a range: "3 - 5 days", "3 to 5 days", "£20 - £100": the first end takes the second's unit
            j = i + 1
            if j < n and doc[j].text in ("-", "–", "to"):
                k = j + 1
                if k < n and doc[k].text in CURRENCY_SYMBOLS:
                    currency = currency or CURRENCY_SYMBOLS[doc[k].text]
                    k += 1
                v2 = _number(doc[k].text) if k < n else None
                if v2 is not None and not _skip(doc[k]):
                    values.append((k, v2))
                    last = k
        unit = _unit_after(doc, last)
        end = unit[3] + 1 if unit else last + 1
        text = doc[start:end].text
        if _negated_noun(doc[last]):  # "no £3.95 collection fee": not an amount that applies
            i = end
            continue
        anc = anchor(doc[unit[3]] if unit else doc[last])
        if currency is not None:
            out.extend(Quantity("money", currency, v, text, anc) for _, v in values)
        elif unit is not None:
            kind, u, mult, _ = unit
            if kind == "clock":
                out.extend(Quantity("clock", "time", v % 12 + (12 if u == "p" else 0), text, anc) for _, v in values)
            else:
                out.extend(Quantity(kind, u, round(v * mult, 6), text, anc) for _, v in values)
        elif not any(_YEAR.match(doc[idx].text) for idx, _ in values):
            noun = _counted_noun(doc[last]) or _counted_noun(doc[values[0][0]])
            if noun:
                out.extend(Quantity("count", noun, v, text, anchor(doc[last].head)) for _, v in values)
        i = end
    return out


def polarity(doc) -> tuple[dict[str, bool], dict[str, str]]:
    """verb lemma -> negated?, and the words as written (modal and negation included)."""
    pol: dict[str, bool] = {}
    shown: dict[str, str] = {}
    for tok in doc:
        if tok.pos_ not in ("VERB", "ADJ") or (tok.pos_ == "ADJ" and tok.dep_ not in ("acomp", "ROOT", "conj")):
            continue
        if tok.tag_ == "VBG" or tok.dep_ in ("amod", "acl", "pcomp", "compound", "npadvmod"):
            continue  # "refunding", "opened items": not a rule's main verb
        lemma = tok.lemma_.lower()
        if lemma in GENERIC_VERBS or not lemma.isalpha():
            continue
        kids = list(tok.children)
        if any(k.dep_ == "mark" and k.lower_ in CONDITIONAL_MARKS for k in kids):
            continue  # "if the seller does not respond": a condition, not a rule
        neg = any(k.dep_ == "neg" or k.lower_ in ("never", "cannot") for k in kids)
        # "no refund is given": a negated subject or object makes the rule negative too
        no_args = [k for k in kids if k.dep_ in ("nsubj", "nsubjpass", "dobj") and any(
            d.dep_ == "det" and d.lower_ == "no" for d in k.children)]
        neg = neg or bool(no_args)
        aux = [k for k in kids if k.dep_ in ("aux", "auxpass", "neg") or k.lower_ in ("never",)]
        aux += [d for k in no_args for d in k.children if d.dep_ == "det"] + no_args
        words = sorted([*aux, tok], key=lambda t: t.i)
        if lemma in pol and pol[lemma] != neg:
            pol[lemma] = neg  # mixed in one sentence: keep the last, the comparison is per sentence
        pol.setdefault(lemma, neg)
        shown[lemma] = "".join(t.text_with_ws for t in words[:-1]) + words[-1].text
    return pol, shown


def facts(doc) -> Facts:
    pol, shown = polarity(doc)
    return Facts(quantities(doc), pol, shown)


def _fmt(q: Quantity) -> str:
    return q.text


def compare(a: Facts, b: Facts, *, strong: bool = False) -> list[Difference]:
    """What two similar sentences disagree on.

    Quantities: the same kind and unit, attached to the same word (the anchor, e.g. "deposit") or,
    when `strong` (the sentences are near paraphrases), anywhere; different values, and neither
    set of values contains the other ("£20" vs "£20-£100" elaborates, "£20" vs "£50" disagrees).
    Polarity: a verb that one sentence negates and the other does not.
    """
    out: list[Difference] = []

    def groups(f: Facts, other: Facts) -> dict[tuple[str, str], list[Quantity]]:
        g: dict[tuple[str, str], list[Quantity]] = {}
        for q in f.quantities:
            key = q.key
            if key == ("money", ""):  # "free" compares with the other sentence's currency
                key = next((x.key for x in other.quantities if x.kind == "money" and x.unit), key)
            g.setdefault(key, []).append(q)
        return g

    ga, gb = groups(a, b), groups(b, a)
    for key in sorted(set(ga) & set(gb)):
        qa, qb = ga[key], gb[key]
        if not strong:
            anchors = {q.anchor for q in qa if q.anchor} & {q.anchor for q in qb if q.anchor}
            if not anchors:
                continue
            qa = [q for q in qa if q.anchor in anchors]
            qb = [q for q in qb if q.anchor in anchors]
        va, vb = {q.value for q in qa}, {q.value for q in qb}
        if va <= vb or vb <= va:
            continue
        out.append(Difference("quantity", key[1] if key[0] == "count" else key[0],
                              ", ".join(dict.fromkeys(_fmt(q) for q in qa)),
                              ", ".join(dict.fromkeys(_fmt(q) for q in qb))))
    for lemma in sorted(set(a.polarity) & set(b.polarity)):
        if a.polarity[lemma] != b.polarity[lemma]:
            out.append(Difference("polarity", lemma, a.polarity_text[lemma], b.polarity_text[lemma]))
    return out
