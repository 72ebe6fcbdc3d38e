"""Is a sentence of a past ticket safe to quote in an answer for another customer?

A ticket's resolution tells what was done for one customer. An answer quotes a sentence of it only
when the sentence holds nothing specific to that customer or case; `case_details(text, ...)`
returns why a sentence is specific (an empty list: it is not):

- personal data found by `kb.redact` (names by spaCy NER and self-introductions, e-mail addresses,
  phone, card, IBAN and national numbers, postcodes);
- places (spaCy GPE, LOC and FAC entities);
- order, ticket, account and incident references, and any other number that is not a duration
  ("within 3 business days", "a 12-month warranty" are policy; "order 7702915", "2 items" are not);
- dates and times (weekdays, months, "31/12", "yesterday", "tonight", "now", and spaCy DATE and TIME
  entities that are not durations) and amounts of money;
- pronouns that point at people in that ticket (he, she, they, his, her, their ...) and the
  writer's own "I" (the agent telling their case); "we" (the company) and "you" stay;
- internal shorthand and channel labels ("Cust", "cx", "ID&V", "TL", "DM", "pp", "CB",
  "Public reply:");
- what was done in that case: a sentence whose main verb is in the past tense ("Raised a carrier
  enquiry"), a note without a finite verb ("Customer happy to pay"), a question, a greeting, or a
  pointer at that case's things ("the parcel", "this order", "still", "already").

The grammatical rules need a parsed English `Doc` (the configured spaCy pipeline with its parser,
tagger and NER). Without one (German and Turkish tickets: no parser is installed) the sentence is
not quoted at all; the ticket is still cited as support. Strict on purpose: a quote is optional,
a case detail read out to the wrong customer is not.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from kb.redact import PLACEHOLDER_RE, find_pii, known_name_pattern

# Durations are policy ("within 3 business days", "24 hours", "a 12-month warranty"), not case detail.
_NUM_WORD = r"(?:\d+(?:[.,]\d+)?|a|an|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fourteen|" \
            r"twenty|thirty|forty|sixty|ninety|few|several)"
_UNIT = r"(?:business |working |calendar |banking )?(?:second|minute|min|hour|hr|day|night|week|fortnight|month|year)s?"
DURATION = re.compile(rf"\b{_NUM_WORD}(?:\s*(?:-|–|to|or)\s*{_NUM_WORD})?[\s-]+{_UNIT}\b", re.I)
_DURATION_ENT = re.compile(rf"^(?:(?:within|up to|after|for|over|in|under|about|around|at least|at most|"
                           rf"the|a|an|another|every|each|per|the next|the first|the last|more than|less than)\s+)*"
                           rf"{DURATION.pattern}(?:\s+(?:of|from|after)\b.*)?$|^(?:daily|weekly|monthly|yearly)$", re.I)
# Product and policy terms with digits that are neither references nor amounts.
_TERMS_WITH_DIGITS = re.compile(r"\b(?:3-?D Secure|2FA|24/7|Wi-?Fi 6|4K|5G|PS5|USB-?C|mp3|mp4)\b", re.I)
_REFERENCE = re.compile(r"\b[A-Z]{2,}(?:-[A-Z]{2,})*-?\d{3,}\b|#\d+|\b\d{5,}\b")
_MONEY = re.compile(r"[£$€¥₺]\s?\d|\d\s?(?:£|€|₺|pounds?|quid|euros?|dollars?|pence|p\b|GBP|EUR|USD|TL|TRY)\b", re.I)
_DATE = re.compile(
    r"\b(?:Mon|Tue|Tues|Wed|Thu|Thur|Thurs|Fri|Sat|Sun)(?:day)?\b|\b(?:Monday|Tuesday|Wednesday|Thursday|Friday|"
    r"Saturday|Sunday)s?\b|\b(?:Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)(?:[a-z]*)\b|(?<!^)\bMay\b|"
    r"\b\d{1,2}[/.]\d{1,2}(?:[/.]\d{2,4})?\b|\b\d{1,2}(?:st|nd|rd|th)\b|\b\d{1,2}(?::\d{2})?\s?(?:am|pm)\b|"
    r"\b\d{1,2}:\d{2}\b|\b(?:19|20)\d{2}\b|\b(?:yesterday|today|tomorrow|tonight|overnight|earlier|later on)\b|"
    r"\b(?:this|last|next) (?:morning|afternoon|evening|night|week|weekend|month|year)\b", re.I)
_DATE_CASED = re.compile(r"\b(?:January|February|March|April|June|July|August|September|October|November|"
                         r"December)\b")
_PERSON_PRONOUNS = frozenset("he she him her his hers himself herself they them their theirs themselves".split())
_FIRST_PERSON = frozenset("i me my mine myself".split())
_SHORTHAND = re.compile(
    r"(?<![\w'’&])(?:cust|custs|cx|cxs|id\s?&\s?v|idv|pp|cb|tl|dm|dm'd|dmd|wh|fa|pls|plz|thx|asap|fyi|re|"
    r"ref|acc|a/c|w/|w/o|approx|dob|eta|tbc|n/a|rp|pq|dbnr|ro|caller|inc-?\d*|l1|l2|ooo|ooh|pfa)(?![\w&])", re.I)
_LABEL = re.compile(r"^\s*(?:public reply|in dm|internal(?: note)?|note|dm'?d|email|chat|phone|call|"
                    r"reply|replied|update|outcome)\s*[:,-]", re.I)
_REPLY = re.compile(r"^\s*(?:yes|no|yep|nope|please)\b", re.I)  # an answer to, or a request of, that customer
# Irregular past tenses that open a note of what was done ("Told cust ...", "Sent a new link").
_PAST_OPENERS = frozenset("""told sent gave took left made rang spoke got set put paid read let kept found saw
went came bought brought thought felt heard held meant met ran sold stood understood wrote""".split())
_SIGN_OFF = re.compile(r"(?:^|[\n.!?,]\s*)(?i:thanks|thank you|many thanks|cheers|regards|kind regards|best|best wishes|"
                       r"ta|thx|dear|hi|hello|hey)[,!.]?\s+([A-Z][a-z]+(?:[ -][A-Z][a-z]+)?)\s*[,!.]?\s*(?:$|\n)",
                       re.M)
_GREETING = re.compile(r"^\s*(?:dear|hi|hello|hey|thanks|thank you|sorry|kind regards|best|cheers|many thanks)\b", re.I)
_NOW = frozenset("now still already yet just anymore currently both".split())
_STATE = re.compile(r"\b(?:at the moment|right now|so far|in progress|as of|for now|at present)\b", re.I)
_DEMONSTRATIVES = frozenset("this that these those".split())
# Things of one case: "the parcel", "this order" point at that customer's.
_CASE_NOUNS = frozenset("""parcel parcels order orders item items package packages box boxes return refund payment
card account delivery collection booking replacement claim complaint photo tracking driver attempt email emails
voucher code bundle sofa bed fridge table lamp blender kettle jumper phone laptop tv date one""".split())
PARSED_LANGUAGES = frozenset({"en"})  # languages the grammatical rules can read (the English parser)


def _without_durations(text: str) -> str:
    return _TERMS_WITH_DIGITS.sub(" ", DURATION.sub(" ", text))


def ticket_names(text: str, doc=None) -> list[str]:
    """Names of the people in a ticket: PERSON entities of its parsed text (`doc`) and the names in
    greetings and sign-offs ("Thank you, Tomasz", "Hi Rachel"), which the small NER model misses."""
    names = [m.group(1) for m in _SIGN_OFF.finditer(text)]
    names += [e.text for e in getattr(doc, "ents", ()) if e.label_ == "PERSON"]
    return list(dict.fromkeys(n.strip() for n in names if n.strip()))


def case_details(text: str, doc=None, *, language: str = "en", keep: Iterable[str] = (),
                 names: Iterable[str] = ()) -> list[str]:
    """Why `text` is specific to one customer or case, as short reasons ([]: safe to quote).

    `doc` is `text` parsed by an English spaCy pipeline with tagger, parser and NER; without it
    (or for another language) the sentence is never safe (reason "not parsed"). `keep` lists
    company and product names that are not people (the `redact_keep` setting); `names` are the
    people of the same ticket (`ticket_names`), found wherever they appear in it."""
    reasons: list[str] = []

    def add(reason: str) -> None:
        if reason not in reasons:
            reasons.append(reason)

    s = text.strip()
    if not s:
        return ["empty"]
    keep = list(keep)
    known = known_name_pattern(n for n in names if n.lower() not in {k.lower() for k in keep})
    for r in find_pii(s, doc=doc, keep=keep, language=language or "en", known_names=known):
        add({"name": "a name", "email": "an e-mail address", "phone": "a phone number", "card": "a card number",
             "iban": "an IBAN", "postcode": "a postcode", "address": "an address",
             "secret": "a security code or password", "bank_account": "bank details",
             "dob": "a date of birth"}.get(r.type, "personal data"))
    if PLACEHOLDER_RE.search(s):  # stored tickets are redacted: "[NAME]", "[ADDRESS]" stood for someone's data
        add("a redacted detail")
    if _REFERENCE.search(s):
        add("a reference number")
    if _MONEY.search(s):
        add("an amount")
    if _DATE.search(s) or _DATE_CASED.search(s):
        add("a date or time")
    if re.search(r"\d", _without_durations(_REFERENCE.sub(" ", s))):
        add("a number")
    if _SHORTHAND.search(s) or _LABEL.match(s):
        add("internal shorthand")
    if _GREETING.match(s):
        add("a greeting")
    if s.rstrip().endswith("?"):
        add("a question")
    if _REPLY.match(s):
        add("a reply to that customer")
    words = [w.lower() for w in re.findall(r"[^\W\d_]+", s)]  # "she'll" -> she, ll
    if any(w in _PERSON_PRONOUNS for w in words):
        add("a pronoun for a person in that ticket")
    first = words[0] if words else ""
    if (first.endswith("ed") and len(first) > 4) or first in _PAST_OPENERS:
        add("what was done in that case")
    if any(w in _FIRST_PERSON for w in words):
        add("the writer's own case (I)")
    if any(w in _NOW for w in words) or _STATE.search(s):
        add("this case's state (now, still, already)")
    if doc is None or (language or "en") not in PARSED_LANGUAGES:
        add("not parsed")
        return reasons
    _grammar(doc, add)
    return reasons


def _grammar(doc, add) -> None:
    for ent in doc.ents:
        if ent.label_ in ("GPE", "LOC", "FAC"):
            add("a place")
        elif ent.label_ in ("DATE", "TIME") and not _DURATION_ENT.match(ent.text.strip()):
            add("a date or time")
        elif ent.label_ == "MONEY":
            add("an amount")
        elif ent.label_ == "PERSON":
            add("a name")
    roots = [t for t in doc if t.dep_ == "ROOT"]
    finite = [t for t in doc if t.tag_ in ("VBZ", "VBP", "MD") or (t.tag_ == "VB" and t.dep_ == "ROOT")]
    for root in roots:
        aux = [c for c in root.children if c.dep_ in ("aux", "auxpass")]
        if root.tag_ == "VBN" and not aux:
            add("what was done in that case")
    for t in doc:
        if t.tag_ == "VBD":  # "sent the recall pack", "it was delivered"
            add("what was done in that case")
        elif t.tag_ == "VBN" and any(a.lemma_ == "have" for a in t.children if a.dep_ == "aux"):
            add("what was done in that case")  # "we've reported the damage"
    if not finite:
        add("a note, not a sentence")
    for t in doc:
        low = t.lower_
        if low in _DEMONSTRATIVES and t.tag_ == "DT":
            add("points at that case (this, that)")
        if low in _CASE_NOUNS and t.pos_ == "NOUN" and any(c.lower_ in ("the", *_DEMONSTRATIVES) for c in t.children
                                                           if c.dep_ == "det"):
            add(f"that case's {low}")
