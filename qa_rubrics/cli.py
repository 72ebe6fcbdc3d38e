"""`deskbook qa ...`: score transcripts against a rubric, measure agreement with human labels.

Mounted on the root CLI through the `deskbook.cli` entry point (see pyproject.toml). Commands
only parse arguments and call the plain functions of `qa_rubrics.batch`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from kb.cli_base import (
    cli_actor,
    config_for,
    db_option,
    echo_json,
    json_option,
    open_existing,
    open_kb,
    yes_option,
)

RUBRIC_HELP = "The rubric (YAML)."


def transcript_options(f):
    """--agent, --channel, --date, --customer: what the files do not say themselves."""
    for opt in reversed((
        click.option("--agent", default=None, help="The agent, for transcripts whose file names none "
                                                   "(a header 'agent: ...' in the file wins)."),
        click.option("--channel", default=None, help="The channel (phone, chat, email, social ...), likewise."),
        click.option("--date", default=None, help="When the conversation took place (YYYY-MM-DD or ISO 8601 "
                                                  "date-time), likewise."),
        click.option("--customer", default=None, help="The customer's name: redacted from the turns, never stored."),
    )):
        f = opt(f)
    return f


def _defaults(agent, channel, date, customer):
    from qa_rubrics.transcripts import TranscriptDefaults

    return TranscriptDefaults.from_values(agent=agent, channel=channel, date=date, customer=customer, where="--date")


def _open(db: str | None, *, store_flag: bool | None):
    """(config, store or None). The store is used for SOPs (sop_steps) and, with --store, for results."""
    from kb.storage import open_store

    if store_flag:  # --store: create the database if needed
        config = config_for(db)
        return config, open_store(config.database, pool_size=config.pg_pool_size)
    return open_existing(db)


def _report_failures(failures) -> None:
    for f in failures:
        click.echo(f"skipped: {f.reason}", err=True)


@click.group("qa")
def qa_group() -> None:
    """QA: score call and chat transcripts against rubrics, and check agreement with human graders."""


@qa_group.command("score")
@click.option("--rubric", "rubric_path", required=True, type=click.Path(exists=True, dir_okay=False), help=RUBRIC_HELP)
@click.argument("inputs", nargs=-1, required=True, type=click.Path())
@click.option("--csv", "csv_out", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Also write one row per transcript (total, verdict, each criterion) to this CSV file.")
@click.option("--store/--no-store", "store_flag", default=None,
              help="Save transcripts (redacted) and scorecards in the database. Default: when the database exists.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Progress bar on stderr.")
@transcript_options
@db_option
@json_option
def score_command(rubric_path, inputs, csv_out, store_flag, progress, agent, channel, date, customer, db, as_json):
    """Score transcripts (files, folders, JSONL files) against a rubric.

    Transcripts that cannot be read are reported on stderr with the reason and skipped.
    """
    from qa_rubrics.batch import score_inputs, scorecards_csv

    defaults = _defaults(agent, channel, date, customer)
    config, store = _open(db, store_flag=store_flag)
    save = store is not None and store_flag is not False
    res = score_inputs(rubric_path, inputs, config, store=store, save=save, progress=progress and not as_json,
                       defaults=defaults)
    for w in res.warnings:
        click.echo(f"warning: {w}", err=True)
    _report_failures(res.failures)
    if csv_out:
        Path(csv_out).write_text(scorecards_csv(res.cards, res.rubric), encoding="utf-8")
    if as_json:
        echo_json([c.to_dict() for c in res.cards])
    else:
        _print_cards(res)
    if not res.cards and res.failures:
        sys.exit(2)


def _print_cards(res) -> None:
    if not res.cards:
        click.echo("No transcripts scored.")
        return
    r = res.rubric
    click.echo(f"Rubric {r.id} v{r.version} (pass mark {r.pass_mark:g})")
    click.echo(f"{'transcript':<24} {'score':>6} {'verdict':<8} failed criteria")
    unsure = 0
    for c in res.cards:
        failed = [x.id + ("!" if x.critical else "") + ("?" if x.needs_review else "") for x in c.criteria
                  if x.result == "fail"]
        unsure += sum(1 for x in c.criteria if x.needs_review)
        score = f"{c.score:.1f}" if c.score is not None else "-"
        click.echo(f"{c.transcript_id:<24} {score:>6} {c.verdict:<8} {', '.join(failed)}")
    n_pass = sum(1 for c in res.cards if c.verdict == "pass")
    tail = f"; {len(res.stored)} stored" if res.stored else ""
    click.echo(f"{len(res.cards)} scored, {n_pass} passed, {len(res.failures)} skipped{tail}; {unsure} verdict(s) "
               "need review. (! = critical, ? = needs review)")


@qa_group.command("eval")
@click.option("--rubric", "rubric_path", required=True, type=click.Path(exists=True, dir_okay=False), help=RUBRIC_HELP)
@click.option("--labels", "labels_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help='JSONL: {"transcript_id": "...", "criteria": {"criterion id": "pass|fail|na"}} per line.')
@click.argument("inputs", nargs=-1, required=True, type=click.Path())
@click.option("--tune", "tune_out", type=click.Path(dir_okay=False), default=None,
              help="Fit per-criterion thresholds on the labels (with a cross-validated check) and write a tuned "
                   "copy of the rubric here; the rubric itself is never changed.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Progress bar on stderr.")
@db_option
@json_option
def eval_command(rubric_path, labels_path, inputs, tune_out, progress, db, as_json):
    """Agreement of automatic verdicts with human labels: per criterion and overall."""
    from qa_rubrics.batch import eval_inputs

    config, store = _open(db, store_flag=False)
    res = eval_inputs(rubric_path, labels_path, inputs, config, store=store, tune_out=tune_out,
                      progress=progress and not as_json)
    for w in res.warnings:
        click.echo(f"warning: {w}", err=True)
    _report_failures(res.failures)
    if as_json:
        echo_json(res.to_dict())
        return
    _print_eval(res)


def _fmt(x, digits: int = 2) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _print_eval(res) -> None:
    rep = res.report
    click.echo(f"{'criterion':<28} {'method':<13} {'n':>3} {'acc':>5} {'prec':>5} {'rec':>5} {'f1':>5} {'kappa':>6}")
    for cid, m in rep.criteria.items():
        click.echo(f"{cid:<28} {m['method']:<13} {m['support']:>3} {_fmt(m['accuracy']):>5} "
                   f"{_fmt(m['precision']):>5} {_fmt(m['recall']):>5} {_fmt(m['f1']):>5} {_fmt(m['kappa']):>6}")
    o = rep.overall
    click.echo(f"overall: {o['transcripts']} transcripts, accuracy {_fmt(o['accuracy'])}, mean kappa "
               f"{_fmt(o['mean_kappa'])} (over {o['kappa_defined_for']} criteria where it is defined), "
               f"mean |score difference| {_fmt(o['mean_abs_score_diff'], 1)} points, verdict agreement "
               f"{_fmt(o['verdict_agreement'])}")
    if rep.missing:
        click.echo(f"labelled but not found in the inputs: {', '.join(rep.missing[:10])}"
                   + (" ..." if len(rep.missing) > 10 else ""), err=True)
    if res.tuning is not None:
        if res.tuning:
            click.echo("")
            click.echo(f"{'threshold':<28} {'current':>7} {'kappa':>6} {'best':>6} {'in-sample':>9} {'cross-val':>9} "
                       "proposed")
            for cid, t in res.tuning.items():
                prop = "keep" if t["proposed"] is None else f"{t['proposed']:.2f}"
                click.echo(f"{cid:<28} {t['current']:>7.2f} {_fmt(t['kappa_current']):>6} {t['best']:>6.2f} "
                           f"{_fmt(t['kappa_best_in_sample']):>9} {_fmt(t['kappa_cross_validated']):>9} {prop}")
        if res.learning is not None and res.learning.criteria:
            click.echo("")
            click.echo(f"{'classifier':<28} {'n':>4} {'pass':>5} {'fail':>5} {'kappa now':>9} {'learned (cv)':>12} result")
            for c in res.learning.criteria:
                click.echo(f"{c.id:<28} {c.support:>4} {c.passes:>5} {c.fails:>5} {_fmt(c.kappa_before):>9} "
                           f"{_fmt(c.kappa_after):>12} {'learned' if c.adopted else 'kept'}")
            click.echo(f"learning took {res.learning.seconds:.1f} s"
                       + (f"; classifiers written to {res.learned_path}" if res.learned_path else ""))
        click.echo(f"tuned rubric written to {res.tuned_path}")


@qa_group.command("validate")
@click.argument("rubrics", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@json_option
def validate_command(rubrics, as_json):
    """Check rubric files; every problem is reported with its file, line and field."""
    from kb.errors import DeskbookError
    from qa_rubrics.rubric import RubricError, load_rubric

    results, bad = [], 0
    for path in rubrics:
        try:
            r = load_rubric(path)
            results.append({"file": path, "ok": True, "id": r.id, "version": r.version,
                            "criteria": len(r.criteria)})
        except RubricError as exc:
            bad += 1
            results.append({"file": path, "ok": False, "errors": [{"line": ln, "field": f, "message": m}
                                                                   for ln, f, m in exc.errors]})
        except DeskbookError as exc:
            bad += 1
            results.append({"file": path, "ok": False, "errors": [{"line": None, "field": exc.field,
                                                                   "message": exc.message}]})
    if as_json:
        echo_json(results)
    else:
        for r in results:
            if r["ok"]:
                click.echo(f"{r['file']}: ok ({r['id']} v{r['version']}, {r['criteria']} criteria)")
            else:
                for e in r["errors"]:
                    loc = f", line {e['line']}" if e["line"] else ""
                    click.echo(f"{r['file']}{loc}: {e['field'] + ': ' if e['field'] else ''}{e['message']}")
    if bad:
        sys.exit(2)


@qa_group.command("delete")
@click.argument("transcript_ids", nargs=-1, required=True)
@yes_option
@db_option
@json_option
def delete_command(transcript_ids, yes, db, as_json):
    """Remove these transcripts (every stored content), their scorecards, results and reviews: a customer's
    erasure request. Transcript ids are those shown in the review queue and the exports."""
    _, store = open_kb(db)
    if not yes:
        click.confirm(f"Remove {len(transcript_ids)} transcript id(s) with all their scorecards and reviews?",
                      abort=True, err=True)
    out = store.delete_transcripts(list(transcript_ids), actor=cli_actor())
    if as_json:
        echo_json(out)
    else:
        click.echo(f"removed {out['transcripts']} transcript contents, {out['scorecards']} scorecards and "
                   f"{out['reviews']} reviews")
    if not out["transcripts"]:
        click.echo("no stored transcript has these ids (nothing removed)", err=True)
        sys.exit(1)
