"""Numbers read out digit by digit, as speech-to-text writes them in call transcripts: "four one one one
...", "oh seven seven double oh nine double oh one two three", "7 3 7", "sieben drei sieben", "dört iki".

`digit_runs` reads a run of digits said one by one (number words for 0-9, "oh", "double" and "triple", and
digits written apart) as the number it spells. `kb.redact` checks it as a written one: a card number that
passes the Luhn check becomes `[CARD]`, a phone number (`is_dialled`: a UK, German or Turkish mobile, or a
number of 10-11 digits starting with 0) `[PHONE]`, and 3-8 digits after a security code's or PIN's label
(`kb.redact_secrets.code_label_before`) `[SECRET]`. Other runs (an order number read out) stay: they are
references, as written ones are.

A run needs six digits or more to count on its own, so "one or two", "eins, zwei" or Turkish "bir" (also
the article "a") never start one; a labelled security code needs three.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

DIGIT_WORDS = {
    "zero": "0", "oh": "0", "o": "0", "nought": "0", "one": "1", "two": "2", "three": "3", "four": "4",
    "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
    "null": "0", "eins": "1", "zwei": "2", "zwo": "2", "drei": "3", "vier": "4", "fünf": "5", "sechs": "6",
    "sieben": "7", "acht": "8", "neun": "9",
    "sıfır": "0", "bir": "1", "iki": "2", "üç": "3", "dört": "4", "beş": "5", "altı": "6", "yedi": "7",
    "sekiz": "8", "dokuz": "9",
}
REPEAT_WORDS = {"double": 2, "triple": 3, "doppel": 2, "doppelte": 2}
MIN_RUN = 6  # digits a run needs to count without a label

_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
_GAP = re.compile(r"^[\s,.\-–/]*$")  # what may stand between two digits of one run
_PHONE = re.compile(r"^(?:07\d{9}|01[5-7]\d{8,9}|05\d{9}|0\d{9,10}|44\d{10}|49\d{9,12}|90\d{10})$")


def _runs(text: str) -> Iterator[tuple[int, int, str]]:
    """(start, end, digits) of each run of digits said or written one by one."""
    start = end = None
    digits, pending = "", 1
    for m in _TOKEN.finditer(text):
        w = m.group().lower()
        if w in REPEAT_WORDS:
            value, repeat = None, REPEAT_WORDS[w]
        elif w in DIGIT_WORDS:
            value, repeat = DIGIT_WORDS[w], 0
        elif w.isdigit() and len(w) <= 4:
            value, repeat = w, 0
        else:
            value, repeat = None, 0
        joined = start is not None and _GAP.match(text[end:m.start()]) is not None
        if value is None and not repeat:
            if start is not None and digits:
                yield start, end, digits
            start, digits, pending = None, "", 1
            continue
        if start is None or not joined:
            if start is not None and digits:
                yield start, end, digits
            start, digits, pending = m.start(), "", 1
        if repeat:
            pending = repeat
        else:
            digits += value * pending if len(value) == 1 else value
            pending = 1
        end = m.end()
    if start is not None and digits:
        yield start, end, digits


def digit_runs(text: str) -> Iterator[tuple[int, int, str]]:
    """(start, end, digits) of each run said or written digit by digit; one written number ("40388126") is
    left to the written patterns."""
    for a, b, digits in _runs(text):
        said = text[a:b]
        if any(c.isalpha() for c in said) or " " in said.strip():
            yield a, b, digits


def is_dialled(digits: str) -> bool:
    """Whether the digits of a run are a phone number: a mobile, or 10-11 digits from 0 or a country code."""
    return len(digits) >= MIN_RUN and _PHONE.match(digits) is not None
