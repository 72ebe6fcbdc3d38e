"""Redaction patterns for what must never be stored at all, and for bank and identity numbers that carry
no check digit: card security codes, PINs and passwords (`[SECRET]`), UK sort codes and bank account
numbers, German Kontonummer and BLZ (`[BANK_ACCOUNT]`), UK National Insurance numbers, US Social Security
numbers and passport numbers (`[NATIONAL_ID]`).

Used by `kb.redact`. Card standards forbid keeping a card's security code or a PIN after the payment,
and a customer reads them out on calls ("the CVV is 123", "PIN is 4821"): they are redacted where the
text says what they are, in English, German and Turkish ("CVV", "security code", "PIN", "Prüfnummer",
"Geheimzahl", "güvenlik kodu", "şifre"). A password is only taken when the word after "password is"
looks like one (a digit or one of ! @ # $ % ^ & in it): "my password is expired" stays.

A sort code counts when labelled ("sort code 20-00-00"), and so does an eight-digit account number in the
same text; "bank account number", "Kontonummer" and "BLZ" label theirs. An account number with a company
("account number 40388126") is a reference like an order number and stays. A National Insurance number
has its own form (two letters, six digits, a letter A-D, with the letters HMRC never issues left out) and
is redacted wherever it is written in capitals; Social Security and passport numbers only when labelled.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

_SEP = r"\s*(?:[:=#-]|\bis\b|\bwas\b|\bist\b|\blautet\b|\bof\b)?\s*(?:[:=]\s*)?"

_CODE_LABEL = (r"(?:cvv2?|cvc2?|cv2|csc|security\s+code|card\s+verification\s+(?:code|value|number)|"
               r"(?:three|3)[\s-]+digits?\s+(?:security\s+)?code|(?:three|3)[\s-]+digits?(?:\s+code)?\s+on\s+the\s+back|"
               r"pin(?:\s+(?:code|number))?|passcode|"
               r"prüfnummer|kartenprüfnummer|sicherheitscode|geheimzahl|pin-?nummer|pin-?code|"
               r"güvenlik\s+kodu(?:m|nuz)?|cvv\s+kodu|pin\s+kodu|şifre(?:m|niz|si)?)")
_LABELLED = rf"\b{_CODE_LABEL}(?:\s+(?:number|numarası|nummer))?(?:\s+(?:are|were))?{_SEP}"
_CODE = re.compile(_LABELLED + r"(\d{3,8})(?![\d/-]|[.,]\d)", re.I)
_CODE_BEFORE = re.compile(_LABELLED + "$", re.I)

_PASSWORD_LABEL = r"(?:password|pass\s*word|passwort|kennwort|parola(?:m|nız)?)"
_PASSWORD = re.compile(
    rf"\b{_PASSWORD_LABEL}\s*(?:[:=]|\bis\b|\bwas\b|\bist\b|\blautet\b)?\s*"
    r"((?=[^\s,;]*[\d!@#$%^&])[^\s\"'“”,;.*?-][^\s\"'“”,;]{3,63}?)(?=[\"'“”.,;!?]*(?:\s|$))", re.I)

_SORT_CODE = re.compile(r"\bsort[\s-]*code" + _SEP + r"(\d{2}[ -]?\d{2}[ -]?\d{2})(?![\d-])", re.I)
_ACCOUNT_NEAR_SORT = re.compile(r"\b(?:account|acc|a/c)\s*(?:number|no\.?|num)?" + _SEP + r"(\d{8})(?!\d)", re.I)
_BANK_ACCOUNT = re.compile(
    r"\b(?:bank\s+account(?:\s+(?:number|no\.?))?|kontonummer|konto-?nr\.?|bankleitzahl|blz|"
    r"hesap\s+numara(?:m|sı|nız))" + _SEP + r"(\d{6,10})(?!\d)", re.I)

# National Insurance number: no D F I Q U V first, no D F I O Q U V second, not BG GB KN NK NT TN ZZ
_NINO = re.compile(r"(?<![A-Za-z0-9])(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]"
                   r" ?\d{2} ?\d{2} ?\d{2} ?[A-D](?![A-Za-z0-9])")
_SSN = re.compile(r"\b(?:SSN|social\s+security(?:\s+(?:number|no\.?))?)" + _SEP + r"(\d{3}[- ]?\d{2}[- ]?\d{4})(?!\d)",
                  re.I)
_PASSPORT = re.compile(r"\b(?:passport(?:\s+(?:number|no\.?))?|reisepass(?:nummer|-?nr\.?)?|passnummer|"
                       r"pasaport(?:\s+(?:no\.?|numaras[ıi]\w*))?)" + _SEP + r"((?=[A-Z]*\d)[A-Z0-9]{6,10})(?![A-Za-z0-9])", re.I)


def secrets(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of card security codes, PINs and passwords, where the text labels them."""
    for pattern in (_CODE, _PASSWORD):
        for m in pattern.finditer(text):
            yield m.start(1), m.end(1)


def code_label_before(text: str, pos: int) -> bool:
    """Whether a security code's or PIN's label ends just before `pos` ("the three digits on the back are ",
    "PIN is "): for codes read out digit by digit (`kb.redact_spoken`)."""
    return _CODE_BEFORE.search(text, max(0, pos - 80), pos) is not None


def bank_accounts(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of labelled sort codes, the account number beside one, and labelled bank account numbers."""
    sort_codes = list(_SORT_CODE.finditer(text))
    for m in sort_codes:
        yield m.start(1), m.end(1)
    if sort_codes:
        for m in _ACCOUNT_NEAR_SORT.finditer(text):
            yield m.start(1), m.end(1)
    for m in _BANK_ACCOUNT.finditer(text):
        yield m.start(1), m.end(1)


def identity_numbers(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of National Insurance numbers, and of labelled Social Security and passport numbers."""
    for m in _NINO.finditer(text):
        yield m.start(), m.end()
    for pattern in (_SSN, _PASSPORT):
        for m in pattern.finditer(text):
            yield m.start(1), m.end(1)
