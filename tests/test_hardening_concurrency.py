"""Races against a real server: the app on waitress on loopback, requests from real threads at once.

Two managers marking one SOP reviewed at the same moment both succeed with distinct versions (no 500
from a duplicate version number), and of many saves based on the same version exactly one wins and
every other is refused with 409, nothing lost and nothing half-written.
"""

from __future__ import annotations

import threading

import pytest
import requests

from tests.web_fixtures import *  # noqa: F403
from tests.web_fixtures import served_in_thread


@pytest.fixture(scope="module")
def server(app):
    with served_in_thread(app, threads=8) as url:
        yield url


def _at_once(n: int, fn) -> list:
    barrier = threading.Barrier(n)
    out: list = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        out[i] = fn(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return out


def test_two_concurrent_mark_reviewed_both_succeed(server, tokens, app):
    h = {"Authorization": f"Bearer {tokens['manager']}"}
    before = app.extensions["deskbook"].store.get_document("sop-returns").version
    dates = ["2031-03-01", "2031-04-01"]
    results = _at_once(2, lambda i: requests.post(f"{server}/api/v1/sops/sop-returns/review", headers=h,
                                                  json={"review_by": dates[i]}, timeout=60))
    assert [r.status_code for r in results] == [200, 200], [r.text for r in results]
    versions = app.extensions["deskbook"].store.document_versions("sop-returns")
    assert sorted(v["version"] for v in versions)[-2:] == [before + 1, before + 2]
    assert app.extensions["deskbook"].store.get_document("sop-returns").review_by in dates


def test_same_base_edit_race_keeps_one_and_refuses_the_others(server, tokens, app):
    h = {"Authorization": f"Bearer {tokens['manager']}"}
    doc = requests.get(f"{server}/api/v1/documents/sop-promo-codes", headers=h, timeout=60).json()
    n = 6
    results = _at_once(n, lambda i: requests.put(
        f"{server}/api/v1/sops/sop-promo-codes", headers=h, timeout=120,
        json={"body": doc["body"] + f"\nEdit number {i}.\n", "base_version": doc["version"]}))
    codes = sorted(r.status_code for r in results)
    assert codes == [200] + [409] * (n - 1), [r.text[:200] for r in results]
    winner = next(i for i, r in enumerate(results) if r.status_code == 200)
    now = app.extensions["deskbook"].store.get_document("sop-promo-codes")
    assert now.version == doc["version"] + 1 and f"Edit number {winner}." in now.body
    assert all(r.json()["error"]["code"] == "conflict" for r in results if r.status_code == 409)
