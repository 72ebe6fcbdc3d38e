"""Insights pages: the manager reports (content gaps, ticket coverage, SOP health) and the QA
dashboard, each with the server-rendered SVG charts of `kb.insights.charts`, a table beside each chart and a
CSV download of the report's main table (`rows()`).

The manager pages are routes of the `manager` blueprint (webapp/manager.py); the QA dashboard is
this module's `insights` blueprint, for analysts and managers. Reports are computed on request and
kept in a small in-process cache keyed by the store's state (vectors generation, query log, views,
documents, QA scorecards and reviews) and the day, so reloading a page is instant until something
changes.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import date
from typing import Any

from flask import Blueprint, Response, abort, render_template, request
from markupsafe import Markup

from kb.insights.charts import to_csv
from webapp.auth import guard_blueprint
from webapp.services import services

bp = Blueprint("insights", __name__, url_prefix="/insights")
guard_blueprint(bp, "insights")

_CACHE: OrderedDict[tuple, Any] = OrderedDict()
_LOCK = threading.Lock()
_MAX = 32

def store_state(store) -> tuple:
    """A cheap fingerprint of what the reports read; any write that matters changes it."""
    return (*store.activity_state(), date.today().isoformat())


def cached(name: str, build: Callable[[], Any]) -> Any:
    """`build()`, or the report built before for the same name and store state."""
    svc = services()
    key = (id(svc), name, store_state(svc.store))
    with _LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    report = build()
    with _LOCK:
        _CACHE[key] = report
        while len(_CACHE) > _MAX:
            _CACHE.popitem(last=False)
    return report


def chart_panels(report) -> list[dict[str, Any]]:
    """Each chart of a report as {title, svg (Markup), columns, rows}. kb.insights.charts XML-escapes every label,
    so the SVG is marked safe as it is."""
    charts = report.charts() if hasattr(report, "charts") else []
    return [{"title": c.title, "svg": Markup(c.svg), "columns": c.columns, "rows": c.rows} for c in charts]


def _fields(cls, skip: tuple[str, ...] = ()) -> list[str]:
    return [f.name for f in dataclasses.fields(cls) if f.name not in skip]


def _default_columns() -> dict[str, list[str]]:
    """Each table's columns, for the header row of an empty table (a non-empty one takes its rows' keys)."""
    from kb.insights.health import StaleSop
    from kb.insights.qa import CriterionStats, StepStats

    stats = ["calls", "mean_score", "median_score", "pass_rate"]
    return {
        "gaps": ["rank", "label", "agents", "size", "distinct_queries", "first_seen", "last_seen", "abstained",
                 "low_score", "no_results", "not_helpful", "closest_sop", "closest_sop_heading",
                 "closest_sop_similarity", "representative"],
        "tickets": ["rank", "label", "tickets", "first_seen", "last_seen", "median_best_sop_similarity",
                    "closest_sop", "closest_sop_similarity", "representative"],
        "stale": ["issue", *_fields(StaleSop)],
        "duplicates": ["similarity", "a", "a_heading", "a_text", "b", "b_heading", "b_text"],
        "contradictions": ["a", "a_heading", "a_sentence", "b", "b_heading", "b_sentence", "differences",
                           "section_similarity", "sentence_similarity"],
        "qa-criteria": _fields(CriterionStats, ("trend",)),
        "qa-agents": ["agent", *stats, "team"],
        "qa-teams": ["team", *stats],
        "qa-rubrics": ["rubric", *stats],
        "qa-sops": ["sop", "title", "calls", "failed", "fail_rate", "criteria"],
        "qa-steps": ["sop", *_fields(StepStats)],
        "qa-histogram": ["from", "to", "count"],
        "qa-trend": ["group", "key", "week", "calls", "mean_score"],
    }


def columns_of(rows: list[dict[str, Any]], table: str) -> list[str]:
    """The table's columns: its rows' keys, or (no rows) the known columns of that table."""
    return list(rows[0].keys()) if rows else _default_columns().get(table, [])


def csv_response(rows: list[dict[str, Any]], table: str, filename: str) -> Response:
    """The rows as a CSV download; always with a header row."""
    return Response(to_csv(rows, columns_of(rows, table)), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename={filename}"})


# -- the manager reports (routes in webapp/manager.py) ----------------------------------------------
def gaps_report():
    from kb.insights.gaps import content_gaps

    svc = services()
    return cached("gaps", lambda: content_gaps(svc.store, svc.config, embedder=svc.embedder))


def tickets_report():
    from kb.insights.tickets import ticket_coverage

    svc = services()
    return cached("tickets", lambda: ticket_coverage(svc.store, svc.config))


def health_reports() -> dict[str, Any]:
    from kb.insights.health import contradictions, near_duplicates, stale_sops

    svc = services()
    return {"stale": stale_sops(svc.store, svc.config),
            "duplicates": cached("duplicates", lambda: near_duplicates(svc.store, svc.config)),
            "contradictions": cached("contradictions",
                                     lambda: contradictions(svc.store, svc.config, embedder=svc.embedder))}


# -- the QA dashboard (analysts and managers) ---------------------------------------------------------
QA_TABLES = ("criteria", "agents", "teams", "rubrics", "sops", "steps", "histogram", "trend")


def qa_report():
    from kb.insights.qa import qa_dashboard

    svc = services()
    return cached("qa", lambda: qa_dashboard(svc.store, svc.config))


@bp.route("/qa")
def qa_page():
    dash = qa_report()
    tables = dash.tables()
    shown = [(name, tables[name], columns_of(tables[name], f"qa-{name}")) for name in ("criteria", "agents", "teams", "sops")]
    return render_template("insights/qa.html", dash=dash, panels=chart_panels(dash), tables=shown)


@bp.route("/qa.csv")
def qa_csv():
    table = request.args.get("table", "criteria")
    if table not in QA_TABLES:
        abort(404)
    return csv_response(qa_report().rows(table), f"qa-{table}", f"deskbook-qa-{table}.csv")
