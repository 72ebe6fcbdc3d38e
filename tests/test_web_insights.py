"""Insights pages: content gaps, ticket coverage and SOP health for managers; the QA dashboard for
analysts and managers. Each shows its SVG charts with a table and offers its table as CSV."""

from __future__ import annotations

import csv
import io

import pytest

from tests.web_fixtures import *  # noqa: F403

MANAGER_PAGES = {
    "/manager/insights/gaps": "Content gaps",
    "/manager/insights/tickets": "Ticket coverage",
    "/manager/insights/health": "SOP health",
}
QA_PAGE = "/insights/qa"
CSV_URLS = {
    "/manager/insights/gaps.csv": "rank",
    "/manager/insights/tickets.csv": "rank",
    "/manager/insights/health.csv?table=stale": "issue",
    "/manager/insights/health.csv?table=duplicates": "similarity",
    "/manager/insights/health.csv?table=contradictions": "a",
    "/insights/qa.csv?table=criteria": "rubric",
    "/insights/qa.csv?table=agents": "agent",
}


@pytest.mark.parametrize("url,heading", [*MANAGER_PAGES.items(), (QA_PAGE, "QA dashboard")])
def test_page_renders_for_a_manager(clients, url, heading):
    resp = clients["manager"].get(url)
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    html = resp.get_data(as_text=True)
    assert f"<h1>{heading}</h1>" in html
    assert "<table" in html
    assert "Download CSV" in html and ".csv" in html
    assert "<script>" not in html.split("<main", 1)[1]  # server-rendered, no inline script


@pytest.mark.parametrize("url", [*MANAGER_PAGES, QA_PAGE, *CSV_URLS])
def test_agents_are_refused(clients, url):
    assert clients["agent"].get(url).status_code == 403


def test_analyst_sees_the_qa_dashboard_but_not_the_manager_reports(clients):
    resp = clients["analyst"].get(QA_PAGE)
    assert resp.status_code == 200
    assert "<h1>QA dashboard</h1>" in resp.get_data(as_text=True)
    assert clients["analyst"].get("/insights/qa.csv").status_code == 200
    for url in MANAGER_PAGES:
        assert clients["analyst"].get(url).status_code == 403


def test_nav_links(clients):
    manager = clients["manager"].get("/manager/sops").get_data(as_text=True)
    assert 'href="/manager/insights/gaps"' in manager and 'href="/insights/qa"' in manager
    analyst = clients["analyst"].get("/qa/").get_data(as_text=True)
    assert 'href="/insights/qa"' in analyst and "/manager/insights" not in analyst
    agent = clients["agent"].get("/").get_data(as_text=True)
    assert "/manager/insights" not in agent and 'href="/insights/qa"' not in agent


def test_charts_are_inline_svg_with_a_table(clients):
    html = clients["manager"].get("/manager/insights/tickets").get_data(as_text=True)
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in html
    assert 'class="chart-panel"' in html and "(data)</caption>" in html
    html = clients["analyst"].get(QA_PAGE).get_data(as_text=True)
    assert html.count('<svg xmlns="http://www.w3.org/2000/svg"') >= 3


@pytest.mark.parametrize("url,first_column", CSV_URLS.items())
def test_csv_export(clients, url, first_column):
    resp = clients["manager"].get(url)
    assert resp.status_code == 200
    assert resp.mimetype == "text/csv"
    assert "attachment" in resp.headers["Content-Disposition"]
    header = next(csv.reader(io.StringIO(resp.get_data(as_text=True))))  # a header row, even with no rows
    assert header[0] == first_column


def test_gaps_csv_has_a_header_row_when_there_are_groups(clients):
    """Failed searches make a gap group; its CSV has the report's columns and one row per group."""
    m = clients["manager"]
    for q in ("how do I ship a llama overseas", "shipping a llama abroad", "llama shipping overseas rules",
              "can we ship live llamas internationally", "llama export shipping"):
        for c in ("agent", "analyst", "manager"):
            clients[c].get(f"/api/v1/search?q={q}&mode=hybrid")
    rows = list(csv.DictReader(io.StringIO(m.get("/manager/insights/gaps.csv").get_data(as_text=True))))
    page = m.get("/manager/insights/gaps").get_data(as_text=True)
    assert 'id="gaps-table"' in page
    for r in rows:
        assert {"rank", "label", "agents", "size"} <= set(r)


def test_unknown_csv_table_is_404(clients):
    assert clients["manager"].get("/manager/insights/health.csv?table=nope").status_code == 404
    assert clients["manager"].get("/insights/qa.csv?table=nope").status_code == 404
