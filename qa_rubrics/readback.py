"""Did the agent read the details back for the customer to confirm? A structure, not a wording.

"Did the agent read the details back and ask the customer to confirm them before acting?" is a
common rubric question (bookings, payments, address changes, orders). Its examples are read-backs
in full sentences ("Just to check, that's two tickets for Friday at 7 pm, correct?"), and a sentence
classifier learns that wording. Real read-backs are often terse: "Booking a table for 3 at Fort
McKinley on March 6th at 12:30 pm.", "Pool ride to 101 Brentwood Drive for 3 people?", "Renting a
standard Chevrolet Cruze at Canterbury Village on March 2nd." To a sentence model they look like
offers or plain statements; what makes them read-backs is where their details come from.

A read-back (`read_back`) is an agent sentence that

- repeats at least `MIN_SHARED` specific details already said in the conversation, by either side (the
  customer's request, or the option the agent offered and the customer took): numbers, and words that
  ordinary service talk seldom uses (names, places, products; a word of fewer than `COMMON_IN` sentences
  of the language's sentence bank, `qa_rubrics.bank`): "help", "today", "account" or "delivery" are no
  details,
- adds little of its own: at most `MAX_NEW` of its content words are new (an offer, "How about Blue
  Skies by Lenka?", brings its details; "I've sent the request to GreenThumb Supplies" reports an
  action; "It's a 3 star hotel with no wifi" informs),
- and asks for the customer's confirmation: it is a question, or the customer's next turn answers
  yes or no ("Yes, that's right", "Ja, genau", "Evet, doğru").

`asks_for_read_back(question)` reads a criterion's question: one that asks the agent to read or repeat
the details back ("read the details back", "repeat the booking back", "confirm the details", "die
Angaben wiederholt", "bilgileri tekrar etti") accepts a read-back (`semantic.v6`), unless the rubric
says `accepts: []`. The settings were chosen on sgd-qa (docs/qa.md: `confirm_details` from kappa 0.57
and 0.59 to 0.73 and 0.82 on its two halves), and the word-bank rule and the share of new content words
on what the detector found in the sample calls and chats, where statements such as "Is there anything
else I can help you with today?" or "I've sent the request to GreenThumb Supplies" passed before.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from qa_rubrics.conversation import Conversation

READ_BACK = "read_back"
MIN_SHARED = 3  # specific details of the sentence already said in the conversation
MAX_NEW = 0.25  # share of the sentence's content words that may be new
COMMON_IN = 3  # a word in this many sentences of the bank is ordinary service talk, not a detail

# Questions that ask for a read-back. Not "confirm what the order shows" (a lookup), not "verify the
# customer" / "kimliğini doğruladı" (identity), not "the customer had to repeat themselves".
_ASKS = re.compile(
    r"\bread(?:s|ing)?\s+(?:\w+\s+){0,4}?back\b|\bread-?backs?\b|"
    r"\brepeat(?:s|ed|ing)?\s+(?:\w+\s+){0,3}?(?:details|back|order|booking|request|reservation|"
    r"appointment|address|amount)\b|"
    r"\bconfirm(?:s|ed|ing)?\s+(?:\w+\s+){0,2}?details\b|"
    r"\b(?:angaben|daten|details|bestellung|buchung|adresse)\s+(?:\w+\s+){0,3}?"
    r"(?:wiederholt|zurückgelesen|vorgelesen)\b|\bzurückgelesen\b|\bvorgelesen\b|"
    r"\b(?:bilgileri|detayları|siparişi|adresi|rezervasyonu)\s+(?:\w+\s+){0,2}?"
    r"(?:tekrar\s+(?:etti|etmiş|okudu)|geri\s+okudu)",
    re.I)

# The customer's next turn answers yes or no (English, German, Turkish).
_ANSWER = re.compile(
    r"^\W*(?:yes|yeah|yep|yup|sure|correct|right|exactly|absolutely|perfect|ok(?:ay)?|great|no|nope|"
    r"that'?s\s+(?:right|correct|fine|good|it|all\s+correct)|sounds\s+(?:good|great|right|fine)|"
    r"please\s+do|go\s+ahead|do\s+it|not\s+quite|"
    r"ja|jawohl|genau|richtig|stimmt|korrekt|passt|nein|"
    r"evet|doğru|tamam|aynen|olur|tabii|hayır|yok)\b",
    re.I)
_WORD = re.compile(r"[^\W\d_]+|\d+")
_PLACEHOLDER = re.compile(r"\[[A-Z_]+\]")
_COMMON: dict[str, frozenset[str]] = {}
_COMMON_LOCK = threading.Lock()


def asks_for_read_back(question: str) -> bool:
    """Whether a criterion's question asks the agent to read (or repeat) the details back."""
    return bool(question) and _ASKS.search(question) is not None


def common_words(language: str) -> frozenset[str]:
    """Words of `COMMON_IN` or more sentences of the language's sentence bank (English when it has none)."""
    from qa_rubrics.bank import LANGUAGES, load_bank

    lang = language if language in LANGUAGES else "en"
    with _COMMON_LOCK:
        if lang not in _COMMON:
            seen: Counter[str] = Counter()
            for text in load_bank(lang).texts:
                seen.update({w.lower() for w in _WORD.findall(text)})
            _COMMON[lang] = frozenset(w for w, n in seen.items() if n >= COMMON_IN)
        return _COMMON[lang]


def content_words(text: str, vocab) -> set[str]:
    """The content words and numbers of `text`, lower-cased: no stop words (the conversation's language,
    through its spaCy vocabulary), no one- or two-letter words, no redaction placeholders."""
    text = _PLACEHOLDER.sub(" ", text)
    out = set()
    for w in _WORD.findall(text):
        low = w.lower()
        if w.isdigit() or (len(w) > 2 and not vocab[low].is_stop):
            out.add(low)
    return out


def answers_yes_or_no(text: str) -> bool:
    return _ANSWER.search(text) is not None


def read_backs(conv: Conversation, turns: Sequence[int]) -> Iterator[tuple[int, int, int, int]]:
    """(turn, start, end, specific details repeated) of each read-back among the agent `turns`, in order."""
    allowed = set(turns)
    common = common_words(conv.docs[0].lang_ if conv.docs else "en")
    said: set[str] = set()  # every content word so far
    for i, turn in enumerate(conv.turns):
        doc = conv.docs[i]
        if i in allowed:
            reply = next((u for u in conv.turns[i + 1:] if u.speaker == "customer"), None)
            answered = reply is not None and answers_yes_or_no(reply.text)
            for a, b in conv.sentences[i]:
                sentence = turn.text[a:b]
                words = content_words(sentence, doc.vocab)
                if not words:
                    continue
                shared = sum(1 for w in words & said if w.isdigit() or w not in common)
                if (shared >= MIN_SHARED and len(words - said) <= MAX_NEW * len(words)
                        and (answered or sentence.rstrip().endswith("?"))):
                    yield i, a, b, shared
        said |= content_words(turn.text, doc.vocab)


def read_back(conv: Conversation, turns: Sequence[int]) -> tuple[int, int, int, int] | None:
    """(turn, start, end, specific details repeated) of the first read-back among the agent `turns`, or None."""
    return next(read_backs(conv, turns), None)
