"""Redaction patterns for where a customer lives: full UK postcodes and street addresses with a house
number, in English, German and Turkish.

Used by `kb.redact`. A full UK postcode ("LS2 8JF", "SW1A 1AA") points at a handful of households, so it
is redacted wherever it appears in its written form (capitals, outward and inward code), labelled or
not; the letters each position may hold are checked, so product codes and references rarely match. A
German or Turkish postcode alone ("10115 Berlin") names an area of thousands and is a five-digit number
like many others: it is redacted when labelled ("PLZ 10115", `kb.redact_locale`) or when it follows a
street address ("Hauptstraße 5, 10115 Berlin").

A street address needs a house number, which is what makes it a person's:

- English: "14 Albion Street", "Flat 3, 27b Kelvin Drive", "221B Baker St." (a number, one to three
  capitalised words, a street word);
- German: "Hauptstraße 5", "Berliner Str. 12a", "Am Lindenweg 3/1" (a street name ending in a street
  word, a number), with the postcode after it;
- Turkish: "Bağdat Caddesi No: 45", "Gül Sokak No 7/3", "Atatürk Cad. No:12" (a street word and "No").

In lower case, as chat is typed and speech-to-text writes it, the house number may be a word ("14 albion
street", "twenty seven kelvin drive"), the street word one of the common ones, and no word of the street's
name a function word or a measure ("three miles down the road", "two doors up the street" stay).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

# Outward code (area letters, district) and inward code (sector digit, unit letters without C I K M O V),
# after the Royal Mail's rules; capitals only, the space optional.
UK_POSTCODE = re.compile(
    r"(?<![A-Za-z0-9])(?:[A-PR-UWYZ][0-9][0-9A-HJKPSTUW]?|[A-PR-UWYZ][A-HK-Y][0-9][0-9ABEHMNPRVWXY]?)"
    r" ?[0-9][ABD-HJLNP-UW-Z]{2}(?![A-Za-z0-9])")

_EN_STREET_WORD = (r"(?:Street|St|Road|Rd|Avenue|Ave|Lane|Ln|Drive|Dr|Close|Way|Crescent|Cres|Place|Pl|Court|Ct|"
                   r"Terrace|Gardens|Gdns|Grove|Square|Sq|Hill|Row|Mews|Walk|Parade|Boulevard|Rise|Vale|Wharf|Quay)")
_EN_ADDRESS = re.compile(
    r"(?<![\w/-])(?:(?:Flat|Apartment|Apt\.?|Unit)\s+\d{1,4}[A-Za-z]?,?\s+)?"
    r"\d{1,4}[A-Za-z]?(?:-\d{1,4})?,?\s+(?:[A-Z][a-z'’]+\s+){1,3}" + _EN_STREET_WORD + r"\b\.?")

# The same in lower case, as chat is typed and speech-to-text writes it, the house number in digits or words
# ("14 albion street", "twenty seven kelvin drive"): the street name's words must not be function words, so
# "three miles down the road" or "two doors up the street" stay.
_NUMBER_WORD = (r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|"
                r"sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred)")
_SPOKEN_STREET = re.compile(
    r"(?<![\w/-])(?:(?:flat|apartment|unit)\s+(?:\d{1,4}|" + _NUMBER_WORD + r")[a-z]?,?\s+)?"
    r"((?:\d{1,4}[a-z]?|" + _NUMBER_WORD + r"(?:[\s-]+(?:and\s+)?" + _NUMBER_WORD + r"){0,3}),?\s+)"
    r"((?:[a-z'’]+\s+){1,3})(?:street|road|avenue|lane|drive|close|crescent|terrace|gardens|grove|square|mews|"
    r"parade|boulevard)\b", re.I)
_FUNCTION_WORDS = frozenset("""a an the my your our his her their its this that these those of to in on at up down
along by near past from off over round around across just about miles mile minutes minute doors door houses
yards metres meters blocks streets roads more less way ways times lane lanes one two three four five six seven
eight nine ten and or but is are was be me you we they it been very same other next last first main high
""".split())

_DE_UPPER, _DE_LOWER = "A-ZÄÖÜ", "a-zäöüß"
_DE_STREET = (rf"(?:[{_DE_UPPER}][{_DE_LOWER}-]*(?:straße|strasse|str\.|weg|allee|platz|gasse|ring|damm|ufer|"
              rf"chaussee|steig|pfad)|(?:[{_DE_UPPER}][{_DE_LOWER}]+(?:er|sche|scher)?\s+)(?:Straße|Strasse|Str\.|"
              rf"Weg|Allee|Platz|Gasse|Ring|Damm|Ufer|Chaussee))")
_DE_ADDRESS = re.compile(
    rf"(?<!\w)(?:(?:Am|An\s+der|Im|In\s+der|Auf\s+der|Zum|Zur)\s+)?{_DE_STREET}\s*"
    r"\d{1,4}(?:\s?[a-zA-Z](?!\w))?(?:\s*[-/]\s*\d{1,4}[a-zA-Z]?)?(?![\w.,]\d)"
    rf"(?:,?\s+(?:D-)?\d{{5}}(?=\s+[{_DE_UPPER}]))?")

_TR_UPPER, _TR_LOWER = "A-ZÇĞİÖŞÜ", "a-zçğıöşü"
_TR_ADDRESS = re.compile(
    rf"(?<!\w)(?:(?!Adres|Teslimat|Fatura|Kargo)[{_TR_UPPER}0-9][{_TR_LOWER}0-9.]*\s+){{1,3}}"
    r"(?:Caddesi|Cadde|Cad\.|Cd\.|Sokak|Sokağı|Sok\.|Sk\.|Bulvarı|Blv\.|Yolu)"
    r"\s*,?\s*(?:[Nn]o|[Nn]umara)\s*[:.]?\s*\d{1,4}[A-Za-z]?(?:\s*/\s*\d{1,4})?"
    r"(?:\s*,?\s*(?:[Dd]aire|D\.|[Kk]at)\s*[:.]?\s*\d{1,3})?"
    rf"(?:,?\s+\d{{5}}(?=\s+[{_TR_UPPER}]))?")


def uk_postcodes(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of each full UK postcode written in capitals."""
    for m in UK_POSTCODE.finditer(text):
        yield m.start(), m.end()


def street_addresses(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of each street address with a house number (English, German or Turkish form)."""
    for pattern in (_EN_ADDRESS, _DE_ADDRESS, _TR_ADDRESS):
        for m in pattern.finditer(text):
            yield m.start(), m.end()
    for m in _SPOKEN_STREET.finditer(text):
        if not any(w.lower() in _FUNCTION_WORDS for w in m.group(2).split()):
            yield m.start(), m.end()
