"""A transcript prepared once for scoring.

One spaCy pass over the turns gives sentences, lemmas, negation and (when redaction is on) the
person names; the turns are redacted from the same parse. Units for semantic matching (each
sentence, each whole turn) are cleaned of handles, links and chat noise, and embedded together,
once per transcript, the first time a criterion needs vectors.

Criteria work on the original turn text held in memory; everything that leaves the scorer
(evidence, stored turns) is the redacted text, with offsets mapped through `OffsetMap`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from kb.redact import OffsetMap, Redaction, find_pii, is_caseless, known_name_pattern, redact_many
from qa_rubrics.rubric import Window
from qa_rubrics.transcripts import Transcript

# Person names are replaced by one stand-in name, in transcripts and rubric examples alike, so that
# "you're through to Tom" and "you're through to Dan" read the same to the model.
NAME_STANDIN = "Alex"

_URL = re.compile(r"\b(?:https?://|www\.)\S+|\b[\w-]+(?:\.[\w-]+)+/\S*", re.I)
_HANDLE = re.compile(r"(?<![\w@])@[A-Za-z0-9_]{2,30}\b")
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_EMOJI = re.compile("[\U0001F000-\U0001FAFF\u2600-\u27BF\uFE0F\u200D]+")
_EMOTICON = re.compile(r"(?<!\w)[:;=][-']?[()DPp/\\|]+(?!\w)|(?<!\w)<3(?!\w)|\b(?:lol|lmao|haha+|xx+)\b", re.I)
_REPEAT_PUNCT = re.compile(r"([?!.])\1+")
_SYSTEM = re.compile(r"^\s*\[(?:auto(?:mated)?|system|bot|template)[^\]]*\]\s*", re.I)
_TEXTSPEAK = {"u": "you", "ur": "your", "pls": "please", "plz": "please", "thx": "thanks", "ty": "thank you",
              "im": "I'm", "ive": "I've", "dont": "don't", "cant": "can't", "wont": "won't", "r": "are",
              "b4": "before", "msg": "message", "tbh": "to be honest", "btw": "by the way", "idk": "I don't know"}
# Hesitation sounds a speech recogniser writes out ("um", "uh", German "äh"); not "er" (German "he").
_FILLER = re.compile(r"(?<![\w'])(?:u+m+|u+h+|uhm+|erm+|h+m+|mhm|ä+h+m*|ö+h+m*)(?![\w'])[,.]?", re.I)
_TEXTSPEAK_RE = re.compile(r"\b(" + "|".join(re.escape(k) for k in _TEXTSPEAK) + r")\b", re.I)
_ASK_START = re.compile(
    r"^\s*(?:(?:so|and|ok|okay|right|great|thanks|thank you|perfect|lovely|brilliant|also|just|first|sorry)[,!.]?\s+)*"
    r"(?:can|could|would|will|is|are|do|does|did|may|might|shall|should|have|has|was|were|what|which|when|where|"
    r"who|whose|why|how|anything|any)\b", re.I)
_REQUEST = re.compile(r"\b(?:please|pls|plz)\s+(?:confirm|give|tell|send|provide|pop|type|share|let me know|check)\b"
                      r"|\b(?:i'll|i will|i just|i'd just) need\b|\bcan i (?:take|grab|get|have)\b", re.I)
_NEG_WORDS = frozenset({"not", "n't", "never", "nothing", "nobody", "none", "cannot", "nowhere", "neither", "nor"})


# Negations that do not negate what is said: "don't worry", "don't hesitate", "never mind".
_FORMULAIC_NEG_HEADS = frozenset({"worry", "hesitate", "mind", "forget"})


def is_negated(tokens) -> bool:
    """Whether a statement is negated: a `neg` dependency (or never/nothing/cannot ...), leaving out
    formulaic negations ("don't worry", "no problem")."""
    for t in tokens:
        if t.dep_ == "neg" or t.lower_ in _NEG_WORDS:
            head = t.head.lemma_.lower() if t.head is not None else ""
            if head in _FORMULAIC_NEG_HEADS:
                continue
            return True
    return False


_PLACEHOLDER = re.compile(r"\[([A-Z][A-Z_]{1,20})\]")


def _placeholder(m: re.Match) -> str:
    """A redaction placeholder as words: "[NAME]" reads as the stand-in name (as names do before
    redaction), "[EMAIL]" as "email" ..., so stored (redacted) and live text look the same to the model."""
    kind = m.group(1)
    return NAME_STANDIN if kind == "NAME" else kind.lower().replace("_", " ")


def clean_text(text: str) -> str:
    """What the embedding model should see: no links, handles, e-mails, emoji; text-speak spelled out."""
    t = _PLACEHOLDER.sub(_placeholder, text)
    t = _SYSTEM.sub("", t)
    t = _URL.sub(" ", t)
    t = _EMAIL.sub(" an email address ", t)
    t = _HANDLE.sub(" ", t)
    t = _EMOJI.sub(" ", t)
    t = _EMOTICON.sub(" ", t)
    t = _REPEAT_PUNCT.sub(r"\1", t)
    t = _FILLER.sub(" ", t)
    t = _TEXTSPEAK_RE.sub(lambda m: _TEXTSPEAK[m.group(1).lower()], t)
    return re.sub(r"\s+", " ", t).strip(" ,;")


def is_ask(text: str) -> bool:
    """A question or a request (ends with '?', starts like a question, or asks the other to do something)."""
    t = text.strip()
    return t.endswith("?") or bool(_ASK_START.match(t)) or bool(_REQUEST.search(t))


_WORD_SPAN = re.compile(r"\S+")
_STOPS = re.compile(r"[.!?。？！]")
WINDOW_WORDS = 10  # about the length of a rubric example


# How a question starts when nobody wrote its question mark (a speech recogniser without punctuation):
# a question word (after a preposition: "for how many people", "on what date"), or a verb before its
# subject ("can I have", "is there", "do you"; not "have a good day", "will do"). German: a question
# word, or a modal or "haben/sein" before "Sie/ich/es ...". Turkish: a question word, or the question
# particle (mi, mı, mu, mü, with its endings), written apart.
_SPOKEN_QUESTION = {
    "en": re.compile(
        r"^\W*(?:(?:so|and|ok|okay|right|great|thanks|thank\s+you|perfect|lovely|also|just|sorry|um|uh|erm)\s+)*"
        r"(?:(?:(?:for|on|at|in|to|from|with|by|about)\s+)?(?:what|which|when|where|who|whose|why|how)\b|"
        r"anything\s+else\b|"
        r"(?:can|could|would|will|do|does|did|is|are|was|were|have|has|shall|should|may|might)\s+"
        r"(?:you|i|we|it|there|that|this|they|he|she|your|the|my|our|anyone|anything)\b)", re.I),
    "de": re.compile(
        r"^\W*(?:(?:also|und|ok|okay|gut|danke|prima|super|noch)\s+)*"
        r"(?:(?:was|wie|wann|wo|woher|wohin|wer|wen|wem|welche[rsmn]?|warum|weshalb|wieso)\b|"
        r"(?:können|könnten|würden|möchten|wollen|dürfen|darf|kann|haben|hätten|sind|ist|gibt|brauchen)\s+"
        r"(?:sie|ich|wir|es|das|du|ihr)\b)", re.I),
    "tr": re.compile(
        r"(?:^\W*(?:ne|neden|niçin|nasıl|hangi|kaç|nerede|nereye|kim|ne\s+zaman)\b|"
        r"\bm[iıuü](?:yim|yız|yiz|sin|sın|sun|sün|siniz|sınız|sunuz|sünüz|dir|dır|dur|dür)?\b)", re.I),
}


def spoken_question(text: str, language: str = "en") -> bool:
    """Whether an unpunctuated span starts (in Turkish: holds the particle) like a question."""
    pattern = _SPOKEN_QUESTION.get((language or "en")[:2])
    return pattern is not None and not text.rstrip().endswith("?") and pattern.search(text) is not None


def is_unpunctuated(texts: Sequence[str]) -> bool:
    """Whether a transcript comes without sentence punctuation (a speech recogniser that gives none):
    fewer than one full stop, question or exclamation mark per 30 words, over at least 30 words."""
    words = sum(len(_WORD_SPAN.findall(t)) for t in texts)
    return words >= 30 and sum(len(_STOPS.findall(t)) for t in texts) * 30 < words


def _with_windows(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sentence spans of an unpunctuated turn, each long one followed by overlapping windows of
    `WINDOW_WORDS` words (half a window apart): without punctuation the parser leaves "lovely you
    might get a survey after the call thanks for calling have a good day bye" as one sentence, whose
    vector no longer looks like a goodbye."""
    out: list[tuple[int, int]] = []
    for a, b in spans:
        out.append((a, b))
        words = [(m.start() + a, m.end() + a) for m in _WORD_SPAN.finditer(text[a:b])]
        if len(words) <= WINDOW_WORDS * 3 // 2:
            continue
        step = WINDOW_WORDS // 2
        for i in range(0, len(words) - step, step):
            w = words[i:i + WINDOW_WORDS]
            out.append((w[0][0], w[-1][1]))
    return out


@dataclass
class Unit:
    """A piece of one turn that is embedded: a sentence or the whole turn."""

    turn: int
    start: int
    end: int
    text: str  # cleaned, for the model
    kind: str  # sentence | turn
    ask: bool = False
    negated: bool = False


@dataclass
class Token:
    start: int
    end: int
    lower: str
    lemma: str


class Conversation:
    """Turns, sentences, lemmas, redaction and (lazily) unit vectors of one transcript."""

    def __init__(self, transcript: Transcript, nlp, *, redact: bool = True, keep: Iterable[str] = (),
                 clean: bool = True, normalise_names: bool = True, whole_turns: bool = True):
        self.transcript = transcript
        self.whole_turns = whole_turns
        self.turns = transcript.turns
        texts = [t.text for t in self.turns]
        disable = [] if redact else ["ner"]
        disable = [p for p in disable if p in nlp.pipe_names]
        self.docs = list(nlp.pipe(texts, disable=disable, batch_size=64))
        self.redactions: list[list[Redaction]]
        extra = [n for n in (transcript.agent, transcript.customer) if n]
        if redact:
            res = redact_many(texts, docs=self.docs, keep=keep, names=extra)
            self.redacted = [r[0] for r in res]
            self.redactions = [r[1] for r in res]
        else:
            self.redacted = list(texts)
            self.redactions = [[] for _ in texts]
        self.maps = [OffsetMap(r) for r in self.redactions]
        if redact:
            self.names = [[(r.start, r.end) for r in rs if r.type == "name"] for rs in self.redactions]
        else:  # no name model: introductions, the transcript's names, and in caseless text the name lists
            caseless = is_caseless(texts)
            known = known_name_pattern(extra, caseless=caseless)
            self.names = [[(r.start, r.end) for r in find_pii(t, doc=d, types=("name",), keep=keep, known_names=known,
                                                               name_lists="query" if caseless else None)]
                          for t, d in zip(texts, self.docs, strict=True)]
        self.normalise_names = normalise_names
        has_lemma = any(d.has_annotation("LEMMA") for d in self.docs)
        self.tokens: list[list[Token]] = [
            [Token(t.idx, t.idx + len(t.text), t.lower_, (t.lemma_ if has_lemma else t.text).lower())
             for t in d if not t.is_space] for d in self.docs]
        self.sentences: list[list[tuple[int, int]]] = [self._sentences(d) for d in self.docs]
        self.unpunctuated = is_unpunctuated(texts)
        if self.unpunctuated:
            self.sentences = [_with_windows(t, s) for t, s in zip(texts, self.sentences, strict=True)]
        self.clean = clean
        self.units: list[Unit] = self._units()
        self._vectors: np.ndarray | None = None
        self._grams = None  # character n-grams of every unit (semantic.v3), computed on first need
        self._by_turn: dict[int, list[int]] = {}
        for i, u in enumerate(self.units):
            self._by_turn.setdefault(u.turn, []).append(i)

    # -- structure ---------------------------------------------------------------------------
    @staticmethod
    def _sentences(doc) -> list[tuple[int, int]]:
        text = doc.text
        spans = []
        try:
            sents = list(doc.sents)
        except ValueError:  # no sentence boundaries set (blank pipeline without a sentencizer)
            sents = [doc[:]]
        for s in sents:
            a, b = s.start_char, s.end_char
            while a < b and text[a].isspace():
                a += 1
            while b > a and text[b - 1].isspace():
                b -= 1
            if b > a:
                spans.append((a, b))
        # glue fragments without a word to the previous sentence ("...right?" "Ok." stays)
        out: list[tuple[int, int]] = []
        for a, b in spans:
            if out and not re.search(r"\w", text[a:b]):
                out[-1] = (out[-1][0], b)
            else:
                out.append((a, b))
        return out

    def _negated(self, turn: int, start: int, end: int) -> bool:
        return is_negated(t for t in self.docs[turn] if start <= t.idx < end)

    def _units(self) -> list[Unit]:
        """Each sentence of a turn (a one-sentence turn is one unit, of kind "turn"); with `whole_turns`
        (semantic.v1 compares them), each multi-sentence turn as a whole too."""
        units: list[Unit] = []
        lang = self.docs[0].lang_ if self.docs else "en"
        for i, turn in enumerate(self.turns):
            sents = self.sentences[i]
            a, b = (sents[0][0], sents[-1][1]) if sents else (0, len(turn.text))
            whole = [(a, b, "turn")] if len(sents) <= 1 or self.whole_turns else []
            spans = whole + ([(x, y, "sentence") for x, y in sents] if len(sents) > 1 else [])
            for x, y, kind in spans:
                raw = turn.text[x:y]
                text = self._model_text(i, x, y)
                ask = is_ask(raw)
                if self.unpunctuated and spoken_question(raw, lang):  # the question mark a recogniser left out
                    text, ask = text.rstrip(" .,;:") + "?", True
                if re.search(r"\w", text):
                    units.append(Unit(i, x, y, text, kind, ask, self._negated(i, x, y)))
        return units

    def _model_text(self, turn: int, start: int, end: int) -> str:
        """The text the embedding model sees for a span: names made uniform, then cleaned."""
        raw = self.turns[turn].text
        if self.normalise_names and self.names[turn]:
            parts, pos = [], start
            for a, b in self.names[turn]:
                if a >= start and b <= end:
                    parts.append(raw[pos:a])
                    parts.append(NAME_STANDIN)
                    pos = b
            parts.append(raw[pos:end])
            text = "".join(parts)
        else:
            text = raw[start:end]
        return clean_text(text) if self.clean else text

    # -- selection ---------------------------------------------------------------------------
    def turn_indices(self, speaker: str = "any", window: Window | None = None) -> list[int]:
        """Turns of `speaker` (agent | customer | any), limited to the window.

        A window counts the turns of that speaker ({first_turns: 3} on an agent criterion: the
        agent's first three turns), so that split chat messages do not push things out of it.
        """
        idx = [i for i, t in enumerate(self.turns) if speaker == "any" or t.speaker == speaker]
        if window is not None:
            if window.first_turns:
                idx = idx[: window.first_turns]
            elif window.last_turns:
                idx = idx[-window.last_turns:]
        return idx

    def unit_indices(self, turns: Sequence[int], kinds: Sequence[str] = ("sentence", "turn")) -> list[int]:
        return [u for t in turns for u in self._by_turn.get(t, []) if self.units[u].kind in kinds]

    def missing(self, embedder, units: Sequence[int]) -> list[int]:
        """Those of `units` not embedded yet."""
        if self._vectors is None:
            self._vectors = np.zeros((len(self.units), embedder.dim), np.float32)
            self._have = np.zeros(len(self.units), dtype=bool)
        return [int(i) for i in units if not self._have[i]]

    def set_vectors(self, units: Sequence[int], vectors: np.ndarray) -> None:
        """Vectors computed elsewhere (the scorer embeds many conversations' units in one batch)."""
        self._vectors[list(units)] = vectors
        self._have[list(units)] = True

    def vectors(self, embedder, units: Sequence[int] | None = None) -> np.ndarray:
        """Vectors of the given units (all by default). Each unit is embedded once per transcript;
        the scorer asks up front for every unit its rubric needs, so that is one batch."""
        idx = np.arange(len(self.units)) if units is None else np.asarray(units, dtype=np.int64)
        missing = self.missing(embedder, idx)
        if missing:
            self.set_vectors(missing, embedder.encode_documents([self.units[i].text for i in missing]))
        return self._vectors[idx]

    def sentences_of(self, embedder, units: Sequence[int], *, grams: bool = True):
        """`qa_rubrics.classifier.Sentences` of the given units: vectors and (with `grams`) character
        n-grams, each computed once per transcript."""
        from qa_rubrics.classifier import Sentences, char_grams

        V = self.vectors(embedder, units)
        if not grams:
            return Sentences(V)
        if self._grams is None:
            self._grams = char_grams([u.text for u in self.units])
        return Sentences(V, self._grams[np.asarray(units, dtype=np.int64)])

    # -- output ------------------------------------------------------------------------------
    def shown_span(self, turn: int, start: int, end: int) -> tuple[int, int, str]:
        """(start, end, text) of a span in the redacted turn text."""
        a, b = self.maps[turn].span(start, end)
        return a, b, self.redacted[turn][a:b]
