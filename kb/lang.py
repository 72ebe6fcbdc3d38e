"""Languages: detection, case folding, tokens, stopwords and stemming per language.

Pure functions over text, for lexical search and anything else that compares words:

- `detect_language(text)`: "en", "de", "tr" ... with lingua-language-detector, restricted to the
  languages a knowledge base may hold (the `languages` setting), and `default` when the text is
  too short or too ambiguous to tell ("refund", "Paket", "ok").
- `fold(text, lang)`: lower case the way the language does it. Turkish maps I to ı and İ to i
  (Python's `lower()` makes "KARTIM" "kartim" and "İADE" "i̇ade"); German folds ß to ss and the
  umlauts to their transliterations, so "Rückgabe" and "Rueckgabe" are one word.
- `tokenize(text, lang)`: folded words. In Turkish, what follows an apostrophe is a suffix on a
  proper noun ("Trendyol'dan", "İstanbul'a") and is dropped.
- `stopwords(lang)`, `stem(tokens, lang)`: Snowball stemmers (PyStemmer) for English, German,
  Turkish and the other languages Snowball knows.
- `Analyzer`: all of that for one language: `terms(text)` gives the index terms of a text,
  `query_terms(text)` the distinct terms of a query. Terms are folded to plain letters at the end
  (ş -> s, ı -> i, é -> e), so a query typed without Turkish or German letters ("sifremi",
  "Ruckgabe") meets the text that has them.

The stemmers and detectors are built once per process and per thread (PyStemmer's are not
thread-safe). Nothing here loads a model from the network; lingua's language models ship inside
its wheel.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from kb.errors import ConfigError

DEFAULT_LANGUAGES = ("en", "de", "tr")

# ISO 639-1 code -> Snowball algorithm name (PyStemmer)
SNOWBALL = {
    "ar": "arabic", "hy": "armenian", "eu": "basque", "ca": "catalan", "cs": "czech", "da": "danish",
    "nl": "dutch", "en": "english", "eo": "esperanto", "et": "estonian", "fi": "finnish", "fr": "french",
    "de": "german", "el": "greek", "hi": "hindi", "hu": "hungarian", "id": "indonesian", "ga": "irish",
    "it": "italian", "lt": "lithuanian", "ne": "nepali", "no": "norwegian", "nb": "norwegian", "fa": "persian",
    "pl": "polish", "pt": "portuguese", "ro": "romanian", "ru": "russian", "sr": "serbian", "st": "sesotho",
    "es": "spanish", "sv": "swedish", "ta": "tamil", "tr": "turkish", "yi": "yiddish",
}

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)
_TURKIC = frozenset({"tr", "az"})
_DE_TRANSLIT = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "ẞ": "ss"})
# Letters without a Unicode decomposition that still have a plain-letter reading.
_PLAIN = str.maketrans({"ı": "i", "ß": "ss", "æ": "ae", "ø": "o", "œ": "oe", "đ": "d", "ł": "l", "þ": "th"})

STOP_EN = """
a about above after again against all am an and any are aren't as at be because been before being below between
both but by can can't cannot could couldn't did didn't do does doesn't doing don't down during each few for from
further had hadn't has hasn't have haven't having he he'd he'll he's her here here's hers herself him himself his
how how's i i'd i'll i'm i've if in into is isn't it it's its itself let's me more most mustn't my myself no nor
not of off on once only or other ought our ours ourselves out over own same shan't she she'd she'll she's should
shouldn't so some such than that that's the their theirs them themselves then there there's these they they'd
they'll they're they've this those through to too under until up very was wasn't we we'd we'll we're we've were
weren't what what's when when's where where's which while who who's whom why why's with won't would wouldn't you
you'd you'll you're you've your yours yourself yourselves
"""
# Snowball's German stop list, less the words that carry a need in a support question (nicht,
# kein, ohne: "nicht angekommen" is not "angekommen").
_STOP_DE = """
aber alle allem allen aller alles als also am an ander andere anderem anderen anderer anderes anderm andern
anders auch auf aus bei bin bis bist da damit dann das dass daß dasselbe dazu dein deine deinem deinen deiner
deines dem demselben den denn denselben der derer derselbe derselben des desselben dessen dich die dies diese
dieselbe dieselben diesem diesen dieser dieses dir doch dort du durch ein eine einem einen einer eines einig
einige einigem einigen einiger einiges einmal er es etwas euch euer eure eurem euren eurer eures für gegen
gewesen hab habe haben hat hatte hatten hier hin hinter ich ihm ihn ihnen ihr ihre ihrem ihren ihrer ihres im
in indem ins ist jede jedem jeden jeder jedes jene jenem jenen jener jenes jetzt kann können könnte man
manche manchem manchen mancher manches mein meine meinem meinen meiner meines mich mir mit muss musste nach
nun nur ob oder ihm sehr sein seine seinem seinen seiner seines selbst sich sie sind so solche solchem solchen
solcher solches soll sollte sondern sonst über um und uns unsere unserem unseren unser unserer unseres unter
viel vom von vor während war waren warst was weg weil weiter welche welchem welchen welcher welches wenn werde
werden wie wieder will wir wird wirst wo wollen wollte würde würden zu zum zur zwar zwischen hallo bitte danke
guten tag schon mal gerne
"""
# A curated Turkish stop list (function words, particles, pronouns), leaving out negation
# (değil, yok, hiç) for the same reason.
_STOP_TR = """
acaba ama ancak artık aslında az bana bazı belki ben beni benim beri bile bir biraz birkaç birşey biz bize bizi
bizim bu buna bunda bundan bunlar bunları bunların bunu bunun burada çok çünkü da daha de defa diye eğer en gibi
göre hem hep hepsi her hiçbir için ile ise işte kadar ki kim kimse mi mı mu mü nasıl ne neden nerde nerede
nereye niçin niye o olan olarak oldu olduğu olsun on ona ondan onlar onlara onları onların onu onun orada öyle
sen sana seni senin siz size sizi sizin şey şu şuna şunu tüm ve veya ya yani merhaba lütfen teşekkürler rica
ederim iyi günler selam acil hala hâlâ
"""


# -- case folding ---------------------------------------------------------------------------------
def fold(text: str, lang: str = "en") -> str:
    """Lower case as `lang` writes it: Turkish dotted/dotless i, German ß and umlauts transliterated.

    >>> fold("KARTIMI İADE", "tr"), fold("Rückgabe", "de") == fold("RUECKGABE", "de")
    ('kartımı iade', True)
    """
    text = unicodedata.normalize("NFC", text)
    if lang in _TURKIC:
        return text.replace("I", "ı").replace("İ", "i").lower()
    if lang == "de":
        return text.casefold().translate(_DE_TRANSLIT)
    return text.casefold()


def plain(term: str) -> str:
    """A folded term in plain letters: marks removed (ş -> s, é -> e, ü -> u), ı -> i, ß -> ss."""
    decomposed = unicodedata.normalize("NFKD", term.translate(_PLAIN))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


# -- tokens and stopwords -------------------------------------------------------------------------
def tokenize(text: str, lang: str = "en") -> list[str]:
    """Folded words of `text`, in order (numbers and codes included)."""
    out = []
    for w in _WORD.findall(fold(text, lang)):
        if lang in _TURKIC and ("'" in w or "’" in w):
            w = re.split(r"['’]", w, maxsplit=1)[0]  # Trendyol'dan -> trendyol
        out.append(w)
    return out


@lru_cache(maxsize=32)
def stopwords(lang: str) -> frozenset[str]:
    """Folded stopwords of `lang` (empty for a language without a list)."""
    raw = {"en": STOP_EN, "de": _STOP_DE, "tr": _STOP_TR}.get(lang, "")
    return frozenset(fold(w, lang) for w in raw.split())


# -- stemming -------------------------------------------------------------------------------------
_LOCAL = threading.local()


def has_stemmer(lang: str) -> bool:
    return lang in SNOWBALL


def _stemmer(lang: str):
    cache = getattr(_LOCAL, "stemmers", None)
    if cache is None:
        cache = _LOCAL.stemmers = {}
    if lang not in cache:
        try:
            import Stemmer
        except ImportError:
            raise ConfigError("The Snowball stemmers are not installed", hint="pip install PyStemmer") from None
        cache[lang] = Stemmer.Stemmer(SNOWBALL[lang]) if lang in SNOWBALL else None
    return cache[lang]


def stem(tokens: Sequence[str], lang: str = "en") -> list[str]:
    """Snowball stems of folded tokens; tokens with digits, and languages without a stemmer, unchanged."""
    stemmer = _stemmer(lang)
    if stemmer is None:
        return list(tokens)
    words = [t for t in tokens if not any(c.isdigit() for c in t)]
    stems = dict(zip(words, stemmer.stemWords(words), strict=True)) if words else {}
    return [stems.get(t, t) for t in tokens]


# -- analyzers ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Analyzer:
    """Text -> index terms for one language: tokenize (folded), drop stopwords, stem, plain letters.

    The same analyzer must be used for a text when it is indexed and for a query searched against
    it; `query_terms` is `terms` without repeats (and, for a query of nothing but stopwords,
    the stopwords themselves, so that "wie geht das" still finds something).
    """

    lang: str
    max_term_chars: int = 40

    def terms(self, text: str, *, keep_stopwords: bool = False) -> list[str]:
        toks = [t for t in tokenize(text, self.lang) if len(t) <= self.max_term_chars]
        if not keep_stopwords:
            stop = stopwords(self.lang)
            toks = [t for t in toks if t not in stop]
        return [plain(t) for t in stem(toks, self.lang)]

    def index_text(self, text: str) -> str:
        """The terms joined by spaces: what an FTS5 column with a plain tokenizer should hold."""
        return " ".join(self.terms(text))

    def query_terms(self, text: str) -> list[str]:
        terms = list(dict.fromkeys(self.terms(text)))
        return terms or list(dict.fromkeys(self.terms(text, keep_stopwords=True)))


def get_analyzer(lang: str) -> Analyzer:
    """The analyzer of a language (one per process). Unknown languages get folding and no stemming."""
    return _analyzer(normalize_code(lang) or "en")


@lru_cache(maxsize=64)
def _analyzer(code: str) -> Analyzer:
    return Analyzer(code)


# -- detection ------------------------------------------------------------------------------------
def normalize_code(code: str | None) -> str:
    """'DE', 'de-DE', 'de_AT', 'German' -> 'de'; '' for nothing."""
    if not code:
        return ""
    return _normalized(str(code))


@lru_cache(maxsize=512)
def _normalized(code: str) -> str:  # called for every candidate language of every query and document
    c = code.strip().lower().replace("_", "-").split("-")[0]
    return _NAMES.get(c, c)


_NAMES = {"english": "en", "german": "de", "deutsch": "de", "turkish": "tr", "türkçe": "tr", "turkce": "tr",
          "eng": "en", "deu": "de", "ger": "de", "tur": "tr"}
_DETECT_LOCK = threading.Lock()
MIN_CONFIDENCE = 0.6  # below this the text is ambiguous between the candidate languages
MIN_LETTERS = 4


# From this many characters lingua's low-accuracy mode (trigrams only) detects as well as the full one
# (its documentation; the same language for all 509 sample documents in English, German and Turkish)
# and loads its models in 0.1 s instead of 0.9 s: every `deskbook index` run paid that second.
LOW_ACCURACY_FROM = 120


@lru_cache(maxsize=16)
def _detector(languages: tuple[str, ...], low_accuracy: bool = False):
    try:
        from lingua import IsoCode639_1, LanguageDetectorBuilder
    except ImportError:
        raise ConfigError("Language detection needs lingua-language-detector",
                          hint="pip install lingua-language-detector") from None
    codes = []
    for lang in languages:
        iso = getattr(IsoCode639_1, lang.upper(), None)
        if iso is None:
            raise ConfigError(f"Unknown language code {lang!r}", hint="use ISO 639-1 codes such as en, de, tr",
                              field="languages")
        codes.append(iso)
    if len(codes) < 2:
        return None
    builder = LanguageDetectorBuilder.from_iso_codes_639_1(*codes)
    return (builder.with_low_accuracy_mode() if low_accuracy else builder).build()


_SURROGATES = re.compile("[\ud800-\udfff]")


# A short query is read by the low-accuracy detector first (trigrams: its models load in 0.08 s) and
# taken from it only when it is this sure; otherwise by the full one (1.4-1.6 s to load English, German
# and Turkish, most of a cold `deskbook search`). Over the 662 English, German and Turkish questions of
# corpus/eval the quick reading was this sure for 598, never of a language the full detector left out,
# and for 6 it gave one language where the full one gave two ("do you sell train tickets": en, not en+de).
QUICK_SURE = 0.99


def language_confidences(text: str, languages: Iterable[str] = DEFAULT_LANGUAGES, *,
                         low_accuracy: bool | None = None) -> list[tuple[str, float]]:
    """(language, confidence) for each candidate language, most likely first; confidences add up to 1.
    `low_accuracy`: trigrams only (None: from `LOW_ACCURACY_FROM` characters, where it is as good)."""
    langs = tuple(dict.fromkeys(normalize_code(x) for x in languages if normalize_code(x)))
    if not langs:
        return []
    text = _SURROGATES.sub(" ", text[:5000])  # lone surrogates (undecodable bytes) cannot cross into lingua
    detector = _detector(langs, len(text) >= LOW_ACCURACY_FROM if low_accuracy is None else low_accuracy)
    if detector is None:
        return [(langs[0], 1.0)]
    with _DETECT_LOCK:  # lingua loads its models lazily on first use
        values = detector.compute_language_confidence_values(text)
    return [(v.language.iso_code_639_1.name.lower(), float(v.value)) for v in values]


def detect_language(text: str, languages: Iterable[str] = DEFAULT_LANGUAGES, *, default: str = "en",
                    min_confidence: float = MIN_CONFIDENCE) -> str:
    """The language of `text` among `languages`; `default` when it is too short or ambiguous."""
    langs = tuple(languages)
    if sum(1 for c in text if c.isalpha()) < MIN_LETTERS:
        return default
    ranked = language_confidences(text, langs)
    if not ranked or ranked[0][1] < min_confidence:
        return default
    return ranked[0][0]


def document_language(doc, languages: Iterable[str] = DEFAULT_LANGUAGES, *, default: str = "en") -> str:
    """A document's language: its `language` field (front matter, ticket column) wins, else detected
    from its title and the start of its body (duck-typed: anything with .title, .body, .metadata)."""
    given = normalize_code((getattr(doc, "metadata", None) or {}).get("language"))
    if given:
        return given
    text = f"{getattr(doc, 'title', '')}\n{getattr(doc, 'body', '')[:3000]}"
    return detect_language(text, languages, default=default)


def likely_languages(text: str, languages: Iterable[str] = DEFAULT_LANGUAGES, *, default: str = "en",
                     min_share: float = 0.2, sure: float = 0.9) -> list[str]:
    """The languages a short query may be in: the detected one when its confidence is at least `sure`,
    else every candidate holding at least `min_share` of the confidence ("Paket" is German or Turkish;
    "quokka-tangerine" is 0.65 German). A lexical search can analyse the query with each and search all
    their terms."""
    if sum(1 for c in text if c.isalpha()) < MIN_LETTERS:
        return [default]
    if len(text) < LOW_ACCURACY_FROM:
        quick = language_confidences(text, tuple(languages), low_accuracy=True)
        if quick and quick[0][1] >= max(sure, QUICK_SURE):
            return [quick[0][0]]
    ranked = language_confidences(text, tuple(languages))  # once: the detector is most of a query's reading
    if ranked and ranked[0][1] >= sure:
        return [ranked[0][0]]
    return [code for code, share in ranked if share >= min_share] or [default]
