"""Live assist: the SOPs and a suggested answer for the customer's current need, over a growing conversation.

The caller sends the whole conversation so far ([{speaker, text}], as speech-to-text or a chat
produces it) each time it grows, with the `AssistState` returned last time (the web app keeps it
per conversation; it is a small JSON-serialisable dataclass).

- Weights: the customer's turns count, the most recent most (each newer customer turn multiplies
  the older ones by `assist_decay`); agent turns count `assist_agent_weight` as much; small talk
  (greetings, thanks, fillers, bare order numbers) counts nothing.
- Topic: the customer's need that opened it. A new customer turn stays in the topic when its
  embedding is close to the topic's turns (cosine >= `assist_shift_threshold`). Below that it is a
  candidate new problem, and the topic switches only when the new need, on its own, leads to a
  different SOP than the current one with a confident answer: above `answer_threshold` when the
  customer marks a new matter ("also", "another thing", "while I've got you"), above 0.8
  otherwise. So a low similarity alone never switches (follow-ups add details that look like
  other problems), nor does a new wording of the same problem.
- Stability: within a topic the current SOP stays the main suggestion while it is still among the
  candidates for the conversation's weighted query.
"""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from kb.answers import Answer, Source
from kb.errors import InputError
from kb.text import content_terms, fold, normalize_ws
from kb.transcript import SpeakerMap, Turn

CUSTOMER, AGENT = "customer", "agent"
_SPEAKERS = SpeakerMap()  # the one speaker table (kb.transcript), shared with QA
# Words that say nothing of the customer's need, per language: greetings, thanks, fillers, yes/no,
# and (German, Turkish) the function words the English stopword list does not cover. A turn is
# small talk when fewer than two of its words are left. The lists are used together (a turn's
# language is not detected); German and Turkish words that are English need words ("hat", "bin",
# "die", "war", "ben") are left out.
SMALL_TALK: dict[str, str] = {
    "en": """
yeah yes yep yup no nope ok okay right sure great lovely brilliant cheers bye goodbye morning afternoon evening um
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
_REFERENCE = re.compile(r"\S+@\S+|https?://\S+|www\.\S+")  # e-mail addresses and links say nothing of the need
_LINE = re.compile(r"^\s*([^\W\d_][\w .'/*-]{0,40}?)\s*:\s*(.*)$")
_NEW_MATTER = re.compile(
    r"\b(also|another thing|one more thing|while i'?ve got you|while you'?re there|by the way|btw|separate(ly)?|"
    r"something else|unrelated|(a |an )?(different|other|another|new|second) (issue|question|problem|thing|matter|order|"
    r"query)"
    r"|außerdem|ausserdem|noch etwas|noch was|noch eine (frage|sache)|eine andere (frage|sache)|übrigens|uebrigens|"
    r"ach ja|was anderes|etwas anderes"
    r"|ayrıca|bir de|başka bir (konu|şey|sorun|soru|sipariş)|bir şey daha|bir sorum daha|bu arada|farklı bir konu)\b",
    re.I)
SURE_SWITCH = 0.8  # confidence a new need must reach to change the topic without such words
WINDOW = 12  # turns looked at per update
NEED_TERMS = 4  # words a customer turn needs to state a need (and to open a new topic)
FULL_TURN = 8  # words from which a turn counts in full


@dataclass
class AssistState:
    """What live assist remembers between updates of one conversation (JSON-serialisable)."""

    topic: str = ""  # the customer's words that opened the current topic
    topic_turn: int = -1  # index of that turn in the conversation
    sop_ids: list[str] = field(default_factory=list)  # SOPs suggested for the topic, main first
    turns_seen: int = 0
    topics: int = 0  # how many topics so far

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> AssistState:
        if not data:
            return cls()
        types = {"topic": str, "topic_turn": int, "sop_ids": list, "turns_seen": int, "topics": int}
        known = {k: data[k] for k in types if k in data} if isinstance(data, dict) else None
        if known is None or any(not isinstance(v, types[k]) or isinstance(v, bool) for k, v in known.items()) or \
                not all(isinstance(x, str) for x in known.get("sop_ids", [])):
            raise InputError("The assist state is not valid", hint="send back the state returned last time",
                             field="state")
        return cls(**known)


@dataclass
class AssistResult:
    need: str  # the customer's latest need, as they said it
    topic: str
    topic_changed: bool
    sops: list[Source]  # the SOPs that apply, best first
    answer: Answer
    state: AssistState

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary_dict(self) -> dict[str, Any]:
        """The shape of `deskbook assist --json` (the same as `deskbook answer --json`)."""
        out = self.answer.summary_dict()
        sops = [asdict(s) for s in self.sops]
        rest = [s for s in out["sources"] if all(s["id"] != x["id"] for x in sops)]
        out["sources"] = sops + rest
        return out


# -- transcripts ----------------------------------------------------------------------------------
def _role(label: str) -> str | None:
    role = _SPEAKERS.role(label)
    return role if role in (CUSTOMER, AGENT) else None


def normalize_turns(raw: list[Any]) -> list[Turn]:
    """Turns from dicts ({"speaker", "text"}) or Turn objects; unknown speaker labels are resolved
    against the known one (the other party) or else taken to be the customer."""
    items: list[tuple[str, str]] = []
    for i, t in enumerate(raw):
        if isinstance(t, Turn):
            items.append((t.speaker, t.text))
            continue
        if not isinstance(t, dict) or not isinstance(t.get("text", ""), str):
            raise InputError(f"Turn {i + 1} must be an object with \"speaker\" and \"text\"", field="turns")
        items.append((str(t.get("speaker") or t.get("role") or ""), t.get("text") or ""))
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
        if not line.strip():
            continue
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


def is_small_talk(text: str) -> bool:
    """Greetings, thanks, fillers and bare references (order numbers, postcodes) carry no need."""
    return need_terms(text) < 2


# -- the assistant --------------------------------------------------------------------------------
class Assistant:
    """Live assist over one knowledge base; build once per process (it wraps an answerer)."""

    def __init__(self, answerer, config=None):
        self.answerer = answerer
        self.searcher = answerer.searcher
        self.config = config or answerer.config
        self._vecs: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def _encode(self, texts: list[str]) -> np.ndarray:
        """Query vectors of turns, cached: a growing conversation re-sends the same turns."""
        with self._lock:
            got = {t: self._vecs[t] for t in texts if t in self._vecs}
        missing = [t for t in dict.fromkeys(texts) if t not in got]
        if missing:
            got.update(zip(missing, self.searcher.embedder.encode_queries(missing), strict=True))
            with self._lock:
                for t in missing:
                    self._vecs[t] = got[t]
                while len(self._vecs) > 5000:
                    self._vecs.popitem(last=False)
        return np.vstack([got[t] for t in texts])

    def _weights(self, turns: list[Turn], ids: list[int], anchor: int) -> list[float]:
        """Weight of each turn of `ids` (ascending): customer turns first, the most recent most, short
        replies little, small talk nothing; the turn that opened the topic keeps its full weight."""
        decay = float(self.config.assist_decay)
        agent_w = float(self.config.assist_agent_weight)
        out, age = [], 0
        for i in reversed(ids):
            t = turns[i]
            info = min(1.0, need_terms(t.text) / FULL_TURN) if not is_small_talk(t.text) else 0.0
            w = decay ** age * info * (1.0 if t.speaker == CUSTOMER else agent_w)
            if i == anchor:
                w = max(w, info)
            out.append(w)
            if t.speaker == CUSTOMER and info:
                age += 1
        return out[::-1]

    def update(self, turns: list[Turn] | list[dict], state: AssistState | dict | None = None) -> AssistResult:
        """Suggestions for the conversation so far; pass back the returned `state` next time."""
        turns = normalize_turns(list(turns))
        state = AssistState.from_dict(state.to_dict() if isinstance(state, AssistState) else state)  # a copy
        if not turns:
            raise InputError("The conversation has no turns yet", field="turns")
        customer = [i for i, t in enumerate(turns) if t.speaker == CUSTOMER]
        if not customer:  # the agent's greeting: nothing to suggest yet
            state.turns_seen = len(turns)
            waiting = Answer(question="", answer="Waiting for the customer to say what they need.", confidence=0.0,
                             abstained=True)
            return AssistResult(need="", topic=state.topic, topic_changed=False, sops=[], answer=waiting, state=state)
        needs = ([i for i in customer if need_terms(turns[i].text) >= NEED_TERMS]
                 or [i for i in customer if not is_small_talk(turns[i].text)] or customer)
        latest = needs[-1]
        changed = False
        valid = 0 <= state.topic_turn < len(turns) and bool(state.sop_ids)
        opened = valid and need_terms(turns[state.topic_turn].text) >= NEED_TERMS
        if not valid or (not opened and latest > state.topic_turn):
            # no topic yet, or only small talk so far: the latest need opens one
            count = state.topics + 1 if opened or not valid else max(state.topics, 1)
            state = AssistState(topic=turns[latest].text, topic_turn=latest, topics=count)
            changed = True
        elif latest > state.topic_turn and latest >= state.turns_seen and need_terms(turns[latest].text) >= NEED_TERMS:
            # a new customer need since the last update: how close is it to what the topic has been about?
            said = [state.topic] + [turns[i].text for i in needs if state.topic_turn < i < latest][-4:]
            vecs = self._encode([turns[latest].text, *said])
            if float((vecs[1:] @ vecs[0]).max()) < float(self.config.assist_shift_threshold):
                # hysteresis: the new need must lead to another SOP, confidently unless the customer
                # marks it as a new matter ("also", "another thing", "while I've got you" ...)
                alone = self.answerer.answer(turns[latest].text, qvec=vecs[0])
                main = alone.evidence.get("main")
                bar = float(self.config.answer_threshold)
                if not _NEW_MATTER.search(turns[latest].text):
                    bar = max(bar, SURE_SWITCH)
                if main and main != state.sop_ids[0] and alone.confidence >= bar:
                    state = AssistState(topic=turns[latest].text, topic_turn=latest, topics=state.topics + 1)
                    changed = True

        # the topic's opening turn and the last WINDOW turns since
        ids = [state.topic_turn, *range(max(state.topic_turn + 1, len(turns) - WINDOW), len(turns))]
        weights = self._weights(turns, ids, state.topic_turn)
        use = [(i, w) for i, w in zip(ids, weights, strict=True) if w > 0]
        use = use or [(state.topic_turn, 1.0)]
        vecs = self._encode([turns[i].text for i, _ in use])
        qvec = np.asarray([w for _, w in use], dtype=np.float32) @ vecs
        qvec = qvec / (np.linalg.norm(qvec) or 1.0)
        # the words the lexical search sees: what opened the topic and the latest need
        query = state.topic if latest <= state.topic_turn else f"{state.topic} {turns[latest].text}"
        prefer = None if changed else (state.sop_ids[0] if state.sop_ids else None)
        ans = self.answerer.answer(query[:1000], qvec=qvec, prefer=prefer)
        sops = [s for s in ans.sources if s.type == "sop"][:3]
        main = ans.evidence.get("main")
        state.sop_ids = ([main] if main else []) + [s.id for s in sops if s.id != main]
        state.turns_seen = len(turns)
        return AssistResult(need=turns[latest].text, topic=state.topic, topic_changed=changed, sops=sops,
                            answer=ans, state=state)

    def replay(self, turns: list[Turn] | list[dict]) -> AssistResult:
        """Feed a finished transcript turn by turn (as a live call would) and return the last result."""
        turns = normalize_turns(list(turns))
        if not turns:
            raise InputError("The transcript has no turns", field="turns")
        state: AssistState | None = None
        result = None
        points = [i for i, t in enumerate(turns) if t.speaker == CUSTOMER and not is_small_talk(t.text)]
        for i in points or [len(turns) - 1]:
            result = self.update(turns[: i + 1], state)
            state = result.state
        if points and points[-1] != len(turns) - 1:
            result = self.update(turns, state)
        return result
