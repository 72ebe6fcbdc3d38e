"""The QA dashboard: scores per agent, team, rubric and criterion, agreement with human reviewers, and
which SOPs agents fail to follow.

`qa_dashboard(store, config)` reads the stored scorecards (the store's `QAStore`; the newest scorecard per
transcript and rubric, calls in the window by call date) and returns a `QaDashboard`:

- score distribution (histogram) and weekly trend (mean score) overall, per agent, per team (the
  `teams` setting maps agents to teams) and per rubric; pass rate per criterion, weekly;
- the criteria failed most (fail rate over the calls where the criterion applied);
- machine-human agreement per criterion: Cohen's kappa (`qa_rubrics.calibrate.cohen_kappa`) between
  the automatic result and the latest human review, over reviewed criteria; a criterion with at
  least `kappa_min_reviews` reviews and kappa below `kappa_flag_threshold` is flagged for human
  scoring;
- the QA signal for SOPs: `sop_steps` criteria grouped by the SOP that applied to the call: how
  often agents fail it, and which steps they skip (counted steps not evidenced in the call).

Criterion statistics use the final result: the latest human review where there is one, else the
automatic result. Scores are the stored (automatic) totals.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from kb.evaluate import cohen_kappa
from kb.insights.charts import Chart, bar_chart, histogram, line_chart

NO_TEAM = "(none)"


def team_map(entries: list[str]) -> dict[str, str]:
    out = {}
    for item in entries or []:
        if "=" in item:
            agent, team = item.split("=", 1)
            if agent.strip():
                out[agent.strip().lower()] = team.strip() or NO_TEAM
    return out


def _day(card: dict[str, Any]) -> str:
    return str(card.get("started_at") or card.get("scored_at") or "")[:10]


def _week(day: str) -> str:
    try:
        d = date.fromisoformat(day)
    except ValueError:
        return ""
    return (d - timedelta(days=d.weekday())).isoformat()


def _r(x: float | None, n: int = 4) -> float | None:
    return None if x is None else round(float(x), n)


@dataclass
class ScoreStats:
    key: str  # the agent, team or rubric
    n: int
    mean: float | None
    median: float | None
    pass_rate: float | None  # verdict pass among pass + fail
    trend: list[dict[str, Any]]  # [{"week", "n", "mean"}]
    team: str = ""


def score_stats(key: str, cards: list[dict[str, Any]], weeks: list[str]) -> ScoreStats:
    scores = [c["score"] for c in cards if c.get("score") is not None]
    verdicts = Counter(c["verdict"] for c in cards)
    decided = verdicts["pass"] + verdicts["fail"]
    by_week: dict[str, list[float]] = defaultdict(list)
    for c in cards:
        if c.get("score") is not None:
            by_week[_week(_day(c))].append(c["score"])
    trend = [{"week": w, "n": len(by_week.get(w, [])),
              "mean": _r(statistics.fmean(by_week[w]), 2) if by_week.get(w) else None} for w in weeks]
    return ScoreStats(key, len(cards), _r(statistics.fmean(scores), 2) if scores else None,
                      _r(statistics.median(scores), 2) if scores else None,
                      _r(verdicts["pass"] / decided) if decided else None, trend)


NO_AGENT = "(no agent given)"


@dataclass
class CriterionStats:
    rubric: str
    criterion: str
    section: str
    method: str
    calls: int
    passed: int
    failed: int
    na: int
    fail_rate: float | None  # failed / (passed + failed), final results
    trend: list[dict[str, Any]]  # [{"week", "n", "pass_rate"}]
    reviewed: int = 0
    agreement: float | None = None  # share of reviewed calls where the machine and the reviewer agree
    kappa: float | None = None  # only with at least kappa_min_reviews reviews (else see `kappa_note`)
    flagged: bool = False  # kappa below kappa_flag_threshold with enough reviews: score this one by hand
    kappa_note: str = ""  # "3 reviews, needs 5": why no kappa is shown


@dataclass
class StepStats:
    number: int
    text: str
    counted: int  # calls where the step counted
    missed: int  # ... and was not evidenced
    miss_rate: float | None


@dataclass
class SopSignal:
    sop: str
    title: str
    calls: int  # calls where a sop_steps criterion applied this SOP
    failed: int
    fail_rate: float | None
    criteria: list[str]
    steps: list[StepStats]


@dataclass
class QaDashboard:
    since: str
    until: str
    days: int
    scorecards: int
    reviewed_scorecards: int
    overall: ScoreStats
    histogram: list[dict[str, Any]]
    agents: list[ScoreStats]
    teams: list[ScoreStats]
    rubrics: list[ScoreStats]
    criteria: list[CriterionStats]
    most_failed: list[CriterionStats]
    flagged: list[CriterionStats]
    sops: list[SopSignal]
    settings: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("_scores", None)
        return out

    def tables(self) -> dict[str, list[dict[str, Any]]]:
        """Every table of the dashboard, flat, for pages and CSV."""
        def stats_rows(items: list[ScoreStats], name: str) -> list[dict[str, Any]]:
            rows = []
            for s in items:
                row = {name: s.key, "calls": s.n, "mean_score": s.mean, "median_score": s.median,
                       "pass_rate": s.pass_rate}
                if name == "agent":
                    row["team"] = s.team
                rows.append(row)
            return rows

        crit = [{k: v for k, v in asdict(c).items() if k != "trend"} for c in self.criteria]
        return {
            "agents": stats_rows(self.agents, "agent"),
            "teams": stats_rows(self.teams, "team"),
            "rubrics": stats_rows(self.rubrics, "rubric"),
            "criteria": crit,
            "histogram": self.histogram,
            "trend": [{"group": kind, "key": s.key, "week": t["week"], "calls": t["n"], "mean_score": t["mean"]}
                      for kind, items in (("all", [self.overall]), ("team", self.teams), ("agent", self.agents),
                                          ("rubric", self.rubrics)) for s in items for t in s.trend],
            "sops": [{"sop": s.sop, "title": s.title, "calls": s.calls, "failed": s.failed, "fail_rate": s.fail_rate,
                      "criteria": ", ".join(s.criteria)} for s in self.sops],
            "steps": [{"sop": s.sop, **asdict(st)} for s in self.sops for st in s.steps],
        }

    def rows(self, table: str = "criteria") -> list[dict[str, Any]]:
        return self.tables()[table]

    def charts(self) -> list[Chart]:
        return [
            histogram([c for c in self._scores], title="Score distribution", bins=10, lo=0, hi=100,
                      x_label="score (%)"),
            line_chart({s.key: [(t["week"], t["mean"]) for t in s.trend] for s in (self.teams or [self.overall])},
                       title="Mean score per week, by team", y_label="score (%)", y_max=100),
            bar_chart([(f"{c.rubric}: {c.criterion}", round(100 * (c.fail_rate or 0), 1)) for c in self.most_failed],
                      title="Most failed criteria (percent of calls where they applied)", value_label="fail %", x_max=100),
            bar_chart([(f"{c.rubric}: {c.criterion}", c.kappa or 0.0) for c in
                       sorted((c for c in self.criteria if c.kappa is not None), key=lambda c: c.kappa)],
                      title="Machine-human agreement (Cohen's kappa), lowest first", value_label="kappa", x_max=1.0),
            bar_chart([(s.sop, round(100 * (s.fail_rate or 0), 1)) for s in self.sops if s.failed],
                      title="SOPs agents fail to follow (percent of calls where the SOP applied)", value_label="fail %",
                      x_max=100),
        ]

    _scores: list[float] = field(default_factory=list, repr=False)


def qa_dashboard(store, config, *, days: int | None = None, until: str | date | None = None,
                 rubric: str | None = None, top: int = 10) -> QaDashboard:
    """The dashboard over calls of the last `days` days (default `qa_dashboard_days`; 0 = all)."""
    n_days = int(config.qa_dashboard_days if days is None else days)
    end = date.fromisoformat(str(until)[:10]) if until else datetime.now(UTC).date()
    start = end - timedelta(days=n_days - 1) if n_days > 0 else None
    cards = store.list_scorecards(rubric=rubric, since=start.isoformat() if start else None,
                                     until=end.isoformat(), latest_only=True, order="scored_at", limit=10 ** 9)
    ids = {c["id"] for c in cards}
    rows = [r for r in store.export_rows(rubric=rubric, since=start.isoformat() if start else None,
                                            until=end.isoformat()) if r["scorecard_id"] in ids]
    teams = team_map(config.teams)
    notes: list[str] = []
    days_seen = sorted(d for d in (_day(c) for c in cards) if d)
    first = start or (date.fromisoformat(days_seen[0]) if days_seen else end)
    weeks = []
    w = first - timedelta(days=first.weekday())
    while w <= end:
        weeks.append(w.isoformat())
        w += timedelta(days=7)

    def grouped(key_fn) -> list[ScoreStats]:
        groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for c in cards:
            groups[key_fn(c)].append(c)
        return sorted((score_stats(k, v, weeks) for k, v in groups.items()), key=lambda s: s.key)

    agents = grouped(lambda c: c.get("agent") or NO_AGENT)
    if any(not c.get("agent") for c in cards):
        notes.append(f"{sum(1 for c in cards if not c.get('agent'))} scored call(s) name no agent: they are counted "
                     f"under {NO_AGENT}; give the agent in the transcript's header or on the import form.")
    for s in agents:
        s.team = teams.get(s.key.lower(), NO_TEAM)
    team_list = grouped(lambda c: teams.get((c.get("agent") or "").lower(), NO_TEAM))
    rubrics = grouped(lambda c: c["rubric_id"])
    overall = score_stats("all", cards, weeks)
    scores = [c["score"] for c in cards if c.get("score") is not None]

    # criteria: final results (human review over machine), agreement where reviewed
    per: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        per[(r["rubric_id"], r["criterion_id"])].append(r)
    day_of = {c["id"]: _day(c) for c in cards}
    kthr = float(config.kappa_flag_threshold)
    kmin = int(config.kappa_min_reviews)
    criteria: list[CriterionStats] = []
    for (rub, cid), items in per.items():
        res = Counter(r["final_result"] for r in items)
        decided = res["pass"] + res["fail"]
        by_week: dict[str, Counter] = defaultdict(Counter)
        for r in items:
            by_week[_week(day_of.get(r["scorecard_id"], ""))][r["final_result"]] += 1
        trend = []
        for wk in weeks:
            cnt = by_week.get(wk, Counter())
            dec = cnt["pass"] + cnt["fail"]
            trend.append({"week": wk, "n": dec, "pass_rate": _r(cnt["pass"] / dec) if dec else None})
        reviewed = [r for r in items if r["human_result"]]
        # kappa on a handful of reviews says nothing: shown from kappa_min_reviews on
        kappa = cohen_kappa([r["auto_result"] for r in reviewed], [r["human_result"] for r in reviewed]) \
            if len(reviewed) >= max(kmin, 1) else None
        note = "" if len(reviewed) >= max(kmin, 1) else \
            f"{len(reviewed)} review{'s' if len(reviewed) != 1 else ''}, needs {kmin}"
        if kappa is None and not note:
            note = "one answer throughout: kappa is undefined"
        agree = (sum(1 for r in reviewed if r["auto_result"] == r["human_result"]) / len(reviewed)) if reviewed else None
        criteria.append(CriterionStats(
            rub, cid, items[0]["section_id"], items[0]["method"], len(items), res["pass"], res["fail"], res["na"],
            _r(res["fail"] / decided) if decided else None, trend, len(reviewed), _r(agree), _r(kappa),
            bool(kappa is not None and kappa < kthr), note))
    criteria.sort(key=lambda c: (c.rubric, c.criterion))
    most_failed = sorted((c for c in criteria if c.failed), key=lambda c: (-(c.fail_rate or 0), -c.failed,
                                                                            c.rubric, c.criterion))[:top]
    flagged = sorted((c for c in criteria if c.flagged), key=lambda c: (c.kappa, c.rubric, c.criterion))
    if not cards:
        notes.append("No scored calls in this window: store scorecards with `deskbook qa score --store` (or the "
                     "web app's import), or widen --days.")
    if not any(c.reviewed for c in criteria) and cards:
        notes.append("No human reviews yet: agreement (kappa) needs reviewed scorecards.")

    sops = _sop_signal(store, rows)
    reviewed_cards = len({r["scorecard_id"] for r in rows if r["human_result"]})
    dash = QaDashboard(start.isoformat() if start else "", end.isoformat(), n_days, len(cards), reviewed_cards,
                       overall, histogram(scores, title="", bins=10, lo=0, hi=100).rows, agents, team_list,
                       rubrics, criteria, most_failed, flagged, sops,
                       {"teams": list(config.teams), "kappa_flag_threshold": kthr, "kappa_min_reviews": kmin},
                       notes)
    dash._scores = scores
    return dash


def _sop_signal(store, rows: list[dict[str, Any]]) -> list[SopSignal]:
    """sop_steps criteria grouped by the SOP that applied: fail rate and skipped steps."""
    # the final result counts: a reviewer may find a failure the machine left N/A, or the reverse
    cards = sorted({r["scorecard_id"] for r in rows if r["method"] == "sop_steps" and r["final_result"] != "na"})
    final = {(r["scorecard_id"], r["criterion_id"]): r["final_result"] for r in rows}
    acc: dict[str, dict[str, Any]] = {}
    for sid in cards:
        card = store.get_scorecard(sid)
        for c in card["criteria"]:
            detail = c.get("detail") or {}
            sop = detail.get("sop") or detail.get("closest_sop")
            if c["method"] != "sop_steps" or not sop:
                continue
            result = final.get((sid, c["id"]), c["result"])
            if result == "na":
                continue
            a = acc.setdefault(sop, {"title": detail.get("title", ""), "calls": 0, "failed": 0,
                                               "criteria": set(), "steps": {}})
            a["calls"] += 1
            a["failed"] += result == "fail"
            a["criteria"].add(c["id"])
            for st in detail.get("steps") or []:
                if not st.get("counted"):
                    continue
                s = a["steps"].setdefault(int(st["number"]), {"text": st.get("text", ""), "counted": 0, "missed": 0})
                s["counted"] += 1
                s["missed"] += not st.get("found")
    out = []
    for sop, a in acc.items():
        steps = [StepStats(n, s["text"], s["counted"], s["missed"], _r(s["missed"] / s["counted"]))
                 for n, s in sorted(a["steps"].items())]
        out.append(SopSignal(sop, a["title"], a["calls"], a["failed"], _r(a["failed"] / a["calls"]),
                             sorted(a["criteria"]), steps))
    out.sort(key=lambda s: (-(s.fail_rate or 0), -s.calls, s.sop))
    return out
