"""An answer to the customer's own question is no failure notice.

"Did the agent tell the customer that the request could not be completed?" A sentence classifier
learns what failure notices say: a negation, an apology, "not available". The customer's own
questions about the thing get answers worded the same way: "Does it have wifi?" "They do not have
wifi."; "Do they offer cosmetic services?" "They do not offer cosmetic services."; "Is wifi available in
the hotel?" "Wifi is not available." Those answer a question; nothing the customer asked for failed.
On sgd-qa they were three of `failure_notice`'s four wrong passes.

`answers_asked(conv, unit)` is true when a sentence of the agent

- follows a customer turn with a question about a fact, not a request: it ends with a question mark and
  does not ask for something ("can you ...", "will you ...", "can I ...", "may we ...", "please", "I want
  / need / would like"; German "können Sie", "bitte", "ich möchte"; Turkish "lütfen", "-ebilir misiniz",
  "istiyorum"): "will you price match the lamp?" "We don't price match other retailers." is a refusal,
  and may be what the criterion looks for,
- repeats a content word of that question (the thing asked about),
- and says nothing of an attempt that failed ("couldn't", "unable", "wasn't able", "declined",
  "failed", "konnte nicht", "yapılamadı" ...): "No, the 7 pm slot is gone, so I couldn't book it"
  still counts.

`asks_for_failure(question)` reads a criterion's question: one that asks whether the agent told the
customer that the request could not be completed, failed or was unsuccessful sets such answers aside
(`semantic.v8`: their probability is capped below the threshold, and the verdict says so), unless the
rubric says `ignores: []`; `ignores: [answers]` sets them aside for any question.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from qa_rubrics.completion import FAILED
from qa_rubrics.readback import content_words

if TYPE_CHECKING:  # pragma: no cover
    from qa_rubrics.conversation import Conversation

ANSWERS = "answers"

_ASKS = re.compile(
    r"\b(?:could\s*n[o']t|can\s*n[o']t|cannot|was\s*n[o']t|were\s*n[o']t|was\s+not|were\s+not|not\s+be|"
    r"unable\s+to)\W+(?:\w+\W+){0,3}?(?:complet\w*|done|made|placed|booked|processed|go\s+through|"
    r"gone\s+through|fulfil\w*|carried\s+out|succeed\w*|possible)\b|"
    r"\b(?:failed|unsuccessful(?:ly)?|declined|did\s*n[o']t\s+go\s+through)\b|"
    r"\bnicht\s+(?:erfolgreich|möglich|durchgeführt|abgeschlossen|erledigt)\b|\bkonnte\w*\s+nicht\b|"
    r"\bgescheitert\b|\bfehlgeschlagen\b|"
    r"\b(?:tamamlanamadığını|yapılamadığını|gerçekleştirilemediğini|başarısız)\w*",
    re.I)
_TELLS = re.compile(r"\b(?:tell|told|tells|inform\w*|let\s+(?:\w+\s+){1,2}know|say|said|explain\w*|notif\w*|"
                    r"mitgeteilt|gesagt|informiert|erklärt|söyledi|bildirdi|belirtti|açıkladı)\b", re.I)
# A customer's question that asks the agent to do something
_REQUEST = re.compile(
    r"\b(?:can|could|would|will|may)\s+(?:you|u|i|we)\b|"
    r"\bplease\b|\bi\s+(?:want|need|would\s+like)\b|\bi'd\s+like\b|"
    r"\b(?:können|könnten|würden)\s+sie\b|\bbitte\b|\bich\s+(?:möchte|will|brauche|hätte\s+gern)\b|"
    r"\blütfen\b|\w+(?:ebilir|abilir)\s+m[iı]\w*|\bistiyorum\b",
    re.I)
# An attempt that failed: that is a failure notice, whatever was asked before
_FAILED = re.compile(FAILED, re.I)
_GLUED = re.compile(r"(?<=[.!])(?=[^\W\d_])")  # "Yes is good.Wifi is available in the hotel?"


def asks_for_failure(question: str) -> bool:
    """Whether a criterion's question asks if the agent told the customer the request could not be done."""
    return bool(question) and _TELLS.search(question) is not None and _ASKS.search(question) is not None


def fact_questions(text: str) -> list[str]:
    """The questions of a customer turn that ask about a fact, not for an action."""
    parts = [p for s in re.split(r"(?<=[.!?])\s+", text) for p in _GLUED.split(s)]
    return [p for p in parts if p.rstrip().endswith("?") and not _REQUEST.search(p)]


def answers_asked(conv: Conversation, unit: int) -> bool:
    """Whether the unit (an agent sentence) answers a fact question of the customer's turn just before,
    and tells of no failed attempt."""
    u = conv.units[unit]
    before = u.turn - 1
    text = conv.turns[u.turn].text[u.start:u.end]  # as said: the model's text has names made uniform
    if before < 0 or conv.turns[before].speaker != "customer" or _FAILED.search(text):
        return False
    said = content_words(text, conv.docs[u.turn].vocab)
    vocab = conv.docs[before].vocab
    return any(said & content_words(q, vocab) for q in fact_questions(conv.turns[before].text))
