"""Did the agent tell the customer the request was done? The reply to a confirmed read-back.

"Did the agent tell the customer that the request was completed successfully?" Its examples are
full sentences about bookings and payments ("All done, your booking is now confirmed."), and a
sentence classifier learns that wording. What agents actually say once the customer has confirmed
the details is often short and about the thing itself: "The song has started.", "The cab is on its
way.", "Here you go.", "Car's yours.", "The transfer is complete", "Right, that's gone through now."
To a sentence model most of these are plain statements (probability 0.1-0.45 on sgd-qa). What makes
them reports of a completed request is where they stand:

1. the agent reads the details back for confirmation (`qa_rubrics.readback`: at least three details
   already given, little new, a question or a yes or no after it),
2. the customer's next turn consents, plainly: it starts with yes, "that is correct", "go ahead",
   "ja, genau", "evet" ..., and holds no question and no change ("yes, but make it three", "yes, what
   is the address?" is a new request, and what follows answers it),
3. the agent's next turn starts with a statement, not a question, and that statement is neither a
   failure or an apology ("I'm sorry, I was unable to book it", "Unfortunately the card was declined")
   nor a hold ("One moment, let me put that through"): it is the outcome.

`completion(conv, turns)` finds the first such report among the agent `turns`; its evidence is the
report's first sentence. `asks_for_completion(question)` reads a criterion's question: one that asks
whether the agent told (informed, confirmed to) the customer that the request was completed, done,
successful or went through accepts a completion (`semantic.v7`), unless the rubric says `accepts: []`.
Not "was identity verification completed" (no telling), not "invite the customer to complete the
survey", not "... that the request could not be completed" (a failure notice). English, German and Turkish words.

The rule was written from sgd-qa's missed `success_notice` passes (24 of 120 dialogues); it has no
numeric setting of its own (docs/qa.md gives the figures, and what it finds in the sample calls).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from qa_rubrics.readback import read_backs

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Sequence

    from qa_rubrics.conversation import Conversation

COMPLETION = "completion"

# A question that asks whether the agent told the customer the request was done.
_TELL = (r"(?:tell|tells|told|inform(?:s|ed)?|notif(?:y|ies|ied)|let\s+(?:\w+\s+){0,2}?know|say|says|said|"
         r"confirm(?:s|ed)?|report(?:s|ed)?)")
_DONE = (r"(?:complet(?:e|ed|ion)|success(?:ful|fully)?|succeeded|done|went\s+through|gone\s+through|"
         r"(?:was|were|been|is|are|had|has)\s+(?:now\s+)?(?:made|placed|booked|processed|submitted|"
         r"cancell?ed|set\s+up|sorted|finished|carried\s+out))")
_ASKS = re.compile(
    rf"\b{_TELL}\b(?:\W+\w+){{0,10}}?\W+{_DONE}\b|"
    r"\b(?:mitgeteilt|gesagt|informiert|bestätigt|gemeldet|mitteilt|sagt|informiert)\b(?:\W+\w+){0,10}?\W+"
    r"(?:erfolgreich|erledigt|abgeschlossen|durchgeführt|geklappt|ausgeführt)\b|"
    r"\b(?:erfolgreich|erledigt|abgeschlossen|durchgeführt|ausgeführt)\b(?:\W+\w+){0,6}?\W+"
    r"(?:mitgeteilt|gesagt|gemeldet|bestätigt)\b|"
    r"\b(?:başarıyla|tamamlandığını|gerçekleştiğini|gerçekleştirildiğini|yapıldığını|bittiğini)\b"
    r"(?:\W+\w+){0,4}?\W+(?:söyledi|bildirdi|belirtti|iletti|teyit\s+etti|haber\s+verdi)",
    re.I)

# ... and not whether it could not be done (that is a failure notice)
_NEGATED = re.compile(r"\b(?:not|never|cannot|unable|unsuccessful(?:ly)?|fail(?:ed|s|ure)?|nicht|kein\w*|nie|"
                      r"gescheitert|fehlgeschlagen|başarısız\w*)\b|n't\b", re.I)

# The customer's reply consents: it starts with a yes (English, German, Turkish) ...
_CONSENT = re.compile(
    r"^\W*(?:yes|yeah|yep|yup|sure|correct|right|exactly|absolutely|perfect|ok(?:ay)?|great|fine|"
    r"that(?:'s|\s+is|\s+was|\s+all)\s+(?:\w+\s+)?(?:right|correct|fine|good|it|perfect|great)|"
    r"sounds\s+(?:good|great|right|fine|perfect)|please\s+do|go\s+ahead|do\s+it|"
    r"ja|jawohl|genau|richtig|stimmt|korrekt|passt|gerne|"
    r"evet|doğru|tamam|aynen|olur|tabii)\b",
    re.I)
# ... and changes nothing
_CHANGE = re.compile(r"\?|\b(?:but|actually|instead|change|rather|aber|eigentlich|stattdessen|lieber|ama|"
                     r"aslında|yerine|değiştir\w*)\b", re.I)
# An attempt that failed (English, German, Turkish): also what `qa_rubrics.answers_asked` keeps as a failure
FAILED = (r"\b(?:could\s*n[o']t|could\s+not|unable|was\s*n[o']t\s+able|were\s*n[o']t\s+able|not\s+able|failed|"
          r"declined|unsuccessful\w*|did\s*n[o']t\s+go\s+through|konnte\w*\s+(?:\w+\s+){0,2}?nicht|nicht\s+möglich|"
          r"fehlgeschlagen|abgelehnt|yapılamadı|yapamadım|gerçekleştirilemedi|başarısız|reddedildi)\b")
# A reply that is no outcome: a failed attempt, an apology, or a hold.
_NOT_DONE = re.compile(
    FAILED + "|"
    r"\b(?:sorry|unfortunately|unable|couldn'?t|could\s+not|can'?t|cannot|wasn'?t\s+able|weren'?t\s+able|"
    r"not\s+able|fail(?:ed|s|ure)?|declined|rejected|not\s+(?:possible|available|go\s+through|been)|"
    r"no\s+longer|error|problem|moment|bear\s+with|let\s+me|hold\s+on|one\s+sec(?:ond)?|"
    r"leider|nicht|kein(?:e|en)?|fehlgeschlagen|abgelehnt|entschuldig\w*|moment\w*|"
    r"maalesef|üzgünüm|özür|olmadı|yapamadım|yapılamadı|başarısız|reddedildi|hata|bir\s+(?:dakika|saniye)|"
    r"bekle\w*)\b",
    re.I)


def asks_for_completion(question: str) -> bool:
    """Whether a criterion's question asks if the agent told the customer the request was done."""
    return bool(question) and _ASKS.search(question) is not None and _NEGATED.search(question) is None


def consents(text: str) -> bool:
    """A plain yes: no question, no change to what was read back."""
    return _CONSENT.search(text) is not None and _CHANGE.search(text) is None


def completion(conv: Conversation, turns: Sequence[int]) -> tuple[int, int, int, int] | None:
    """(turn, start, end, read-back turn) of the first agent report, among `turns`, of the outcome of a
    read-back the customer consented to (the report's first sentence), or None."""
    allowed = set(turns)
    seen: set[int] = set()
    for rb_turn, _, _, _ in read_backs(conv, conv.turn_indices("agent")):
        if rb_turn in seen:
            continue
        seen.add(rb_turn)
        reply = next((i for i in range(rb_turn + 1, len(conv.turns)) if conv.turns[i].speaker == "customer"), None)
        if reply is None or not consents(conv.turns[reply].text):
            continue
        report = next((i for i in range(reply + 1, len(conv.turns)) if conv.turns[i].speaker != "customer"), None)
        if report is None or report not in allowed or conv.turns[report].speaker != "agent":
            continue
        if not conv.sentences[report]:
            continue
        start, end = conv.sentences[report][0]
        first = conv.turns[report].text[start:end]
        before_question = conv.turns[report].text.split("?", 1)[0]
        if first.rstrip().endswith("?") or _NOT_DONE.search(before_question):
            continue
        return report, start, end, rb_turn
    return None
