"""PII redaction: payment cards, e-mail addresses, phone numbers, IBANs, national and tax
numbers, postcodes, street addresses, labelled dates of birth, card security codes, PINs and passwords,
bank details, and person names.

`redact(text, nlp)` returns the text with each finding replaced by a typed placeholder
(`[CARD]`, `[EMAIL]`, `[PHONE]`, `[IBAN]`, `[NATIONAL_ID]`, `[TAX_ID]`, `[POSTCODE]`,
`[ADDRESS]`, `[DATE_OF_BIRTH]`, `[SECRET]`, `[BANK_ACCOUNT]`, `[NAME]`) and the list of findings with
their offsets in the original text.
Numbers are checked before they are replaced: a card number must pass the Luhn check, an IBAN the
mod-97 check, a Turkish identity number and a German tax id their check digits (see
`kb.redact_locale`), so order numbers and references are left alone. Phone numbers include the
German and Turkish formats (+49 30 1234567, 0171/2345678, +90 532 123 45 67, 0 (532) 123 45 67).
Full UK postcodes and street addresses with a house number are redacted wherever they appear
(`kb.redact_address`); German and Turkish postcodes when labelled or part of an address. Card
security codes, PINs and passwords, sort codes and bank account numbers, National Insurance, Social
Security and passport numbers too (`kb.redact_secrets`). Card and phone numbers and security codes read
out digit by digit, as call transcripts write them ("four one one one ...", "oh seven seven double oh
...") are read as numbers and checked the same way (`kb.redact_spoken`).

Names need a spaCy pipeline with NER (`kb.text.load_spacy(name, full=True)`); without one
(`nlp=None`) only the pattern-based types are redacted, which is much faster. The NER model is
English: it only ever reads English text. `language` says what the text is ("en", "de", "tr");
left as None it is detected (`kb.lang.detect_language`) when a name model would run. On text that
is not English, names come only from self-introductions in that language ("mein Name ist ...",
"benim adım ...") and from the names the caller knows (`names`, `known_names`): a German noun
such as "Geld" is never taken for a person.

Shared by QA (transcripts are redacted before they are stored or shown) and the query log
(queries are redacted before they are logged). Company and product names that the NER model takes
for people are kept through the `redact_keep` setting (the sample corpus sets its own in
corpus/deskbook.toml), never by a list in the code.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from kb.redact_address import street_addresses, uk_postcodes
from kb.redact_locale import dates_of_birth, intro_names, labelled_postcodes, national_ids
from kb.redact_secrets import bank_accounts, code_label_before, identity_numbers, secrets
from kb.redact_spoken import digit_runs, is_dialled

PLACEHOLDERS = {"card": "[CARD]", "email": "[EMAIL]", "phone": "[PHONE]", "iban": "[IBAN]",
                "national_id": "[NATIONAL_ID]", "tax_id": "[TAX_ID]", "postcode": "[POSTCODE]",
                "address": "[ADDRESS]", "dob": "[DATE_OF_BIRTH]", "secret": "[SECRET]",
                "bank_account": "[BANK_ACCOUNT]", "name": "[NAME]"}
PLACEHOLDER_RE = re.compile("|".join(re.escape(p) for p in PLACEHOLDERS.values()))  # what redaction leaves
NER_LANGUAGES = frozenset({"en"})  # languages the NER model (en_core_web_sm) is trained on

_CARD = re.compile(r"(?<![\w-])\d(?:[ -]?\d){12,18}(?![\w-])")
_EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}\b")
# +44 7700 900123, (020) 7946 0018, 07700-900-123, 0800 123 4567, +1 (555) 123-4567,
# +49 (0)89 123456-78, 0171/2345678, +90 532 123 45 67, 0 (532) 123 45 67, (0212) 555 12 34
_PHONE = re.compile(r"(?<![\w+/])(?:\+\d{1,3}[ .-]?(?:\(0\)[ .-]?)?|\(0\d{1,4}\)[ .-]?|0 ?\(\d{3,4}\)[ .-]?|0)"
                    r"\d(?:[ ./-]?\(?\d\)?){6,13}(?![\w-]|/\d)")
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
_PHONE_WORD = re.compile(r"\b(?:phone|mobile|number|tel|call|ring|landline|whatsapp|text|telefon\w*|handy\w*|"
                         r"rufnummer|nummer|mobil\w*|festnetz|anrufen|cep\w*|numara\w*|gsm|arayın|ara)\b", re.I)
# Mobile numbers written as one run of digits: UK 07..., German 015x/016x/017x, Turkish 05xx.
_BARE_MOBILE = re.compile(r"^(?:07\d{9}|01[5-7]\d{8,9}|05\d{9})$")


@dataclass(frozen=True)
class Redaction:
    """One finding: its type and its offsets in the original text."""

    type: str  # a key of PLACEHOLDERS: card, email, phone, iban, national_id, tax_id, postcode, address, dob ...
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


def _card_number(digits: str) -> bool:
    return 13 <= len(digits) <= 19 and luhn_ok(digits) and len(set(digits)) > 1


def _cards(text: str) -> Iterable[Redaction]:
    for m in _CARD.finditer(text):
        if _card_number(re.sub(r"\D", "", m.group())):
            yield Redaction("card", m.start(), m.end())


def _spoken(text: str) -> Iterable[Redaction]:
    """Card and phone numbers and security codes read out digit by digit ("four one one one ..."),
    checked as written ones are."""
    for a, b, digits in digit_runs(text):
        if _card_number(digits):
            yield Redaction("card", a, b)
        elif is_dialled(digits):
            yield Redaction("phone", a, b)
        elif 3 <= len(digits) <= 8 and code_label_before(text, a):
            yield Redaction("secret", a, b)


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
            if not _BARE_MOBILE.match(digits):
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


def self_introductions(text: str) -> Iterator[tuple[re.Match, int]]:
    """Each English self-introduction ("my name's Amara", "this is tom", "Tom speaking"), in any case:
    (the match, the number of its group that holds the name)."""
    for m in _INTRO.finditer(text):
        yield m, 1 if m.group(1) else 2


def _intro_names(text: str) -> Iterable[Redaction]:
    for m, g in self_introductions(text):
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


def known_name_pattern(names: Iterable[str], *, caseless: bool = False) -> re.Pattern | None:
    """A pattern matching each word of the given names (3+ letters, capitalised) as a whole word; in
    any case when the text it is for is `caseless` ("thanks for calling claire")."""
    parts = sorted({w for n in names for w in re.findall(r"[^\W\d_][\w'’-]{2,}", n or "")
                    if w[0].isupper() and w.lower() not in _NOT_NAMES}, key=len, reverse=True)
    if not parts:
        return None
    return re.compile(r"\b(?:" + "|".join(re.escape(p) for p in parts) + r")\b", re.I if caseless else 0)


_LETTER_WORD = re.compile(r"[^\W\d_]+")


def is_caseless(texts: Iterable[str]) -> bool:
    """Whether a conversation is written without capitals (speech recognisers that give none, chat
    typed in lower case): under 2% of its words capitalised ("I" aside), over at least 12 words. In
    such text a name looks like any other word to the NER model and to the capitalised-name cues."""
    words = [w for t in texts for w in _LETTER_WORD.findall(t)]
    return len(words) >= 12 and sum(w[0].isupper() and w != "I" for w in words) < 0.02 * len(words)


def _locale_ids(text: str, language: str) -> Iterable[Redaction]:
    for kind, start, end in national_ids(text, language):
        yield Redaction(kind, start, end)


def text_language(text: str, language: str | None) -> str:
    """`language` as given, or detected (English when the text is too short to tell)."""
    if language:
        return language
    from kb.lang import detect_language

    return detect_language(text, default="en")


def find_pii(text: str, nlp=None, *, doc=None, types: Sequence[str] | None = None,
             known_names: re.Pattern | None = None, keep: Iterable[str] = (),
             language: str | None = None, name_lists: str | None = None) -> list[Redaction]:
    """Findings in `text`, non-overlapping and sorted.

    Names come from NER (pass `nlp`, or an already parsed `doc`) when the text is English, from
    self-introductions in its language ("my name's Amara", "Tom speaking", "mein Name ist Jana",
    "benim adım Elif") and from `known_names` (see `known_name_pattern`): names found elsewhere in
    the same conversation. Words in `keep` (brand and product names the NER model mistakes for
    people) are never redacted as names. `language` None: detected, only when NER would run.
    `name_lists` ("text" or "query") also finds names from the lists of `kb.names`, in any language
    and case ("priya sharma", "Anna Schmidt"); "query" takes a distinctive given name alone too.
    """
    wanted = set(types or PLACEHOLDERS)
    found: list[Redaction] = []
    # Order matters: the most specific detectors claim their spans first.
    for kind, finder in (("card", _cards), ("iban", _ibans), ("email", _emails), ("phone", _phones)):
        if kind in wanted:
            found.extend(finder(text))
    if wanted & {"national_id", "tax_id"}:
        found.extend(r for r in _locale_ids(text, language or "") if r.type in wanted)
    if wanted & {"card", "phone", "secret"}:  # read out digit by digit ("four one one one ...")
        found.extend(r for r in _spoken(text) if r.type in wanted)
    if "national_id" in wanted:
        found.extend(Redaction("national_id", a, b) for a, b in identity_numbers(text))
    if "secret" in wanted:
        found.extend(Redaction("secret", a, b) for a, b in secrets(text))
    if "bank_account" in wanted:
        found.extend(Redaction("bank_account", a, b) for a, b in bank_accounts(text))
    if "dob" in wanted:
        found.extend(Redaction("dob", a, b) for a, b in dates_of_birth(text))
    if "postcode" in wanted:
        found.extend(Redaction("postcode", a, b) for a, b in labelled_postcodes(text))
        found.extend(Redaction("postcode", a, b) for a, b in uk_postcodes(text))
    if "address" in wanted:
        found.extend(Redaction("address", a, b) for a, b in street_addresses(text))
    if "name" in wanted:
        lang = language or ""
        if doc is not None or nlp is not None:
            lang = text_language(text, language)
            if lang in NER_LANGUAGES:
                if doc is None:
                    doc = nlp(text)
                found.extend(_names(doc))
        if lang in ("", "en"):
            found.extend(_intro_names(text))
        else:
            found.extend(Redaction("name", a, b) for a, b in intro_names(text, lang))
        if known_names is not None:
            found.extend(Redaction("name", m.start(), m.end()) for m in known_names.finditer(text))
        if name_lists:
            from kb.names import list_names

            found.extend(Redaction("name", a, b) for a, b in list_names(text, name_lists))
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
           keep: Iterable[str] = (), language: str | None = None,
           name_lists: str | None = None) -> tuple[str, list[Redaction]]:
    """(redacted text, findings). Pass a spaCy pipeline with NER as `nlp` (or its `doc`) for names
    in English text; `language` ("en", "de", "tr"; None = detect) decides whether it runs;
    `name_lists` adds names from lists (see `find_pii`)."""
    found = find_pii(text, nlp, doc=doc, known_names=known_names, keep=keep, language=language,
                     name_lists=name_lists)
    return apply_redactions(text, found), found


def redact_many(texts: Sequence[str], nlp=None, *, docs: Sequence | None = None, batch_size: int = 64,
                keep: Iterable[str] = (), names: Iterable[str] = (), language: str | None = None,
                name_lists: str | None = None) -> list[tuple[str, list[Redaction]]]:
    """`redact` over the texts of one conversation, running the NER pipeline in batches.

    A name found in one text is redacted in all of them ("It's Kieran Walsh" ... "Thanks, Kieran"),
    and so are the extra `names` (e.g. the agent's name from the transcript's metadata). Pass
    `docs` when the texts were already parsed with a pipeline that has NER. The conversation has
    one `language`; None detects it from all the texts together (NER runs only on English).
    A conversation without capitals (`is_caseless`) is also searched with the name lists in any case
    (`name_lists="query"`), and its known names are matched in any case.
    """
    keep = list(keep)
    texts = list(texts)
    caseless = is_caseless(texts)
    if caseless:
        name_lists = "query"
    if language is None and (nlp is not None or any(d is not None for d in docs or ())):
        language = text_language(" ".join(texts), None)
    language = language or "en"
    if docs is None:
        use_ner = nlp is not None and language in NER_LANGUAGES
        docs = list(nlp.pipe(texts, batch_size=batch_size)) if use_ner else [None] * len(texts)
    if language not in NER_LANGUAGES:
        docs = [None] * len(texts)
    first = [find_pii(t, doc=d, types=("name",), keep=keep, language=language, name_lists=name_lists)
             for t, d in zip(texts, docs, strict=True)]
    found = [t[r.start:r.end] for t, rs in zip(texts, first, strict=True) for r in rs]
    pattern = known_name_pattern([*found, *names], caseless=caseless)
    return [redact(t, doc=d, known_names=pattern, keep=keep, language=language, name_lists=name_lists)
            for t, d in zip(texts, docs, strict=True)]


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
