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

import re
import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from kb.answers import Answer, Source
from kb.assist_turns import (
    AGENT,
    CUSTOMER,
    FULL_TURN,
    NEED_TERMS,
    NOTE_LABELS,
    SMALL_TALK,
    is_note,
    is_small_talk,
    need_terms,
    need_text,
    normalize_turns,
    parse_transcript,
)
from kb.errors import InputError
from kb.models import AGENT_STATUSES
from kb.scales import cosine_setting
from kb.transcript import Turn

__all__ = ["AGENT", "CUSTOMER", "NOTE_LABELS", "SMALL_TALK", "Assistant", "AssistResult", "AssistState", "Turn",
           "is_note", "is_small_talk", "need_terms", "need_text", "normalize_turns", "parse_transcript"]

# The customer marks a new matter: the topic may change with a confident answer (answer_threshold).
_NEW_MATTER = re.compile(
    r"\b(also|another thing|one more thing|one other thing|while i'?ve got you|while you'?re there|by the way|btw|"
    r"separate(ly)?|something else|unrelated|hang on|hold on|oh and|just remembered|on another note|"
    r"(a |an )?(different|other|another|new|second) (issue|question|problem|thing|matter|order|query)"
    r"|außerdem|ausserdem|noch etwas|noch was|noch eine (frage|sache)|eine andere (frage|sache)|übrigens|uebrigens|"
    r"ach ja|was anderes|etwas anderes"
    r"|ayrıca|bir de|başka bir (konu|şey|sorun|soru|sipariş)|bir şey daha|bir sorum daha|bu arada|farklı bir konu)\b",
    re.I)
# A turn that carries on from the last one ("And the refund goes back on my card?") never opens a new
# topic unless it also marks a new matter.
_CONTINUES = re.compile(r"^\W*(?:(?:brilliant|great|lovely|perfect|ok(?:ay)?|right|thanks|thank you)\W+)*"
                        r"(?:and|so|but|then|or|und|also|aber|dann|ve|ama|peki)\b", re.I)
SURE_SWITCH = 0.9  # confidence a new need must reach to change the topic without such words (details of the
# same case, "the courier collected it and the tracking says you received it", reach 0.87 on another SOP)
WINDOW = 12  # turns looked at per update
ALONE_CACHE = 2000  # answers to single turns kept (a growing conversation asks about the same turns again)


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


# -- the assistant --------------------------------------------------------------------------------
class Assistant:
    """Live assist over one knowledge base; build once per process (it wraps an answerer)."""

    def __init__(self, answerer, config=None, *, statuses: tuple[str, ...] | None = AGENT_STATUSES):
        self.answerer = answerer
        self.searcher = answerer.searcher
        self.config = config or answerer.config
        self.statuses = tuple(statuses or ())  # SOP statuses suggested (default: published, as agents see)
        self.threshold = float(self.config.assist_threshold)  # below it the panel shows no answer
        self._vecs: OrderedDict[str, np.ndarray] = OrderedDict()
        self._alone_answers: OrderedDict[tuple, Answer] = OrderedDict()
        self._lock = threading.Lock()

    def _shift_threshold(self) -> float:
        """The `assist_shift_threshold` setting, or with auto the packaged model's own (`kb.scales`): MiniLM's
        0.4 was chosen on the written calls; multilingual-e5's 0.87 is the cosine at the same share of
        same-subject question pairs (the calibration "fit" questions labelled with the same SOP: 56% are
        below MiniLM's 0.4, the same share below 0.866 with multilingual-e5; 0.876 matches the share of
        different-subject pairs instead)."""
        return cosine_setting(self.config, "assist_shift_threshold", self.searcher.scale_model())

    def _encode(self, texts: list[str]) -> np.ndarray:
        """Query vectors of turns (their need, `need_text`), cached: a growing conversation re-sends
        the same turns."""
        texts = [need_text(t) for t in texts]
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

    def _alone(self, text: str, qvec: np.ndarray | None = None) -> Answer:
        """The answer to one customer turn on its own (cached: the conversation asks again each turn).
        Treat it as read-only."""
        key = (text, self.statuses, self.searcher.store.vectors_generation())
        with self._lock:
            hit = self._alone_answers.get(key)
        if hit is not None:
            return hit
        ans = self.answerer.answer(need_text(text)[:1000], qvec=self._encode([text])[0] if qvec is None else qvec,
                                   statuses=self.statuses, threshold=self.threshold)
        with self._lock:
            self._alone_answers[key] = ans
            while len(self._alone_answers) > ALONE_CACHE:
                self._alone_answers.popitem(last=False)
        return ans

    def _clearest(self, ans: Answer, turns: list[Turn], ids: list[int]) -> Answer:
        """The conversation's answer, or the answer to one of the customer's own statements of the need
        (`ids`) when that leads to the same SOP more confidently: small talk, names and postcodes said
        since dilute the conversation, not the need, so a clear need is answered at once."""
        main = ans.evidence.get("main")
        best = ans
        for i in dict.fromkeys(ids):
            if not 0 <= i < len(turns) or turns[i].speaker != CUSTOMER or need_terms(turns[i].text) < NEED_TERMS:
                continue
            single = self._alone(turns[i].text)
            if main and single.evidence.get("main") == main and single.confidence > best.confidence:
                best = single
        return best

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
        """Suggestions for the conversation so far; pass back the returned `state` next time. The turns'
        length was checked where they came in (`normalize_turns`, `parse_transcript`): stored turns, whose
        placeholders ("Jo" -> "[NAME]") can make them longer, are read whatever their length."""
        turns = normalize_turns(list(turns), max_chars=None)
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
            marked = bool(_NEW_MATTER.search(turns[latest].text))
            far = float((vecs[1:] @ vecs[0]).max()) < self._shift_threshold()
            # a marked new matter is asked on its own whatever it resembles; otherwise only a need far
            # from the topic's turns that does not carry on from them ("And the refund ...?")
            if marked or (far and not _CONTINUES.match(turns[latest].text)):
                # hysteresis: the new need must lead to another SOP, confidently unless the customer
                # marks it as a new matter ("also", "another thing", "while I've got you" ...)
                alone = self._alone(turns[latest].text, vecs[0])
                main = alone.evidence.get("main")
                bar = float(self.config.answer_threshold) if marked else SURE_SWITCH
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
        query = need_text(state.topic) if latest <= state.topic_turn else \
            f"{need_text(state.topic)} {need_text(turns[latest].text)}"
        prefer = None if changed else (state.sop_ids[0] if state.sop_ids else None)
        ans = self.answerer.answer(query[:1000], qvec=qvec, prefer=prefer, statuses=self.statuses,
                                   threshold=self.threshold)
        ans = self._clearest(ans, turns, [state.topic_turn, *[i for i in needs if i > state.topic_turn][-2:]])
        sops = [s for s in ans.sources if s.type == "sop"][:3]
        main = ans.evidence.get("main")
        state.sop_ids = ([main] if main else []) + [s.id for s in sops if s.id != main]
        state.turns_seen = len(turns)
        return AssistResult(need=turns[latest].text, topic=state.topic, topic_changed=changed, sops=sops,
                            answer=ans, state=state)

    def replay(self, turns: list[Turn] | list[dict]) -> AssistResult:
        """Feed a finished transcript turn by turn (as a live call would) and return the last result."""
        turns = normalize_turns(list(turns), max_chars=None)
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
