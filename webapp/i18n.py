"""The web app's languages: English, German and Turkish (Flask-Babel, catalogs in webapp/translations).

- The language of a request: the signed-in user's choice (the account page; `users.locale`), else
  the browser's Accept-Language, else English.
- Templates mark text with `_()` / `ngettext()` / `{% trans %}`; Python code with `gettext` /
  `lazy_gettext`; the scripts in static/ read their strings from a JSON block the base template
  writes (`js_strings`), so they need no build step.
- Dates and numbers: the filters `ldate`, `ldatetime`, `num` and `pct`. English keeps ISO dates
  (2026-11-29, as before: unambiguous for British and American readers); German and Turkish get
  their own (29.11.2026, 29 Kas 2026). The JSON API is not affected: it keeps ISO dates and plain numbers.

Messages that come from kb and qa_rubrics (the texts of their errors) stay English.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from flask import request
from flask_babel import (
    Babel,
    format_date,
    format_datetime,
    format_decimal,
    format_percent,
    get_locale,
    gettext,
)
from flask_babel import lazy_gettext as _l

LOCALES = ("en", "de", "tr")
LANGUAGE_NAMES = {"en": "English", "de": "Deutsch", "tr": "Türkçe"}  # each in its own language


def select_locale() -> str:
    """The user's own choice, else the browser's, else English."""
    from flask_login import current_user

    try:
        chosen = getattr(current_user, "locale", "") if current_user.is_authenticated else ""
    except Exception:  # noqa: BLE001 - no user context (a failed sign-in lookup): the browser decides
        chosen = ""
    if chosen in LOCALES:
        return chosen
    return request.accept_languages.best_match(LOCALES) or "en"


def current_locale() -> str:
    return str(get_locale() or "en")


def _parse(value: Any) -> date | datetime | None:
    if isinstance(value, (date, datetime)):
        return value
    text = str(value or "").strip()
    if not text:
        return None
    try:
        if len(text) <= 10:
            return date.fromisoformat(text)
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    except ValueError:
        return None


def ldate(value: Any, empty: str = "—") -> str:
    """A date (or the date of a timestamp) as the locale writes it: 2026-11-29, 29.11.2026, 29.11.2026."""
    d = _parse(value)
    if d is None:
        return str(value) if value else empty
    if isinstance(d, datetime):
        d = d.date()
    if current_locale() == "en":
        return d.isoformat()
    return format_date(d, "medium")


def ldatetime(value: Any, empty: str = "—") -> str:
    """A timestamp to the minute, in the locale's order (UTC, as stored)."""
    d = _parse(value)
    if d is None:
        return str(value) if value else empty
    if not isinstance(d, datetime):
        return ldate(d, empty)
    if current_locale() == "en":
        return d.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    return format_datetime(d, "dd.MM.yyyy HH:mm")


def num(value: Any, fmt: str | None = None) -> str:
    """A number with the locale's separators (1,234.5 / 1.234,5)."""
    if value is None or value == "":
        return "—"
    return format_decimal(value, format=fmt)


def pct(value: Any, fmt: str | None = None) -> str:
    """A fraction as a percentage the locale's way: 80%, 80 %, %80."""
    if value is None or value == "":
        return "—"
    return format_percent(value, format=fmt)


# The strings of webapp/static/*.js, handed to the page as JSON (base.html), keyed by their English.
JS_STRINGS = [
    _l("Helpful"), _l("Not helpful"), _l("✓ Helpful"), _l("✗ Not helpful"), _l("No confident answer."),
    _l("Closest procedures:"), _l("Closest past tickets:"), _l("Say to the customer"),
    _l("No procedure covers this yet: the answer rests on similar past tickets. Read how they were resolved "
       "(Sources) before answering."),
    _l("This part of the procedure has no wording to read out: explain it in your own words, following "
       "the checklist."),
    _l("Copy answer"), _l("Agent checklist"), _l("From past tickets"), _l("Sources"), _l("supports it"),
    _l("Copied ✓"), _l("Copy failed: select the text"), _l("Nothing to rate yet"), _l("Not recorded: "),
    _l("No SOP applies yet."), _l("New topic: "), _l("Could not refresh: "), _l("Updating suggestions…"),
    _l("Preview unavailable: "), _l("Open the results"), _l("done, {n} problem(s)"),
    _l("Type a question to get a suggested answer built from the published SOPs and past resolutions."),
    _l("The question is {n} characters long; search and answers read at most {max}. Describe the problem in "
       "a sentence or two, or paste only the customer's question."),
    _l("SOP"), _l("Ticket"), _l("draft"), _l("archived"), _l("ticket"),
    _l("customer"), _l("agent"), _l("{n} result in {ms} ms"), _l("{n} results in {ms} ms"),
    _l("No results. Try other words, or fewer filters."), _l("No suggested answer: "),
    _l("queued"), _l("running"), _l("done"), _l("failed"),
]


def js_strings() -> dict[str, str]:
    """The scripts' strings that read differently in the page's language (English: none)."""
    pairs = ((s._args[0], str(s)) for s in JS_STRINGS)
    return {english: shown for english, shown in pairs if shown != english}


def init_i18n(app) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", "en")
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "UTC")
    Babel(app, locale_selector=select_locale)
    app.jinja_env.filters.update(ldate=ldate, ldatetime=ldatetime, num=num, pct=pct, label=label)

    @app.context_processor
    def _i18n():
        return {"current_locale": current_locale(), "js_strings": js_strings, "LANGUAGE_NAMES": LANGUAGE_NAMES,
                "LOCALES": LOCALES}


# Words that are data (statuses, verdicts, roles, job states, speakers, channels, table columns) and are
# shown to people: `{{ value|label }}` gives the word in the page's language (unknown words: as they are,
# with _ as a space).
LABELS = {
    # SOP statuses, document types
    "published": _l("published"), "draft": _l("draft"), "archived": _l("archived"), "sop": _l("SOP"),
    "ticket": _l("ticket"),
    # verdicts, QA model states
    "pass": _l("pass"), "fail": _l("fail"), "na": _l("n/a"), "candidate": _l("candidate"),
    "adopted": _l("adopted"), "discarded": _l("discarded"), "superseded": _l("superseded"),
    # roles
    "agent": _l("agent"), "analyst": _l("analyst"), "manager": _l("manager"), "admin": _l("admin"),
    "customer": _l("customer"), "system": _l("system"),
    # job states
    "queued": _l("queued"), "running": _l("running"), "done": _l("done"), "failed": _l("failed"),
    # channels
    "phone": _l("phone"), "chat": _l("chat"), "email": _l("e-mail"), "social": _l("social media"),
    "messaging": _l("messaging"),
    # the QA dashboard's tables
    "criteria": _l("criteria"), "agents": _l("agents"), "teams": _l("teams"), "sops": _l("SOPs"),
    "rubrics": _l("rubrics"), "steps": _l("steps"),
    # columns of the insights tables
    "rank": _l("rank"), "label": _l("topic"), "size": _l("size"), "distinct_queries": _l("distinct queries"),
    "first_seen": _l("first seen"), "last_seen": _l("last seen"), "abstained": _l("no answer"),
    "low_score": _l("low score"), "no_results": _l("no results"), "not_helpful": _l("not helpful"),
    "closest_sop": _l("closest SOP"), "closest_sop_heading": _l("closest SOP section"),
    "closest_sop_similarity": _l("similarity to the closest SOP"), "representative": _l("example"),
    "tickets": _l("tickets"), "median_best_sop_similarity": _l("median similarity to the best SOP"),
    "issue": _l("issue"), "id": _l("id"), "title": _l("title"), "owner": _l("owner"), "status": _l("status"),
    "review_by": _l("review by"), "days_overdue": _l("days overdue"), "last_viewed": _l("last viewed"),
    "days_since_view": _l("days since last view"), "similarity": _l("similarity"), "a": "A", "b": "B",
    "a_heading": _l("section A"), "a_text": _l("text A"), "b_heading": _l("section B"), "b_text": _l("text B"),
    "a_sentence": _l("sentence A"), "b_sentence": _l("sentence B"), "differences": _l("differences"),
    "section_similarity": _l("section similarity"), "sentence_similarity": _l("sentence similarity"),
    "rubric": _l("rubric"), "criterion": _l("criterion"), "section": _l("section"), "method": _l("method"),
    "calls": _l("calls"), "passed": _l("passed"), "fail_rate": _l("fail rate"), "reviewed": _l("reviewed"),
    "agreement": _l("agreement"), "kappa": _l("kappa"), "flagged": _l("flagged"), "kappa_note": _l("kappa note"),
    "team": _l("team"), "mean_score": _l("mean score"), "median_score": _l("median score"),
    "pass_rate": _l("pass rate"), "number": _l("step"), "text": _l("text"), "counted": _l("counted"),
    "missed": _l("missed"), "miss_rate": _l("miss rate"), "from": _l("from"), "to": _l("to"),
    "count": _l("count"), "group": _l("group"), "key": _l("key"), "week": _l("week"), "overdue": _l("overdue"),
    "unopened": _l("not opened"),
}


# The titles and axis words of the insights charts (drawn by the insights package, in English): the
# pages show each chart's data table under its title in the page's language (the SVG stays English).
CHART_WORDS = [
    _l("Content gaps: distinct agents per topic"), _l("Content gaps: failed requests per week"),
    _l("Overdue SOP reviews"), _l("Score distribution"), _l("Mean score per week, by team"),
    _l("Most failed criteria (percent of calls where they applied)"),
    _l("Machine-human agreement (Cohen's kappa), lowest first"),
    _l("SOPs agents fail to follow (percent of calls where the SOP applied)"), _l("Uncovered tickets per proposed topic"),
    _l("requests"), _l("score (%)"), _l("fail %"), _l("days overdue"), _l("series"), _l("value"),
]


def label(value: Any) -> str:
    """A data word in the page's language: a known status, column or chart word; else as it is."""
    text = "" if value is None else str(value)
    found = LABELS.get(text, LABELS.get(text.replace(" ", "_")))
    if found is not None:
        return str(found)
    translated = gettext(text) if text else text
    return translated if translated != text else text.replace("_", " ")
