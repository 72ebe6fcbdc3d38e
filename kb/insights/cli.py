"""`deskbook report gaps|tickets|stale|duplicates|contradictions|qa|purge`: manager insights from the command line.

Mounted on the root command through the `deskbook.cli` entry points (pyproject.toml). Each command
parses its options and calls one function of `kb.insights.gaps`, `kb.insights.tickets`, `kb.insights.health`
or `kb.insights.qa`; `--json` prints the whole report, `--csv OUT` writes its main table (`-` for
standard output).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import click

from kb.cli_base import cli_actor, csv_option, db_option, echo_json, json_option, open_kb
from kb.cli_base import write_csv as _write_csv
from kb.insights.charts import to_csv


def days_option(default_help: str):
    def deco(f):
        return click.option("--days", type=click.IntRange(min=0), default=None, help=default_help)(f)
    return deco


def write_csv(path: str | None, rows: list[dict], columns: list[str] | None = None) -> None:
    """Write rows as CSV to `path` ('-' = stdout); nothing when path is None."""
    if path:
        _write_csv(path, to_csv(rows, columns), len(rows))


def emit(report, as_json: bool, csv_out: str | None, text_fn) -> None:
    """The one output path of every report command."""
    if as_json:
        echo_json(report.to_dict())
    elif csv_out != "-":
        text_fn(report)
    write_csv(csv_out, report.rows())


@click.group("report")
def report_group() -> None:
    """Manager insights: content gaps, uncovered tickets, stale, duplicate and contradicting SOPs, QA."""


def _open(db):
    return open_kb(db)


def _db_json(f):
    return db_option(json_option(f))


# -- gaps ----------------------------------------------------------------------------------------
@report_group.command("gaps")
@days_option("Window of logged requests, in days (default: the gap_days setting).")
@click.option("--min-size", type=click.IntRange(min=1), default=None,
              help="Smallest group shown (default: gap_min_cluster_size).")
@click.option("--as-of", "as_of", default=None, help="End of the window (ISO date or time; default: now).")
@csv_option
@_db_json
def gaps_command(days, min_size, as_of, csv_out, db, as_json):
    """Failed searches and answers grouped by meaning, most agents first."""
    from kb.insights.gaps import content_gaps

    config, store = _open(db)
    report = content_gaps(store, config, days=days, now=as_of, min_size=min_size)
    emit(report, as_json, csv_out, _print_gaps)


def _print_gaps(r) -> None:
    click.echo(f"{r.failed} of {r.logged} requests failed between {r.since[:10]} and {r.until[:10]} "
               f"({', '.join(f'{k} {v}' for k, v in sorted(r.reasons.items())) or 'none'}); "
               f"{len(r.groups)} groups, {r.ungrouped} failed requests in smaller groups.")
    for note in r.notes:
        click.echo(f"note: {note}")
    for g in r.groups:
        sop = (f"closest SOP {g.closest_sop.id} > {g.closest_sop.heading} ({g.closest_sop.similarity:.2f})"
               if g.closest_sop else "no SOP")
        click.echo(f"\n{g.rank:>2}. {g.label}  [{g.agents} agents, {g.size} requests, {g.distinct_queries} distinct]")
        click.echo(f"    {sop}")
        click.echo("    weekly: " + " ".join(str(t["count"]) for t in g.trend))
        for q in g.representative:
            click.echo(f"    - {q['query']}" + (f"  (x{q['count']})" if q["count"] > 1 else ""))


# -- tickets -------------------------------------------------------------------------------------
@report_group.command("tickets")
@days_option("Only tickets created in the last N days (default: all).")
@click.option("--min-size", type=click.IntRange(min=1), default=None,
              help="Smallest group shown (default: gap_min_cluster_size).")
@click.option("--drafts", is_flag=True, help="Print each group's draft SOP (Markdown).")
@csv_option
@_db_json
def tickets_command(days, min_size, drafts, csv_out, db, as_json):
    """Past tickets no SOP covers, grouped into proposed SOP topics."""
    from kb.insights.tickets import ticket_coverage

    config, store = _open(db)
    report = ticket_coverage(store, config, days=days, min_size=min_size)

    def show(r):
        click.echo(f"{r.weak} of {r.tickets} tickets have no SOP section above {r.threshold:.2f}; "
                   f"{len(r.groups)} proposed topics ({sum(g.size for g in r.groups)} tickets) where most tickets "
                   "have none.")
        for note in r.notes:
            click.echo(f"note: {note}")
        for g in r.groups:
            sop = f"closest SOP {g.closest_sop.id} ({g.closest_sop.similarity:.2f})" if g.closest_sop else "no SOP"
            click.echo(f"\n{g.rank:>2}. {g.label}  [{g.size} tickets, median best SOP similarity "
                       f"{g.median_best_sop_similarity:.2f}; {sop}]")
            for t in g.tickets:
                click.echo(f"    - {t['id']}: {t['subject']}")
                if t["resolution"]:
                    click.echo(f"      resolution: {t['resolution'][:160]}")
            if drafts:
                click.echo("\n" + "\n".join("    " + line for line in g.draft.splitlines()))

    emit(report, as_json, csv_out, show)


# -- stale ---------------------------------------------------------------------------------------
@report_group.command("stale")
@days_option("SOPs not opened in this many days (default: the stale_days setting).")
@click.option("--today", default=None, help="The date to judge review_by against (default: today).")
@csv_option
@_db_json
def stale_command(days, today, csv_out, db, as_json):
    """SOPs past their review date, and SOPs nobody opened recently."""
    from kb.insights.health import stale_sops

    config, store = _open(db)
    report = stale_sops(store, config, days=days, today=today)

    def show(r):
        click.echo(f"{len(r.overdue)} of {r.sops} SOPs are past their review date ({r.today}):")
        for s in r.overdue:
            click.echo(f"  {s.id:<32} review by {s.review_by}  ({s.days_overdue} days overdue; owner {s.owner or '-'})")
        click.echo(f"\n{len(r.unopened)} SOPs not opened in the last {r.stale_days} days:")
        for s in r.unopened:
            click.echo(f"  {s.id:<32} last opened {s.last_viewed[:10] if s.last_viewed else 'never'}")
        for note in r.notes:
            click.echo(f"note: {note}")

    emit(report, as_json, csv_out, show)


# -- duplicates ----------------------------------------------------------------------------------
@report_group.command("duplicates")
@click.option("--threshold", type=click.FloatRange(-1, 1), default=None,
              help="Cosine similarity (default: the near_duplicate_threshold setting).")
@csv_option
@_db_json
def duplicates_command(threshold, csv_out, db, as_json):
    """Sections of two SOPs that say nearly the same thing, side by side."""
    from kb.insights.health import near_duplicates

    config, store = _open(db)
    report = near_duplicates(store, config, threshold=threshold)

    def show(r):
        click.echo(f"{len(r.pairs)} near-duplicate section pairs (similarity >= {r.threshold:.2f}) "
                   f"in {len(r.documents)} pairs of SOPs.")
        for p in r.pairs:
            click.echo(f"\n{p.similarity:.3f}  {p.a.doc_id} > {p.a.heading}\n       {p.b.doc_id} > {p.b.heading}")
            _side_by_side(p.a.text, p.b.text)

    emit(report, as_json, csv_out, show)


def _side_by_side(a: str, b: str, width: int = 60) -> None:
    import textwrap

    la = textwrap.wrap(" ".join(a.split()), width)[:12]
    lb = textwrap.wrap(" ".join(b.split()), width)[:12]
    for i in range(max(len(la), len(lb))):
        left = la[i] if i < len(la) else ""
        right = lb[i] if i < len(lb) else ""
        click.echo(f"    {left:<{width}} | {right}")


# -- contradictions ------------------------------------------------------------------------------
@report_group.command("contradictions")
@click.option("--threshold", type=click.FloatRange(-1, 1), default=None,
              help="Section similarity (default: the contradiction_similarity setting).")
@click.option("--sentence-threshold", type=click.FloatRange(-1, 1), default=None,
              help="Sentence similarity (default: contradiction_sentence_similarity).")
@csv_option
@_db_json
def contradictions_command(threshold, sentence_threshold, csv_out, db, as_json):
    """Similar rules in two SOPs that differ in a number, amount, time limit or yes/no."""
    from kb.insights.health import contradictions

    config, store = _open(db)
    report = contradictions(store, config, section_threshold=threshold, sentence_threshold=sentence_threshold)

    def show(r):
        click.echo(f"{len(r.items)} possible contradictions in {r.candidate_sections} pairs of similar sections "
                   "(for a person to decide):")
        for c in r.items:
            click.echo(f"\n  {c.summary}")
            click.echo(f"    {c.a.doc_id} > {c.a.heading}:\n      {c.sentence_a}")
            click.echo(f"    {c.b.doc_id} > {c.b.heading}:\n      {c.sentence_b}")

    emit(report, as_json, csv_out, show)


# -- purge ---------------------------------------------------------------------------------------
@report_group.command("purge")
@click.option("--days", type=click.IntRange(min=1), default=None,
              help="Keep this many days of the query log (default: the querylog_retention_days setting).")
@click.option("--qa-days", type=click.IntRange(min=1), default=None,
              help="Keep this many days of QA transcripts and scorecards (default: the qa_retention_days setting).")
@_db_json
def purge_command(days, qa_days, db, as_json):
    """Delete logged requests, feedback and SOP views, and QA transcripts with their scorecards and reviews,
    older than their retention periods."""
    from kb.insights.querylog import QueryLog

    config, store = _open(db)
    actor = cli_actor()
    out = QueryLog(store, config).purge(days, actor=actor)
    keep_qa = int(config.qa_retention_days if qa_days is None else qa_days)
    qa = {"transcripts": 0, "scorecards": 0, "reviews": 0}
    if keep_qa > 0:
        qa_cutoff = (datetime.now(UTC) - timedelta(days=keep_qa)).date().isoformat()
        qa = {**store.purge_qa(qa_cutoff, actor=actor), "cutoff": qa_cutoff}
    if as_json:
        echo_json({**out, "qa": qa})
        return
    click.echo(f"removed {out['queries']} requests, {out['events']} feedback events, {out['views']} views "
               f"and {out['vectors']} query vectors" + (f" older than {out['cutoff']}" if "cutoff" in out else
                                                         " (retention is off)"))
    click.echo(f"removed {qa['transcripts']} QA transcripts, {qa['scorecards']} scorecards and {qa['reviews']} "
               "reviews" + (f" of calls before {qa['cutoff']}" if "cutoff" in qa else " (QA retention is off)"))


@report_group.command("erasures")
@click.option("--id", "subject", default=None, help="Only the erasures of this ticket or transcript id.")
@click.option("--since", default=None, help="Only erasures on or after this date (YYYY-MM-DD).")
@click.option("--limit", type=click.IntRange(min=1), default=1000, show_default=True)
@_db_json
def erasures_command(subject, since, limit, db, as_json):
    """The erasure record, newest first: tickets and transcripts erased and retention purges, with when, who
    and how many rows went (never the erased text). What a data-protection officer shows for a request."""
    from kb.errors import InputError

    if since is not None:
        try:
            since = datetime.fromisoformat(since).date().isoformat()
        except ValueError:
            raise InputError(f"--since {since!r} is not a date", hint="use YYYY-MM-DD, e.g. 2026-11-01",
                             field="since") from None
    _, store = _open(db)
    rows = store.erasures(subject=subject, since=since, limit=limit)
    if as_json:
        echo_json({"erasures": rows})
        return
    if not rows:
        click.echo("no erasures recorded" + (f" for {subject}" if subject else "") + (f" since {since}" if since else ""))
        return
    click.echo(f"{'when (UTC)':<20}  {'kind':<18}  {'id or cutoff':<24}  {'who':<16}  removed")
    for r in rows:
        counts = ", ".join(f"{v} {k}" for k, v in r["counts"].items() if v)
        click.echo(f"{r['ts']:<20}  {r['kind']:<18}  {r['subject']:<24}  {r['actor'] or '-':<16}  {counts}")


from kb.insights.cli_qa import qa_report  # noqa: E402  (the QA dashboard: `deskbook report qa`)

report_group.add_command(qa_report, "qa")
