"""Redaction patterns for German and Turkish (and English labels): national and tax numbers,
postcodes and dates of birth, and self-introductions.

Used by `kb.redact`. Numbers are checked before they count:

- the Turkish identity number (T.C. Kimlik No): 11 digits, the first not 0, the 10th and 11th
  digits check digits (`tckn_ok`);
- the German tax identification number (Steuer-ID, IdNr): 11 digits, the first not 0, one digit of
  the first ten repeated (twice or three times), the last an ISO 7064 MOD 11,10 check digit
  (`steuer_id_ok`); written as one number or grouped "12 345 678 901".

Postcodes and dates of birth are common numbers; they are redacted only where the text says what
they are: "PLZ 10115", "Postleitzahl: 80331", "posta kodu 34710", "postcode LS6 2AB",
"geboren am 03.04.1985", "Geburtsdatum: 3. April 1985", "doğum tarihim 03.04.1985",
"date of birth 3rd April 1985".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

_ELEVEN = re.compile(r"(?<![\w.,/-])(?:\d{11}|\d{2} \d{3} \d{3} \d{3})(?![\w/-]|[.,]\d)")


def tckn_ok(digits: str) -> bool:
    """Whether 11 digits are a valid Turkish identity number (T.C. Kimlik No)."""
    if len(digits) != 11 or not digits.isdigit() or digits[0] == "0":
        return False
    d = [int(c) for c in digits]
    odd, even = sum(d[0:9:2]), sum(d[1:8:2])
    return (odd * 7 - even) % 10 == d[9] and sum(d[:10]) % 10 == d[10]


def steuer_id_ok(digits: str) -> bool:
    """Whether 11 digits are a valid German tax identification number (Steuer-ID)."""
    if len(digits) != 11 or not digits.isdigit() or digits[0] == "0":
        return False
    counts = sorted((digits[:10].count(c) for c in set(digits[:10])), reverse=True)
    # exactly one digit appears twice (or, since 2016, three times but not three in a row)
    if counts[0] == 2:
        if counts[1:2] == [2]:
            return False
    elif counts[0] == 3:
        if counts[1:2] == [2] or any(digits[i] == digits[i + 1] == digits[i + 2] for i in range(8)):
            return False
    else:
        return False
    product = 10
    for c in digits[:10]:
        total = (int(c) + product) % 10 or 10
        product = (total * 2) % 11
    check = 11 - product
    return (0 if check == 10 else check) == int(digits[10])


def national_ids(text: str, language: str = "") -> Iterator[tuple[str, int, int]]:
    """('national_id' | 'tax_id', start, end) for 11-digit numbers with a valid check digit.

    A number valid as both is read as the language's own: a tax id in German text, an identity
    number otherwise.
    """
    for m in _ELEVEN.finditer(text):
        digits = m.group().replace(" ", "")
        is_tckn = " " not in m.group() and tckn_ok(digits)
        is_tax = steuer_id_ok(digits)
        if is_tckn and is_tax:
            yield ("tax_id" if language == "de" else "national_id"), m.start(), m.end()
        elif is_tckn:
            yield "national_id", m.start(), m.end()
        elif is_tax:
            yield "tax_id", m.start(), m.end()


# -- labelled postcodes and dates of birth ---------------------------------------------------------
_SEP = r"\s*(?:[:=]|ist|lautet|is|:?\s*-)?\s*"
_POSTCODE_LABEL = r"(?:PLZ|Postleitzahl|posta\s+kodu(?:m|nuz|muz)?|postcode|post\s+code|postal\s+code|zip(?:\s+code)?)"
_UK_POSTCODE = r"[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2}"
_POSTCODE = re.compile(rf"\b{_POSTCODE_LABEL}{_SEP}(\d{{5}}|{_UK_POSTCODE})(?![\w-])", re.I)

_MONTHS = (r"januar|jänner|februar|märz|maerz|april|mai|juni|juli|august|september|oktober|november|dezember|"
           r"ocak|şubat|subat|mart|nisan|mayıs|mayis|haziran|temmuz|ağustos|agustos|eylül|eylul|ekim|kasım|"
           r"kasim|aralık|aralik|january|february|march|may|june|july|october|december|"
           r"jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|okt|nov|dec|dez")
_DATE = (rf"(?:\d{{1,2}}[./-]\d{{1,2}}[./-](?:19|20)?\d{{2}}|(?:19|20)\d{{2}}-\d{{2}}-\d{{2}}"
         rf"|\d{{1,2}}(?:\.|st|nd|rd|th)?\s*(?:of\s+)?(?:{_MONTHS})\.?,?\s+(?:19|20)\d{{2}}"
         rf"|(?:{_MONTHS})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+(?:19|20)\d{{2}})")
_DOB_LABEL = (r"(?:geboren\s+am|geb\.|Geburtsdatum|Geburtstag|doğum\s+tarih(?:i|im|iniz|imi|inizi)|dogum\s+tarihi\w*|"
              r"date\s+of\s+birth|birth\s*date|DOB|D\.O\.B\.|born\s+on)")
_DOB = re.compile(rf"(?<!\w){_DOB_LABEL}(?:\s+(?:ist|is|was|lautet|der|den))?{_SEP}({_DATE})(?!\w)", re.I)


def labelled_postcodes(text: str) -> Iterator[tuple[int, int]]:
    for m in _POSTCODE.finditer(text):
        yield m.start(1), m.end(1)


def dates_of_birth(text: str) -> Iterator[tuple[int, int]]:
    for m in _DOB.finditer(text):
        yield m.start(1), m.end(1)


# -- self-introductions -----------------------------------------------------------------------------
# German nouns are capitalised, so a capital letter says little: only introductions count, and
# the words that follow them without being names are listed.
_NAME_DE = r"([A-ZÄÖÜ][a-zäöüß]+(?:[ -][A-ZÄÖÜ][a-zäöüß]+)?)"
_NAME_TR = r"([A-ZÇĞİÖŞÜ][a-zçğıöşü]+(?:\s[A-ZÇĞİÖŞÜ][a-zçğıöşü]+)?)"
_INTRO_DE = re.compile(
    r"\b(?i:mein\s+Name\s+ist|mein\s+Name\s+lautet|ich\s+heiße|ich\s+heisse|hier\s+spricht|Sie\s+sprechen\s+mit|"
    r"am\s+Apparat\s+ist|am\s+Telefon\s+ist|es\s+spricht)\s+(?:Frau\s+|Herr\s+|Herrn\s+)?" + _NAME_DE + r"\b"
    # "Schulz hier", "Martin Schulz am Apparat" at the start of a turn or sentence
    r"|(?:^|[.!?]\s+|(?i:guten\s+(?:tag|morgen|abend)|hallo|ja)[,!]?\s+)" + _NAME_DE +
    r"\s+(?:hier|am\s+Apparat)\b"
    # titles: "Herr Schulz", "Frau Özdemir" (not "meine Frau")
    r"|(?<![Mm]eine\s)(?<![Ss]eine\s)(?<![Ii]hre\s)(?<![Dd]eine\s)\b(?:Herr|Herrn|Frau)\s+" + _NAME_DE, re.M)
_INTRO_TR = re.compile(
    r"\b(?:[Bb]enim\s+adım|[Aa]dım|[Ii]smim|İsmim|[Bb]en|[Ss]ayın)\s+" + _NAME_TR +
    r"|\b([A-ZÇĞİÖŞÜ][a-zçğıöşü]+)\s+(?:ben|konuşuyor|[Hh]anım|[Bb]ey)\b")
NOT_NAMES_DE = frozenset("""
brightcart kundenservice kundendienst service support team kunde kundin mitarbeiter mitarbeiterin berater
beraterin zentrale frau herr herrn ihnen ihr ihre sie der die das dem den ein eine guten morgen tag abend
bestellung rückfragen dhl hermes paypal klarna""".split())
NOT_NAMES_TR = frozenset("""
brightcart müşteri müşteriniz temsilci temsilciniz temsilcisi danışman danışmanınız hizmetleri destek ekibi
ekip merhaba iyi günler tamam evet hayır de da size sizin bir bu şu yurtiçi aras kargo trendyol teşekkürler
hanım bey sayın""".split())


def _name_parts(name: str, stop: frozenset[str], start: int) -> Iterable[tuple[int, int]]:
    parts = name.replace("-", " ").split()
    if not parts or parts[0].lower() in stop:
        return
    if len(parts) > 1 and parts[1].lower() in stop:
        yield start, start + len(parts[0])
    else:
        yield start, start + len(name)


def intro_names(text: str, language: str) -> Iterator[tuple[int, int]]:
    """(start, end) of names people give when they introduce themselves in German or Turkish."""
    if language == "de":
        for m in _INTRO_DE.finditer(text):
            g = next(i for i in (1, 2, 3) if m.group(i))
            yield from _name_parts(m.group(g), NOT_NAMES_DE, m.start(g))
    elif language == "tr":
        for m in _INTRO_TR.finditer(text):
            g = 1 if m.group(1) else 2
            yield from _name_parts(m.group(g), NOT_NAMES_TR, m.start(g))
