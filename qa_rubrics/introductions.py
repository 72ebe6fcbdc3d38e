"""Did the agent give their own name? A part of a criterion that a sentence model cannot judge.

"Did the agent greet the customer and introduce themselves?" is in almost every contact centre's
rubric. A classifier over sentence embeddings tells a greeting from other sentences, but "Hello,
customer services." and "Hello, customer services, Sam speaking." are nearly the same sentence to
it: whether a name was given is a detail the embedding blurs. Graders fail the first.

The name itself is already found: the conversation's person names (`Conversation.names`: the
transcript's `agent:` header, the NER model for English, introductions for German and Turkish).
What is left is whose name it is: the agent's own name is the header's agent name, or a name
introduced as one's own ("my name is", "I'm", "this is", "Sam speaking", "mein Name ist", "am
Apparat ist", "ben Elif", "adım Can" ...), or a social-media reply's signature ("^JS", "-Mia"). A
name the agent says to the customer ("Thanks, Tomasz!") is not an introduction.

`asks_for_agent_name(question)` reads a criterion's question: a question that asks the agent to
give their own name or introduce themselves requires it (`semantic.v4`), unless the rubric says
otherwise (`requires: []`). `asks_for_signature(question)`: a question that counts a name or
initials signature as a sign-off ("close with a sign-off, such as a name or initials signature or a
friendly goodbye") is passed by one (`semantic.v5` and later), unless the rubric says `accepts: []`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# Words just before a name that make it the speaker's own (English, German, Turkish).
_BEFORE = re.compile(
    r"(?:\b(?:my\s+name\s+is|my\s+name's|name's|i'm|i\s+am|this\s+is|it's|it\s+is|"
    r"you(?:'re|\s+are)\s+(?:speaking|talking|chatting|through)\s+(?:to|with)|you've\s+reached|"
    r"speaking\s+(?:to|with)|chatting\s+with|"
    r"mein\s+name\s+ist|hier\s+(?:ist|spricht)|ich\s+bin|ich\s+heiße|sie\s+sprechen\s+mit|am\s+apparat\s+ist|"
    r"benim\s+adım|adım|ismim|ben)[\s,:]+|(?:^|\s)[-–—~^]\s*)$",
    re.I)
# Words just after a name that make it the speaker's own ("Sam here", "Jana vom Kundenservice").
_AFTER = re.compile(
    r"^\s*(?:here|speaking|on\s+the\s+line|from|at\s+your\s+service|am\s+apparat|hier|von|vom|ben|"
    r"konuşuyor)\b", re.I)

# A question that asks for the agent's own name: "give their own name", "introduce themselves",
# "state his or her name", "den eigenen Namen genannt", "sich vorgestellt", "kendi adını söyledi".
_ASKS = re.compile(
    r"\bown\s+(?:first\s+)?name\b|"
    r"\b(?:give|gave|given|giving|gives|state|stated|states|say|said|says|tell|told|tells|provide|provided|"
    r"mention|mentioned|share|shared|offer|offered)\s+(?:their|his|her|his\s+or\s+her|his/her)\s+"
    r"(?:first\s+|full\s+)?name\b|"
    r"\b(?:introduc|identif)\w*\s+(?:themselves|themself|himself|herself|oneself)\b|\bself-?introduc\w*|"
    r"\beigenen\s+namen\b|\bsich\b[^?.]{0,40}\bvor(?:gestellt|stellen|stellt|stellte)\b|"
    r"\bmit\s+(?:ihrem|seinem)\s+namen\b|\b(?:seinen|ihren)\s+namen\s+(?:genannt|gesagt)\b|"
    r"\bkendi\s+(?:adını|ismini)\b|\bkendini\s+tanıt\w*|(?<!müşterinin\s)\b(?:adını|ismini)\s+(?:söyledi|verdi)",
    re.I)

# A social-media signature at the end of a reply: "^JS", "-Mia", "~RK", "/KM" (brands' accounts sign
# each reply with the agent's initials or first name: graders count it as the agent naming themselves).
_SIGNATURE = re.compile("(?:^|\\s)[\\^~/*\\-–—]([A-Z]{2,3}|[A-Z][a-z]{1,14})"
                        "[\\s.)\U0001F000-\U0001FAFF\u2600-\u27BF\uFE0F\u200D]*$")
_NOT_INITIALS = frozenset({"OK", "UK", "US", "EU", "AM", "PM", "UTC", "GMT", "ID", "TV", "PC", "FAQ", "DM"})

# A question that counts a signature as enough: "a sign-off, such as a name or initials signature",
# "sign the reply with their name or initials", "mit Namen oder Kürzel unterschrieben", "imza".
_ASKS_SIGNATURE = re.compile(
    r"(?<!customer\s)(?<!customer's\s)\bsignatures?\b|"
    r"\bsign(?:s|ed|ing)?(?:[- ]?off)?\s+(?:the\s+|each\s+|their\s+|his\s+|her\s+)?"
    r"(?:(?:reply|replies|message|messages|post|posts|tweet|tweets|response|responses)\s+)?with\s+"
    r"(?:a\s+|their\s+|his\s+|her\s+|his\s+or\s+her\s+)?(?:own\s+)?(?:first\s+)?(?:name|initials)\b|"
    r"(?<!kunden)\bunterschrift\w*|\bunterschrieben\b|\bsigniert\w*|\bkürzel\b|(?<!müşterinin\s)\bimza\w*",
    re.I)

AGENT_NAME = "agent_name"
REQUIREMENTS = (AGENT_NAME,)
AGENT_SIGNATURE = "agent_signature"
ACCEPTS = (AGENT_SIGNATURE,)


def asks_for_agent_name(question: str) -> bool:
    """Whether a criterion's question asks the agent to give their own name."""
    return bool(question) and _ASKS.search(question) is not None


def asks_for_signature(question: str) -> bool:
    """Whether a criterion's question counts the agent's signature (name or initials) as enough."""
    return bool(question) and _ASKS_SIGNATURE.search(question) is not None


def signature(texts: Sequence[str], turns: Sequence[int]) -> tuple[int, int, int] | None:
    """(turn, start, end) of the first reply in `turns` that ends with a signature ("^JS", "-Mia")."""
    for t in turns:
        m = _SIGNATURE.search(texts[t].rstrip())
        if m and m.group(1) not in _NOT_INITIALS:
            return t, m.start(1), m.end(1)
    return None


def _own_name_parts(agent: str | None) -> set[str]:
    """The words of the header's agent name ("Jana Becker" -> {"jana", "becker"})."""
    return {w.lower() for w in re.findall(r"\w{2,}", agent or "")}


def self_introduction(texts: Sequence[str], names: Sequence[Sequence[tuple[int, int]]],
                      turns: Sequence[int], agent: str | None = None) -> tuple[int, int, int] | None:
    """(turn, start, end) of the first name in `turns` that the speaker gives as their own: the
    header's agent name, or a name introduced as one's own; None when there is none.

    `texts` are the turns' original texts and `names` the person-name spans of each turn."""
    own = _own_name_parts(agent)
    for t in turns:
        text = texts[t]
        for a, b in names[t]:
            said = {w.lower() for w in re.findall(r"\w{2,}", text[a:b])}
            if own and said & own:
                return t, a, b
            if _BEFORE.search(text[max(0, a - 40):a]) or _AFTER.search(text[b:b + 24]):
                return t, a, b
        signed = signature(texts, [t])
        if signed:
            return signed
    return None


def any_name(names: Sequence[Sequence[tuple[int, int]]], turns: Sequence[int]) -> bool:
    """Whether the turns hold any person name at all (an introduction the cues above missed is then
    possible: such a verdict needs review)."""
    return any(names[t] for t in turns)
