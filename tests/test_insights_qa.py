"""The QA dashboard against a hand computation on six scored and reviewed calls.

Scorecards are written through the QA store API (`save_scorecard` / `add_review`), as
`deskbook qa score --store` and the review page write them. The expected numbers below are worked
out by hand in the comments.
"""

from __future__ import annotations

import csv
import io
import json
from xml.etree import ElementTree

import pytest
from click.testing import CliRunner

from kb.config import load_config
from kb.insights.qa import qa_dashboard
from kb.storage import open_store

P, F, N = "pass", "fail", "na"
CRITERIA = ("greet", "verify", "follow_sop", "close")


def sop_detail(sop: str, found: list[bool]) -> dict:
    return {"sop": sop, "title": sop.replace("-", " "), "found_by": "search",
            "steps": [{"number": i + 1, "text": f"{sop} step {i + 1}", "counted": True, "found": f}
                      for i, f in enumerate(found)]}


# (transcript, agent, call date, score, verdict, {criterion: result}, sop_steps detail)
CALLS = [
    ("call-1", "Amara", "2026-11-02", 80, P, dict(greet=P, verify=P, follow_sop=F, close=P),
     sop_detail("sop-refunds", [True, False, True])),
    ("call-2", "Amara", "2026-11-10", 60, F, dict(greet=P, verify=F, follow_sop=P, close=F),
     sop_detail("sop-refunds", [True, True, True])),
    ("call-3", "Ben", "2026-11-03", 100, P, dict(greet=P, verify=P, follow_sop=N, close=P), {}),
    ("call-4", "Ben", "2026-11-11", 40, F, dict(greet=F, verify=F, follow_sop=F, close=P),
     sop_detail("sop-returns", [False, True])),
    ("call-5", "Chloe", "2026-11-04", 90, P, dict(greet=P, verify=P, follow_sop=F, close=P),
     sop_detail("sop-refunds", [True, False, True])),
    ("call-6", "Dev", "2026-11-12", 70, P, dict(greet=P, verify=P, follow_sop=P, close=F),
     sop_detail("sop-returns", [True, True])),
]
REVIEWS = {  # (call, criterion): human result
    ("call-1", "greet"): P, ("call-2", "greet"): P, ("call-4", "greet"): F, ("call-5", "greet"): P,
    ("call-6", "greet"): P,
    ("call-1", "verify"): P, ("call-3", "verify"): P,
    ("call-1", "close"): F, ("call-2", "close"): P, ("call-4", "close"): P, ("call-5", "close"): F,
    ("call-6", "close"): P,
}


def card(tid, agent, day, score, verdict, results, detail, *, scored_at="2026-11-13T18:00:00Z"):
    method = {"greet": "semantic", "verify": "keyword", "follow_sop": "sop_steps", "close": "semantic"}
    return {"transcript_id": tid, "rubric_id": "phone", "rubric_version": 1, "score": score, "verdict": verdict,
            "agent": agent, "started_at": f"{day}T10:00:00Z", "scored_at": scored_at, "earned": 0, "available": 0,
            "criteria": [{"id": c, "result": results[c], "section": "main", "method": method[c], "points": 1,
                          "earned": 1 if results[c] == P else 0, "critical": False, "confidence": 0.9,
                          "detail": detail if c == "follow_sop" else {}} for c in CRITERIA]}


@pytest.fixture()
def qa_db(tmp_path):
    store = open_store(tmp_path / "qa.db")
    config = load_config(db=str(tmp_path / "qa.db"), teams=["Amara=North", "Ben=North", "Chloe=South"])
    ids = {}
    for tid, agent, day, *_ in CALLS:
        store.save_transcript({"id": tid, "agent": agent, "started_at": day,
                                         "turns": [{"speaker": "agent", "text": "Hello"}]})
    # an older scoring of call-2 (superseded: only the newest scorecard per call and rubric counts)
    store.save_scorecard(card("call-2", "Amara", "2026-11-10", 10, F, dict(greet=F, verify=F,
                            follow_sop=F, close=F), {}, scored_at="2026-11-11T08:00:00Z"))
    for tid, agent, day, score, verdict, results, detail in CALLS:
        ids[tid] = store.save_scorecard(card(tid, agent, day, score, verdict, results, detail))
    # a call outside the window
    store.save_transcript({"id": "call-old", "turns": []})
    store.save_scorecard(card("call-old", "Amara", "2026-06-01", 0, F, {c: F for c in CRITERIA}, {}))
    for (tid, crit), result in REVIEWS.items():
        store.add_review(ids[tid], crit, reviewer="Quinn", result=result)
    return config, store


def test_dashboard_matches_hand_computation(qa_db):
    config, store = qa_db
    d = qa_dashboard(store, config, days=14, until="2026-11-14")
    assert d.scorecards == 6 and d.reviewed_scorecards == 6
    # scores 80, 60, 100, 40, 90, 70: mean 73.33, median 75; verdicts 4 pass, 2 fail
    assert d.overall.mean == pytest.approx(73.33) and d.overall.median == 75 and d.overall.pass_rate == pytest.approx(
        0.6667)
    agents = {s.key: s for s in d.agents}
    assert (agents["Amara"].mean, agents["Amara"].pass_rate, agents["Amara"].team) == (70, 0.5, "North")
    assert agents["Dev"].team == "(none)" and agents["Chloe"].n == 1
    teams = {s.key: s for s in d.teams}
    assert (teams["North"].n, teams["North"].mean, teams["North"].median) == (4, 70, 70)  # 80, 60, 100, 40
    assert (teams["South"].mean, teams["(none)"].mean) == (90, 70)
    # weeks from Monday 26 Oct: 2, 3, 4 Nov -> (80 + 100 + 90) / 3 = 90; 10, 11, 12 Nov -> 170 / 3 = 56.67
    assert [(t["week"], t["n"], t["mean"]) for t in d.overall.trend] == [
        ("2026-10-26", 0, None), ("2026-11-02", 3, 90.0), ("2026-11-09", 3, 56.67)]
    assert [h["count"] for h in d.histogram] == [0, 0, 0, 0, 1, 0, 1, 1, 1, 2]
    crit = {c.criterion: c for c in d.criteria}
    # final results (review over machine): greet P P P F P P; verify P F P F P P; close F P P P F P
    assert (crit["greet"].passed, crit["greet"].failed, crit["greet"].fail_rate) == (5, 1, 0.1667)
    assert (crit["follow_sop"].passed, crit["follow_sop"].failed, crit["follow_sop"].na) == (2, 3, 1)
    assert crit["follow_sop"].fail_rate == 0.6
    assert [c.criterion for c in d.most_failed] == ["follow_sop", "close", "verify", "greet"]
    # greet: machine P P F P P vs human P P F P P -> kappa 1
    assert crit["greet"].kappa == 1.0 and crit["greet"].reviewed == 5 and not crit["greet"].flagged
    # close: machine P F P P F vs human F P P F P: po = 1/5, pe = (3*3 + 2*2)/25 = 0.52, kappa = -0.32/0.48
    assert crit["close"].kappa == pytest.approx(-0.6667) and crit["close"].agreement == 0.2
    assert crit["close"].flagged and [c.criterion for c in d.flagged] == ["close"]
    # verify: both raters always "pass" on the 2 reviewed calls: kappa undefined, too few reviews anyway
    assert crit["verify"].kappa is None and not crit["verify"].flagged
    # SOP signal: sop-refunds failed on call-1 and call-5 of 3 calls; step 2 skipped in both
    sops = {s.sop: s for s in d.sops}
    assert [s.sop for s in d.sops] == ["sop-refunds", "sop-returns"]
    assert (sops["sop-refunds"].calls, sops["sop-refunds"].failed, sops["sop-refunds"].fail_rate) == (3, 2, 0.6667)
    steps = {st.number: st for st in sops["sop-refunds"].steps}
    assert (steps[2].counted, steps[2].missed, steps[2].miss_rate) == (3, 2, 0.6667) and steps[1].missed == 0
    assert (sops["sop-returns"].fail_rate, sops["sop-returns"].steps[0].missed) == (0.5, 1)
    for chart in d.charts():
        ElementTree.fromstring(chart.svg)
        assert chart.csv().count("\n") == len(chart.rows) + 1
    json.dumps(d.to_dict())


def test_dashboard_window_and_rubric_filter(qa_db):
    config, store = qa_db
    assert qa_dashboard(store, config, days=0, until="2026-11-14").scorecards == 7  # the June call too
    assert qa_dashboard(store, config, days=14, until="2026-11-14", rubric="chat").scorecards == 0


def test_report_qa_cli(qa_db):
    from kb.cli import cli

    config, _ = qa_db
    env = {"DESKBOOK_TEAMS": "Amara=North,Ben=North,Chloe=South"}
    args = ["report", "qa", "--db", str(config.database), "--days", "14", "--until", "2026-11-14"]
    res = CliRunner(env=env).invoke(cli, [*args, "--json"], catch_exceptions=False)
    data = json.loads(res.stdout)
    assert data["scorecards"] == 6 and data["flagged"][0]["criterion"] == "close"
    res = CliRunner(env=env).invoke(cli, [*args, "--csv", "-", "--table", "teams"], catch_exceptions=False)
    rows = {r["team"]: r for r in csv.DictReader(io.StringIO(res.stdout))}
    assert rows["North"]["calls"] == "4" and rows["North"]["mean_score"] == "70.0"
    res = CliRunner(env=env).invoke(cli, args, catch_exceptions=False)
    assert "score by hand" in res.output and "sop-refunds" in res.output
