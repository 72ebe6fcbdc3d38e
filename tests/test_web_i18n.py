"""The web app in German and Turkish: every marked string has a translation (the catalogs are walked
against what the sources mark today), every page renders in both languages with no English left in
its chrome, the profile's language beats the browser's, and dates and numbers follow the locale."""

from __future__ import annotations

import html as htmllib
import re
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po

from tests.web_fixtures import *  # noqa: F403

WEBAPP = Path(__file__).resolve().parent.parent / "webapp"
LANGS = ("de", "tr")
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|\{\w+\}")
# Pages with a query string worth seeing too (results, the suggested answer, a matched passage).
EXTRA_PAGES = ["/?q=refund+to+a+gift+card", "/doc/sop-refunds?q=refund",
               "/manager/sops/sop-refunds/diff?a=1&b=1"]


def source_messages() -> dict[str, str | tuple[str, ...]]:
    """What the sources mark for translation now (the same extraction as scripts/i18n.sh)."""
    keywords = dict(DEFAULT_KEYWORDS) | {"_l": None, "lazy_gettext": None}
    found = {}
    for _file, _line, msg, _comments, _ctx in extract_from_dir(
            str(WEBAPP), [("**.py", "python"), ("templates/**.html", "jinja2")], keywords=keywords):
        key = msg[0] if isinstance(msg, tuple) else msg
        if key:
            found[key] = msg
    return found


def catalog(lang: str):
    with open(WEBAPP / "translations" / lang / "LC_MESSAGES" / "messages.po", "rb") as f:
        return read_po(f, locale=lang)


@pytest.fixture(scope="module")
def catalogs():
    return {lang: catalog(lang) for lang in LANGS}


@pytest.mark.parametrize("lang", LANGS)
def test_every_marked_string_has_a_translation(lang, catalogs):
    cat = catalogs[lang]
    wanted = source_messages()
    assert len(wanted) > 300
    problems = []
    for key, msg in wanted.items():
        m = cat.get(key)
        if m is None:
            problems.append(f"missing: {key!r}")
            continue
        if m.fuzzy:
            problems.append(f"fuzzy: {key!r}")
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        if not all(s and s.strip() for s in strings):
            problems.append(f"empty: {key!r}")
            continue
        ids = msg if isinstance(msg, tuple) else (msg,)
        want = {p for i in ids for p in PLACEHOLDER.findall(i)}
        for s in strings:
            if set(PLACEHOLDER.findall(s)) != want:
                problems.append(f"placeholders differ: {key!r} -> {s!r}")
        ids_text = " ".join(ids)
        if any(s.count('"') > ids_text.count('"') for s in strings):
            problems.append(f'a straight " that the English has not (breaks an attribute): {key!r}')
        if isinstance(msg, tuple) != isinstance(m.id, tuple):
            problems.append(f"plural form differs: {key!r}")
    assert not problems, "\n".join(problems[:40])


@pytest.mark.parametrize("lang", LANGS)
def test_catalogs_pass_the_compilers_checks(lang, catalogs):
    """What `pybabel compile` (run by scripts/setup.sh) checks: placeholders of python-format messages."""
    problems = [(m.id, [str(e) for e in errors]) for m, errors in catalogs[lang].check()]
    assert problems == []


def test_compiled_catalogs_are_not_older_than_their_sources():
    """The .mo files are committed (a clean clone needs no compile step): they must match the .po."""
    from babel.messages.mofile import read_mo

    for lang in LANGS:
        with open(WEBAPP / "translations" / lang / "LC_MESSAGES" / "messages.mo", "rb") as f:
            mo = read_mo(f)
        po = catalog(lang)
        def pairs(cat):
            return {(m.id if isinstance(m.id, str) else tuple(m.id)):
                    (m.string if isinstance(m.string, str) else tuple(m.string)) for m in cat if m.id}

        assert pairs(mo) == pairs(po), f"run scripts/i18n.sh compile ({lang})"


def visible_text(page: str) -> str:
    """The text a person sees or hears: tag-free text, and placeholder / title / aria-label values.
    Scripts, the JSON strings block and chart SVGs (labels drawn by insights, English) are left out."""
    page = re.sub(r"(?is)<(script|style|svg)\b.*?</\1>", " ", page)
    attrs = re.findall(r'(?:placeholder|title|aria-label)="([^"]*)"', page)
    text = re.sub(r"(?s)<[^>]+>", " ", page)
    return htmllib.unescape(" ".join([text, *attrs]))


def english_leftovers(text: str, cat) -> list[str]:
    found = []
    for m in cat:
        if not m.id or isinstance(m.id, tuple) or PLACEHOLDER.search(m.id) or "<" in m.id:
            continue
        if len(m.id) >= 12 and m.string and m.string != m.id and m.id in text:
            found.append(m.id)
    return found


def get_pages(app):
    from tests.test_web_auth import _routes, _url

    urls = []
    for rule, method in _routes(app):
        if method != "GET" or rule.endpoint.startswith("api.") or rule.endpoint in ("static", "healthz") \
                or rule.endpoint.endswith("_csv") or rule.endpoint in ("analyst.export", "auth.logout"):
            continue
        urls.append(_url(app, rule))
    return sorted(set(urls)) + EXTRA_PAGES


@pytest.mark.parametrize("lang", LANGS)
def test_every_page_renders_in_the_language_with_no_english_left(lang, app, clients, catalogs):
    admin = clients["admin"]
    pages = get_pages(app)
    assert len(pages) > 15
    problems = []
    for url in pages:
        english = admin.get(url, headers={"Accept-Language": "en"})
        resp = admin.get(url, headers={"Accept-Language": f"{lang},en;q=0.5"})
        if resp.status_code != english.status_code:
            problems.append(f"{url}: {resp.status_code}, in English {english.status_code}")
            continue
        if url in EXTRA_PAGES:
            assert resp.status_code == 200, url
        if resp.status_code != 200 or resp.mimetype != "text/html":
            continue  # a redirect (/login when signed in, /assist to a new conversation ...) or a file
        page = resp.get_data(as_text=True)
        if f'<html lang="{lang}">' not in page:
            problems.append(f"{url}: no <html lang={lang}>")
        left = english_leftovers(visible_text(page), catalogs[lang])
        if left:
            problems.append(f"{url}: English left: {left}")
    assert not problems, "\n".join(problems)


def test_the_sign_in_page_follows_the_browser(app):
    c = app.test_client()
    assert '<html lang="en">' in c.get("/login").get_data(as_text=True)
    assert '<html lang="en">' in c.get("/login", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    de = c.get("/login", headers={"Accept-Language": "de-DE,de;q=0.9,en;q=0.8"}).get_data(as_text=True)
    assert '<html lang="de">' in de and "Anmelden" in de and "Benutzername" in de
    tr = c.get("/login", headers={"Accept-Language": "tr-TR"}).get_data(as_text=True)
    assert '<html lang="tr">' in tr and "Oturum aç" in tr and "Kullanıcı adı" in tr


def test_the_profile_language_beats_the_browser(clients):
    agent = clients["agent"]
    page = agent.get("/account/tokens", headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert '<html lang="de">' in page and "Automatisch (Browser)" in page and 'value="" selected' in page
    try:
        resp = agent.post("/account/language", data={"locale": "tr"}, headers={"Accept-Language": "de"})
        assert resp.status_code == 302
        page = agent.get("/account/tokens", headers={"Accept-Language": "de"}).get_data(as_text=True)
        assert '<html lang="tr">' in page and "Dil kaydedildi." in page and 'value="tr" lang="tr" selected' in page
        search = agent.get("/", headers={"Accept-Language": "de"}).get_data(as_text=True)
        assert '<html lang="tr">' in search and "Önerilen yanıt" in search
        assert agent.post("/account/language", data={"locale": "xx"}).status_code == 400
        # the JSON API keeps its English error messages and ISO dates
        api = agent.api("GET", "/api/v1/search?q=refund")
        assert api.status_code == 200
    finally:
        agent.post("/account/language", data={"locale": ""})
    page = agent.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert '<html lang="en">' in page and "Suggested answer" in page


def test_dates_and_numbers_follow_the_locale(app, clients):
    from webapp.i18n import ldate, ldatetime, num, pct

    expected = {
        "en": ("2026-11-29", "2026-11-29 13:31", "1,234.5", "80%"),
        "de": ("29.11.2026", "29.11.2026 13:31", "1.234,5", "80\u00a0%"),
        "tr": ("29 Kas 2026", "29.11.2026 13:31", "1.234,5", "%80"),
    }
    for lang, (d, dt, n, p) in expected.items():
        with app.test_request_context(headers={"Accept-Language": lang}):
            assert (ldate("2026-11-29"), ldatetime("2026-11-29T13:31:05Z"), num(1234.5), pct(0.8)) == (d, dt, n, p)

    manager = clients["manager"]
    sop = manager.api("GET", "/api/v1/documents/sop-refunds").get_json()
    review_by = sop["review_by"]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", review_by)  # the API keeps ISO dates
    y, m, dd = review_by.split("-")
    page = manager.get("/manager/sops", headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert f"{dd}.{m}.{y}" in page and review_by not in visible_text(page)
    assert review_by in manager.get("/manager/sops", headers={"Accept-Language": "en"}).get_data(as_text=True)
    # the answer's confidence is a percentage written the locale's way
    de = manager.get("/?q=refund+to+a+gift+card", headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert re.search(r"Sicherheit \d+\u00a0%", de)
    tr = manager.get("/?q=refund+to+a+gift+card", headers={"Accept-Language": "tr"}).get_data(as_text=True)
    assert re.search(r"Güven %\d+", tr)
