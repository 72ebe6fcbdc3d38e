"""Person names from lists, for text a name model reads badly: search queries and chat lines
("priya sharma refund", "Anna Schmidt Paket"), and languages the NER model was not trained on.

The lists (`kb/data/given_names.txt`, `kb/data/surnames.txt`, about 13,600 given names and 16,800
surnames in the languages of European contact centres and their customers) are generated once by
`scripts/make_names.py` from Faker's name providers; names that are also ordinary words ("will",
"grace", "mark", Turkish "can") are flagged there.

`list_names(text, mode)` finds:

- a given name followed by a surname or another given name, in any case ("priya sharma",
  "Anna Schmidt", "Mehmet Öztürk"): in every mode;
- a given name followed by a capitalised word that is not an ordinary word ("Zeynep Yılmaz");
- a capitalised given name alone that is not an ordinary word, a month or a place ("Thanks,
  Tomasz", "Amara's order"); in `"query"` mode in any case ("refund for mohammed"), as short
  queries and chat lines give a name model no context and their writers rarely capitalise.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

from kb.text import STOPWORDS, fold

_DATA = Path(__file__).resolve().parent / "data"
_WORD = re.compile(r"[^\W\d_][\w'’-]*", re.UNICODE)
# Words that start many queries and chat lines and happen to be names somewhere.
_NEVER_ALONE = frozenset("""
hi hello hey dear thanks thank cheers yes no ok okay please sorry order refund return parcel delivery
account card payment help customer agent team support store shop day week month per theres bitten rica
jan feb mar apr may jun june jul july aug sep sept oct nov dec january february march april august september
october november december januar februar märz mai juni juli oktober dezember ocak şubat mart nisan mayıs haziran
temmuz ağustos eylül ekim kasım aralık monday tuesday wednesday thursday friday saturday sunday montag dienstag
mittwoch donnerstag freitag samstag sonntag pazartesi salı çarşamba perşembe cuma cumartesi pazar
america europe asia africa india china london paris berlin istanbul ankara dublin chelsea victoria jordan georgia
""".split())


@lru_cache(maxsize=1)
def _lists() -> tuple[dict[str, bool], dict[str, bool]]:
    """(given names, surnames): folded name -> True when it is also an ordinary word."""
    def read(name: str) -> dict[str, bool]:
        out: dict[str, bool] = {}
        for line in (_DATA / name).read_text(encoding="utf-8").splitlines():
            if line and not line.startswith("#"):
                common = line.startswith("*")
                out[line.lstrip("*")] = common
        return out

    return read("given_names.txt"), read("surnames.txt")


def _key(word: str) -> str:
    w = word
    for suffix in ("'s", "’s"):
        if w.lower().endswith(suffix):
            w = w[:-2]
    return fold(w)


def _plain(word: str) -> str:
    """The word without a possessive ending."""
    return word[:-2] if word.lower().endswith(("'s", "’s")) else word


_TITLES = frozenset(fold(t) for t in """
mr mrs ms miss mx dr prof sir madam herr frau fräulein dr. bay bayan sayın
""".split())


def list_names(text: str, mode: str = "text") -> Iterator[tuple[int, int]]:
    """(start, end) of person names found with the lists; see the module docstring for `mode`."""
    given, surnames = _lists()
    words = list(_WORD.finditer(text))
    i = 0
    while i < len(words):
        m = words[i]
        key = _key(m.group())
        nxt = words[i + 1] if i + 1 < len(words) else None
        gap = text[m.end():nxt.start()] if nxt is not None else ""
        possessive = m.group().lower().endswith(("'s", "’s"))
        nkey = _key(nxt.group()) if nxt is not None else ""
        usable = (nxt is not None and not possessive and nkey not in STOPWORDS and nkey not in _NEVER_ALONE
                  and len(nkey) > 1)
        if key in _TITLES and usable and gap in (" ", ". ") and (
                nkey in surnames or nkey in given or nxt.group()[:1].isupper()):
            yield nxt.start(), nxt.start() + len(_plain(nxt.group()))  # "Mrs Patel", "Herr Müller"
            i += 2
            continue
        g = given.get(key)
        if g is None or key in STOPWORDS or key in _NEVER_ALONE or (m.group().isupper() and len(key) > 1):
            i += 1
            continue
        if usable and gap in (" ", "-"):
            capitals = m.group()[:1].isupper() and nxt.group()[:1].isupper()
            if nkey in surnames or nkey in given:
                # "Royal Mail", "Grace period" are words; "Jonas said" is a name and a word
                n_word = _ordinary(nkey)
                pair = mode == "query" or (not (g and n_word) and (capitals or not n_word))
            else:  # "Zeynep Yılmaz": a distinctive given name and a capitalised unknown word
                pair = capitals and not g and len(nkey) > 2
            if pair:
                yield m.start(), m.start() + len(_plain(text[m.start():nxt.end()]))
                i += 2
                continue
        if not g and (mode == "query" or m.group()[:1].isupper()):
            yield m.start(), m.start() + len(_plain(m.group()))
        i += 1


def _ordinary(key: str) -> bool:
    given, surnames = _lists()
    return bool(given.get(key) or surnames.get(key))
