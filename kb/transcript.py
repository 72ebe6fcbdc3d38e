"""The transcript model shared by QA scoring and live assist: `Turn`, `Transcript`, speaker roles.

A turn's `speaker` is a role (`agent`, `customer`, or `other`); the label as written ("Rep",
"Daniel") is kept in `label`. `SpeakerMap` resolves labels to roles through one table of aliases
(built in, plus the `speaker_aliases` setting), speakers declared in a file and the agent's name.
File formats (JSON, JSONL, "Speaker: text", WebVTT) are read by `qa_rubrics.formats`; live assist
reads pasted "Speaker: text" lines and JSON (`kb.assist.parse_transcript`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from kb.errors import InputError
from kb.redact import self_introductions

ROLES = ("agent", "customer")

_ALIASES: dict[str, str] = {
    **dict.fromkeys(["agent", "rep", "representative", "advisor", "adviser", "support", "operator", "csr",
                     "associate", "specialist", "consultant", "staff", "employee", "colleague", "a",
                     # German
                     "mitarbeiter", "mitarbeiterin", "mitarbeiter/in", "mitarbeiter*in", "berater", "beraterin",
                     "berater/in", "kundenberater", "kundenberaterin", "kundenservice", "kundendienst",
                     "servicemitarbeiter", "servicemitarbeiterin", "agentin",
                     # Turkish
                     "temsilci", "müşteri temsilcisi", "danışman", "müşteri danışmanı", "müşteri hizmetleri",
                     "çağrı merkezi", "yetkili", "operatör",
                     "agente", "conseiller", "conseillère"], "agent"),
    **dict.fromkeys(["customer", "caller", "client", "user", "visitor", "member", "guest", "consumer", "cust", "cx",
                     "c", "buyer",
                     "kunde", "kundin", "kunde/in", "kunde*in", "anrufer", "anruferin", "anrufer/in",
                     "müşteri", "arayan", "alıcı",
                     "cliente"], "customer"),
}


def norm_label(label: str) -> str:
    """A speaker label for matching: spaces collapsed, no colon, lower case, and the Turkish dotted
    and dotless i made one letter, as labels are typed both ways ("MÜŞTERİ", "Danisman", "DANIŞMAN")."""
    key = re.sub(r"\s+", " ", str(label)).strip().strip(":")
    return key.replace("İ", "i").replace("I", "i").lower().replace("ı", "i").replace("i̇", "i")


BUILTIN_ALIASES: dict[str, str] = {norm_label(k): v for k, v in _ALIASES.items()}
# Typed without Turkish letters, as is common in chat: "Musteri", "Danisman", "Musteri Temsilcisi"
BUILTIN_ALIASES.update({norm_label(k).translate(str.maketrans("üşçğö", "uscgo")): v for k, v in _ALIASES.items()})


class TranscriptError(InputError):
    """A transcript that cannot be read; the message names the file and line."""

    code = "invalid_transcript"


@dataclass
class Turn:
    """One turn: who spoke (a role), what they said and, when known, when (seconds from the start)."""

    speaker: str  # agent | customer | other
    text: str
    start: float | None = None
    end: float | None = None
    label: str = ""  # the speaker as written in the source ("Rep", "Daniel")

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None and v != ""}


@dataclass
class Transcript:
    id: str
    turns: list[Turn]
    agent: str = ""
    started_at: str = ""
    channel: str = ""
    source: str = ""  # file (and line, for JSONL) it came from
    metadata: dict[str, Any] = field(default_factory=dict)
    customer: str = ""  # the customer's name, when known: redacted from the turns, never stored

    @property
    def has_times(self) -> bool:
        return bool(self.turns) and all(t.start is not None for t in self.turns)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "agent": self.agent, "started_at": self.started_at, "channel": self.channel,
                "turns": [t.to_dict() for t in self.turns], **({"metadata": self.metadata} if self.metadata else {})}


# -- speakers ------------------------------------------------------------------------------------
class SpeakerMap:
    """Resolves speaker labels to roles: aliases, names declared in the file, the agent's name."""

    def __init__(self, aliases: Iterable[str] | dict[str, str] = ()):
        self.aliases = dict(BUILTIN_ALIASES)
        extra = aliases.items() if isinstance(aliases, dict) else (_split_alias(a) for a in aliases)
        for label, role in extra:
            self.aliases[norm_label(label)] = role

    def role(self, label: str, *, declared: dict[str, str] | None = None, agent_name: str = "",
             customer_name: str = "") -> str | None:
        key = norm_label(label)
        if declared and key in declared:
            return declared[key]
        if key in self.aliases:
            return self.aliases[key]
        for name, role in ((agent_name, "agent"), (customer_name, "customer")):
            if name and key in {norm_label(name)} | {norm_label(p) for p in name.split()}:
                return role
        # "Agent (Tom)", "Customer 1", "Tom (agent)"
        for word in re.findall(r"[^\W\d_]+", key):
            if word in ROLES or (len(word) > 2 and word in self.aliases):
                return self.aliases.get(word, word)
        return None

    def resolve(self, labels: Sequence[str], *, declared: dict[str, str] | None = None, agent_name: str = "",
                customer_name: str = "", where: str = "", texts: Sequence[str] | None = None,
                inferred: dict[str, str] | None = None) -> dict[str, str]:
        """label -> role for every distinct label; with two speakers, one known role implies the other.
        Two speakers that no label names ("Speaker 1", "spk_0": a speech recogniser's diarisation) are
        told apart by what they say, given the turns' `texts`: see `agent_by_wording`. Roles found that
        way are also written into `inferred` (label -> "agent, by 'how can I help'")."""
        out: dict[str, str | None] = {}
        for lab in dict.fromkeys(labels):
            out[lab] = self.role(lab, declared=declared, agent_name=agent_name, customer_name=customer_name)
        unknown = [lab for lab, r in out.items() if r is None]
        if len(unknown) == len(out) == 2 and texts is not None:
            found = agent_by_wording(labels, texts, agent_name)
            if found:
                agent, cue = found
                other = next(lab for lab in unknown if lab != agent)
                out.update({agent: "agent", other: "customer"})
                if inferred is not None:
                    inferred.update({agent: f"agent, by {cue!r}", other: "customer, the other speaker"})
                unknown = []
        if unknown:
            known_roles = {r for r in out.values() if r}
            if len(unknown) == 1 and len(known_roles) == 1:
                out[unknown[0]] = "customer" if "agent" in known_roles else "agent"
            else:
                raise TranscriptError(
                    f"{where}: cannot tell whether speaker {unknown[0]!r} is the agent or the customer",
                    hint=f"add it to the speaker_aliases setting (e.g. '{unknown[0]}=agent'), or declare the "
                         f"speakers in the file ('# speakers: Dan = agent, Amy = customer')",
                    field="speaker")
        return {k: v for k, v in out.items() if v}


# What only the agent says in the first turns of a service call or chat (English, German, Turkish).
_AGENT_WORDING = re.compile(
    r"\b(?:thanks?(?: you)? (?:very much )?for (?:calling|contacting|holding|getting in touch|waiting)|"
    r"how (?:can|may|could) i (?:help|assist)|what can i do for you|"
    r"you(?:'re| are|’re) (?:speaking|through|talking|chatting) (?:to|with)|you(?:'ve|’ve| have) reached|"
    r"calls? (?:are|is|may be) (?:being )?recorded|welcome to|"
    r"wie kann ich (?:ihnen |dir )?helfen|was kann ich für sie tun|(?:vielen )?dank für ihren anruf|"
    r"sie sprechen mit|"
    r"(?:size )?nasıl yardımcı olabilirim|aradığınız için teşekkür)", re.I)


# What only the agent says, anywhere in a conversation: offers of more help, apologies for the wait,
# what was done for the customer, a brand's "DM us" (English, German, Turkish). Asked only when no
# speaker opens with _AGENT_WORDING.
_AGENT_ANYWHERE = re.compile(
    r"\b(?:anything else (?:that )?(?:i|we) (?:can|could|may) (?:help|assist|do)|"
    r"(?:help|assist) you with anything else|anything else for you|"
    r"(?:sorry|apologi[sz]e) (?:for|about) (?:the|any) (?:wait|delay|inconvenience)|"
    r"your (?:booking|reservation|appointment|order|ride|cab|table|ticket|refund|request|account|case) "
    r"(?:is|has been|was) (?:now )?(?:confirmed|booked|made|processed|reserved|scheduled|cancell?ed|issued|"
    r"approved|on its way)|"
    r"(?:send|drop) us an? (?:dm|direct message|private message|pm)|dm us|"
    r"kann ich (?:ihnen |dir )?(?:sonst )?noch (?:etwas|irgendwie)|haben sie (?:sonst )?noch (?:eine )?fragen|"
    r"başka (?:bir )?(?:konuda )?(?:size )?yardımcı olabileceğim)", re.I)


def agent_by_wording(labels: Sequence[str], texts: Sequence[str], agent_name: str = "") -> tuple[str, str] | None:
    """(label, the words) of the one speaker whose first three turns say what an agent says ("thanks for
    calling", "how can I help", "you're speaking to", "wie kann ich Ihnen helfen", "size nasıl yardımcı
    olabilirim"; "this is <the agent's name>" when it is known). When neither does, the one speaker who
    says anywhere what only agents say ("anything else I can help you with", "sorry for the wait", "your
    booking is confirmed", "DM us", "kann ich sonst noch etwas", "başka yardımcı olabileceğim") while
    the other never does. None when neither or both do."""
    first = next(iter(re.findall(r"[^\W\d_]{2,}", agent_name or "")), "").lower()

    def cue(text: str) -> str | None:
        m = _AGENT_WORDING.search(text)
        if m:
            return m.group(0)
        for m, g in self_introductions(text) if first else ():
            said = re.split(r"[ -]", m.group(g))[0]
            if said.lower() == first:
                return text[m.start():m.start(g) + len(said)]
        return None

    seen: dict[str, int] = {}
    cues: dict[str, str] = {}
    for lab, text in zip(labels, texts, strict=True):
        seen[lab] = seen.get(lab, 0) + 1
        if seen[lab] <= 3 and lab not in cues and (found := cue(text)):
            cues[lab] = found
    if not cues:
        for lab, text in zip(labels, texts, strict=True):
            if lab not in cues and (m := _AGENT_ANYWHERE.search(text)):
                cues[lab] = m.group(0)
    return next(iter(cues.items())) if len(cues) == 1 else None


def describe_inferred(inferred: dict[str, str]) -> str:
    """How speakers were told apart, for a warning: "Speaker 1 = agent, by 'how can i help'; ..."."""
    return "; ".join(f"{lab} = {how}" for lab, how in inferred.items())


def _split_alias(item: str) -> tuple[str, str]:
    label, _, role = str(item).partition("=")
    role = role.strip().lower()
    if role not in (*ROLES, "other"):
        raise InputError(f"speaker_aliases: {item!r} must look like 'Label=agent' or 'Label=customer'",
                         field="speaker_aliases")
    return label, role


# -- times ---------------------------------------------------------------------------------------
_TIME = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{2}(?:[.,]\d+)?)$")


def parse_time(value: Any, where: str = "", field_name: str = "start") -> float | None:
    """Seconds from a number or a '[hh:]mm:ss[.mmm]' string; None stays None."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise TranscriptError(f"{where}: {field_name} must be a number of seconds, not {value!r}", field=field_name)
    if isinstance(value, int | float):
        if value < 0:
            raise TranscriptError(f"{where}: {field_name} is negative ({value})", field=field_name)
        return float(value)
    m = _TIME.match(str(value).strip())
    if m:
        h, mnt, sec = m.groups()
        return int(h or 0) * 3600 + int(mnt) * 60 + float(sec.replace(",", "."))
    try:
        return float(str(value))
    except ValueError:
        raise TranscriptError(f"{where}: {field_name} {value!r} is not a time (seconds or hh:mm:ss.mmm)",
                              field=field_name) from None
