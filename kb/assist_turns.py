"""The turns live assist reads: speakers resolved to customer or agent, system notes ("[hold music]")
left out, "Speaker: text" transcripts parsed, and how much of a turn says something about the
customer's need (small talk, greetings, fillers and bare references say nothing).
"""

from __future__ import annotations

import json
import re
from typing import Any

from kb.errors import InputError
from kb.redact import PLACEHOLDER_RE
from kb.text import content_terms, fold, normalize_ws
from kb.transcript import SpeakerMap, Turn, norm_label

CUSTOMER, AGENT = "customer", "agent"
_SPEAKERS = SpeakerMap()  # the one speaker table (kb.transcript), shared with QA
# Words that say nothing of the customer's need, per language: greetings, thanks, fillers, yes/no,
# and (German, Turkish) the function words the English stopword list does not cover. A turn is
# small talk when fewer than two of its words are left. The lists are used together (a turn's
# language is not detected); German and Turkish words that are English need words ("hat", "bin",
# "die", "war", "ben") are left out.
SMALL_TALK: dict[str, str] = {
    "en": """
yeah yes yep yup no nope ok okay right sure great lovely brilliant cheers bye goodbye morning afternoon evening um hiya
uh er erm hmm mm fine perfect cool alright problem worries appreciate moment hold calling speaking bear sec second
really much much lot good day night welcome awesome excellent wonderful sorry pardon repeat hear hello hi hey
thank thanks ta go ahead done sounds sound helpful help anything else all that's be oh ah well
""",
    "de": """
ja jo jawohl nein nee genau okay ok gut super prima toll klasse perfekt alles klar stimmt richtig sicher gerne
gern danke dankeschön schön vielen dank herzlichen bitte bitteschön hallo guten tag morgen abend moin servus grüß
gott tschüss tschüs wiederhören wiedersehen auf einen schönen ähm äh hm mhm moment augenblick sekunde kurz warten
warte bleiben sie dran verstanden alles war's wars das wäre dann erstmal nichts mehr weiter hilfe geholfen
entschuldigung sorry wie bitte nochmal noch mal wiederholen hören höre spreche sprechen freundlich freut mich
ich du er sie es wir ihr mein meine mir mich dir dich uns euch ihnen ist sind wäre habe haben hatte
und oder aber auch doch schon mal noch so da dann ganz sehr echt wirklich einfach eben halt wohl gerade jetzt
der das den dem des ein eine einen einem einer dass was wer wie wo wann warum welche mit von zu für auf an in
im am um aus bei nach vor über unter nicht kein keine hier dort lieben liebe tag
""",
    "tr": """
evet hayır yok tamam tamamdır peki olur oldu anladım anlıyorum tabii tabi elbette kesinlikle harika süper güzel
mükemmel iyi çok teşekkürler teşekkür ederim ederiz sağ olun sağolun sağ olasınız rica kolay gelsin merhaba
merhabalar selam selamlar günaydın iyi günler akşamlar geceler hoşça kalın görüşmek üzere hoş geldiniz
buyurun buyrun efendim şey hmm ıı ee ya yani işte bir saniye dakika lütfen bekleyin bekliyorum hatta kalın
başka bir şey yok sorun değil önemli değil kusura bakmayın pardon özür dilerim anlamadım tekrar duyamadım
sen biz siz onlar benim bana beni sizin size sizi bu şu ve veya ama de da ki mi mı mu mü ne nasıl neden
için ile gibi daha en çok az var yok olarak oldu olur hanım bey
""",
}
_SMALL_TALK = frozenset(fold(w) for words in SMALL_TALK.values() for w in words.split())
# e-mail addresses and links say nothing of the need (an address is matched from the start of its word:
# a long run without "@" is then read once, not once per character)
# e-mail addresses, links, and the placeholders redaction leaves ("[NAME]", "[POSTCODE]", "[ADDRESS]" ...)
_REFERENCE = re.compile(r"(?<!\S)\S+@\S+|https?://\S+|www\.\S+|" + PLACEHOLDER_RE.pattern)
_LINE = re.compile(r"^\s*([^\W\d_][\w .'/*-]{0,40}?)\s*:\s*(.*)$")
# Turns that are not speech: a system's or transcriber's notes, and lines that are only a bracketed note.
NOTE_LABELS = frozenset({"note", "notes", "system", "hold", "music", "ivr", "bot", "transcriber", "annotation",
                         "event", "info", "sistem", "not", "hinweis", "notiz"})
_NOTE_TEXT = re.compile(r"^\s*(?:\[[^\]]*\]|\([^)]*\)|\*[^*]+\*|<[^>]*>)\s*$")
NEED_TERMS = 4  # words a customer turn needs to state a need (and to open a new topic)
FULL_TURN = 8  # words from which a turn counts in full



# -- transcripts ----------------------------------------------------------------------------------
def _role(label: str) -> str | None:
    role = _SPEAKERS.role(label)
    return role if role in (CUSTOMER, AGENT) else None


def is_note(label: str, text: str) -> bool:
    """Not speech: a note from the telephony or chat system ("[hold music]", "(customer on hold 1:20)",
    a turn labelled note, system, hold, music, IVR ...)."""
    return norm_label(label) in NOTE_LABELS or bool(_NOTE_TEXT.match(text or ""))


# A spoken or chat turn is a few sentences; a longer one is a whole transcript pasted into one turn, which
# would only slow the name model and the search down (refused with a clear error).
MAX_TURN_CHARS = 10_000


def normalize_turns(raw: list[Any], *, max_chars: int | None = MAX_TURN_CHARS) -> list[Turn]:
    """Turns from dicts ({"speaker", "text"}) or Turn objects; unknown speaker labels are resolved
    against the known one (the other party) or else taken to be the customer. Notes that are not
    speech (hold music, system messages: `is_note`) are left out. A turn longer than `max_chars` is an
    error (None: no limit, for turns already read, whose redaction may have lengthened them)."""
    items: list[tuple[str, str]] = []
    for i, t in enumerate(raw):
        if isinstance(t, Turn):
            items.append((t.speaker, t.text))
            continue
        if not isinstance(t, dict) or not isinstance(t.get("text", ""), str):
            raise InputError(f"Turn {i + 1} must be an object with \"speaker\" and \"text\"", field="turns")
        label, text = str(t.get("speaker") or t.get("role") or ""), t.get("text") or ""
        if max_chars is not None and len(text) > max_chars:
            raise InputError(f"Turn {i + 1} is {len(text):,} characters long; a turn can have at most "
                             f"{max_chars:,}", hint="send each turn as it is spoken or written, not a whole "
                             "transcript in one turn", field="turns")
        if not is_note(label, text):
            items.append((label, text))
    labels = {lab for lab, _ in items}
    known = {lab: _role(lab) for lab in labels}
    roles_known = {r for r in known.values() if r}
    for lab, r in known.items():
        if r is None:
            known[lab] = AGENT if roles_known == {CUSTOMER} else CUSTOMER
    return [Turn(known[lab] or CUSTOMER, normalize_ws(text)) for lab, text in items if text.strip()]


def parse_transcript(text: str) -> list[Turn]:
    """JSON {"turns": [...]} (or a bare list), or "Speaker: text" lines (other lines continue a turn)."""
    s = text.strip()
    if not s:
        raise InputError("The transcript is empty", field="transcript")
    if s[0] in "[{":
        try:
            data = json.loads(s)
        except RecursionError:
            raise InputError("The transcript JSON is nested too deeply", field="transcript") from None
        except json.JSONDecodeError as exc:
            raise InputError(f"The transcript is not valid JSON ({exc.msg}, line {exc.lineno})",
                             hint='use {"turns": [{"speaker": "customer", "text": "..."}]} or "Speaker: text" lines',
                             field="transcript") from None
        turns = data.get("turns") if isinstance(data, dict) else data
        if not isinstance(turns, list):
            raise InputError('The transcript JSON needs a "turns" list', field="turns")
        return normalize_turns(turns)
    raw: list[dict[str, str]] = []
    for line in s.splitlines():
        if not line.strip() or _NOTE_TEXT.match(line):
            continue  # blank, or a note such as "[hold music]"
        m = _LINE.match(line)
        if m and (_role(m.group(1)) or len(m.group(1).split()) <= 3):
            raw.append({"speaker": m.group(1).strip(), "text": m.group(2)})
        elif raw:
            raw[-1]["text"] += " " + line.strip()
        else:
            raise InputError("The transcript's first line has no speaker",
                             hint='write "Customer: ..." and "Agent: ..." lines', field="transcript")
    return normalize_turns(raw)


def need_terms(text: str) -> int:
    """How many words of a turn say something about a need (not small talk, not numbers or codes)."""
    text = _REFERENCE.sub(" ", text)
    return sum(1 for t in content_terms(text) if t not in _SMALL_TALK and not any(c.isdigit() for c in t))


_CLAUSE = re.compile(r"[^,.!?;:–—]+[,.!?;:–—]*")


def need_text(text: str) -> str:
    """The turn without the small talk around the need: leading and trailing clauses of at most three
    words that say nothing of it ("Hi Kate,", "yeah,", "thanks.") are left out, so greetings and names
    do not blur what the customer asks. A turn that is only small talk is returned as it is."""
    clauses = [c for c in _CLAUSE.findall(text or "") if c.strip()]

    def chatter(c: str) -> bool:
        return len(c.split()) <= 3 and need_terms(c) <= 1

    a, b = 0, len(clauses)  # the clauses kept: [a, b), at least one
    while b - a > 1 and chatter(clauses[a]):
        a += 1
    while b - a > 1 and chatter(clauses[b - 1]):
        b -= 1
    kept = "".join(clauses[a:b]).strip()
    return kept if need_terms(kept) >= 2 else (text or "").strip()


def is_small_talk(text: str) -> bool:
    """Greetings, thanks, fillers and bare references (order numbers, postcodes) carry no need."""
    return need_terms(text) < 2
