"""`deskbook report qa`: the QA dashboard from the command line.

Part of `deskbook report` (kb.insights.cli). The command parses options and calls `kb.insights.qa.qa_dashboard`.
"""

from __future__ import annotations

import click

from kb.cli_base import csv_option, db_option, echo_json, json_option, open_kb, write_csv
from kb.insights.charts import to_csv

TABLES = ("criteria", "agents", "teams", "rubrics", "trend", "histogram", "sops", "steps")


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"


def _num(x, digits: int = 1) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


@click.command("qa")
@click.option("--days", type=click.IntRange(min=0), default=None,
              help="Calls of the last N days (default: the qa_dashboard_days setting; 0 = all).")
@click.option("--until", default=None, help="Last day of the window (YYYY-MM-DD; default: today).")
@click.option("--rubric", default=None, help="Only this rubric id.")
@click.option("--table", type=click.Choice(TABLES), default="criteria", show_default=True,
              help="Which table --csv writes.")
@csv_option
@db_option
@json_option
def qa_report(days, until, rubric, table, csv_out, db, as_json):
    """QA dashboard: scores per agent, team and rubric, most failed criteria, kappa, SOPs not followed."""
    from kb.insights.qa import qa_dashboard

    config, store = open_kb(db)
    dash = qa_dashboard(store, config, days=days, until=until, rubric=rubric)
    if as_json:
        echo_json(dash.to_dict())
    elif csv_out != "-":
        _print(dash)
    rows = dash.rows(table)
    if csv_out:
        write_csv(csv_out, to_csv(rows), len(rows))


def _print(d) -> None:
    o = d.overall
    click.echo(f"{d.scorecards} scored calls ({d.reviewed_scorecards} reviewed) from {d.since or 'the start'} to "
               f"{d.until}: mean score {_num(o.mean)}, median {_num(o.median)}, pass rate {_pct(o.pass_rate)}")
    for note in d.notes:
        click.echo(f"note: {note}")
    for title, items in (("Teams", d.teams), ("Agents", d.agents), ("Rubrics", d.rubrics)):
        click.echo(f"\n{title}:")
        for s in items:
            team = f" ({s.team})" if s.team else ""
            click.echo(f"  {s.key + team:<32} {s.n:>5} calls  mean {_num(s.mean):>5}  pass {_pct(s.pass_rate):>4}")
    click.echo("\nMost failed criteria:")
    for c in d.most_failed:
        click.echo(f"  {c.rubric}: {c.criterion:<28} failed {c.failed:>4} of {c.passed + c.failed:<4} "
                   f"({_pct(c.fail_rate)})")
    click.echo(f"\nMachine-human agreement (flagged below kappa {d.settings['kappa_flag_threshold']}):")
    for c in d.criteria:
        if c.reviewed:
            flag = "  <- score by hand" if c.flagged else ""
            click.echo(f"  {c.rubric}: {c.criterion:<28} {c.reviewed:>4} reviewed  agreement {_pct(c.agreement):>4}  "
                       f"kappa {_num(c.kappa, 2):>5}{flag}")
    if d.sops:
        click.echo("\nSOPs not followed (sop_steps):")
        for s in d.sops:
            click.echo(f"  {s.sop:<32} failed {s.failed} of {s.calls} ({_pct(s.fail_rate)})")
            for st in sorted(s.steps, key=lambda x: -(x.miss_rate or 0))[:3]:
                if st.missed:
                    click.echo(f"      step {st.number} skipped in {_pct(st.miss_rate)}: {st.text[:80]}")
