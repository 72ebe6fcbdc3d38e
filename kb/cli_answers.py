"""`deskbook answer`, `deskbook assist` and `deskbook eval answers`: parse arguments, call kb.answers / kb.assist."""

from __future__ import annotations

from pathlib import Path

import click

from kb.cli_base import db_option, echo_json, json_option, open_kb, status_option


def _answerer(db, engine=None):
    from kb.answers import get_answerer
    from kb.search import Searcher

    config, store = open_kb(db, answer_engine=engine)
    return get_answerer(Searcher(store, config), config)


def _print_answer(ans, *, sops=None, threshold: float | None = None, tentative_below: float | None = None) -> None:
    from kb.answers import confidence_label, percent_ceil

    click.echo(ans.answer)
    click.echo()
    if ans.abstained:
        click.echo(confidence_label(ans.confidence, threshold, abstained=True) + "; nothing is suggested")
    else:
        if tentative_below is not None and ans.confidence < tentative_below:
            click.echo(f"tentative: below the {percent_ceil(tentative_below)}% of a suggested answer; check that it "
                       "fits the call")
        main = ans.citations[0] if ans.citations else None
        where = f"{main.title} > {main.heading.split(' > ')[-1]} ({main.id})" if main and main.heading else (
            f"{main.title} ({main.id})" if main else "")
        click.echo(f"{confidence_label(ans.confidence)}; main source: {where}")
        for c in ans.citations[1:]:
            click.echo(f"  {'also' if c.quoted else 'supported by'}: {c.title} ({c.id})")
        if ans.say:
            click.echo("say to the customer: " + " / ".join(f'"{s}"' for s in ans.say))
    if sops:
        click.echo("applicable SOPs: " + "; ".join(f"{s.title} ({s.id})" for s in sops))
    if ans.fallback:
        click.echo(f"note: {ans.fallback}")
    for w in ans.warnings:
        click.echo(f"warning: {w}")


@click.command("answer")
@click.argument("question")
@click.option("--engine", type=click.Choice(["extractive", "llm"]), default=None,
              help="Answer engine (default: the answer_engine setting).")
@status_option
@db_option
@json_option
def answer_command(question, engine, statuses, db, as_json):
    """A suggested answer to QUESTION (in the customer's words), with its sources and a confidence.

    Built from published SOPs only, as agents get it, unless --status says otherwise."""
    from kb.models import sop_status_filter

    answerer = _answerer(db, engine)
    ans = answerer.answer(question, statuses=sop_status_filter(statuses))
    if as_json:
        echo_json(ans.summary_dict())
        return
    _print_answer(ans, threshold=float(answerer.config.answer_threshold))


@click.command("assist")
@click.argument("transcript", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--engine", type=click.Choice(["extractive", "llm"]), default=None,
              help="Answer engine (default: the answer_engine setting).")
@status_option
@db_option
@json_option
def assist_command(transcript, engine, statuses, db, as_json):
    """The SOPs and a suggested answer for the customer's current need in TRANSCRIPT.

    TRANSCRIPT is JSON {"turns": [{"speaker": "customer|agent", "text": "..."}]} or "Speaker: text"
    lines. It is played turn by turn, as live assist sees a call, so topic changes are followed.
    """
    from kb.assist import Assistant, parse_transcript
    from kb.errors import InputError
    from kb.models import sop_status_filter

    try:
        text = transcript.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"Cannot read {transcript}: {exc}", field="transcript") from None
    try:
        turns = parse_transcript(text)
    except InputError as exc:  # say which file
        raise InputError(f"{transcript}: {exc.message}", hint=exc.hint, field=exc.field) from None
    answerer = _answerer(db, engine)
    result = Assistant(answerer, statuses=sop_status_filter(statuses)).replay(turns)
    if as_json:
        echo_json(result.summary_dict())
        return
    click.echo(f"customer's need: {result.need}")
    if result.state.topics > 1:
        click.echo(f"(topic {result.state.topics} of the conversation, since: {result.topic})")
    click.echo()
    _print_answer(result.answer, sops=result.sops, threshold=float(answerer.config.assist_threshold),
                  tentative_below=float(answerer.config.answer_threshold))


@click.command("answers")
@click.option("--queries", "queries_paths", required=True, multiple=True,
              type=click.Path(exists=True, dir_okay=False),
              help='JSONL: {"query": "...", "relevant": ["doc id", ...]} per line; an empty list marks a question '
                   "the knowledge base cannot answer. Repeatable (e.g. dev queries plus out-of-scope questions).")
@click.option("--threshold", type=click.FloatRange(0, 1), default=None, help="Override the answer_threshold setting.")
@click.option("--sweep", is_flag=True, help="Also print the rates at a range of thresholds (the trade-off table).")
@status_option
@db_option
@json_option
def eval_answers_command(queries_paths, threshold, sweep, statuses, db, as_json):
    """Answered-correctly, wrong-answer and abstention rates of suggested answers, and mean latency.

    Judged as agents get answers: a question whose relevant SOPs are all unpublished counts as
    unanswerable (use --status all to judge against every SOP)."""
    from kb.answers import evaluate_answers, get_answerer, threshold_sweep
    from kb.evaluate import load_queries
    from kb.models import sop_status_filter
    from kb.search import Searcher

    config, store = open_kb(db, answer_threshold=threshold)
    queries = [q for p in queries_paths for q in load_queries(p)]
    results, rows = evaluate_answers(get_answerer(Searcher(store, config), config), queries,
                                     statuses=sop_status_filter(statuses))
    table = threshold_sweep(rows, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]) if sweep else None
    if as_json:
        echo_json({**results, "sweep": table} if table else results)
        return
    click.echo(f"threshold {config.answer_threshold:g}; {results['n_answerable']} answerable and "
               f"{results['n_unanswerable']} unanswerable questions")
    if results["relabelled"]:
        click.echo(f"  ({results['relabelled']} labelled answerable have only unpublished SOPs: counted unanswerable)")
    for key, label in (("answered_correctly", "answered correctly"), ("wrong_answer", "wrong answer"),
                       ("abstained_answerable", "abstained (answerable)"),
                       ("correct_abstention", "correct abstention (unanswerable)")):
        click.echo(f"  {label:<36} {results[key]:.3f}")
    click.echo(f"  {'mean latency':<36} {results['latency_ms']:.1f} ms")
    if table:
        click.echo("\nthreshold  correct  wrong  abstained  correct-abstention")
        for r in table:
            click.echo(f"{r['threshold']:>9.2f}  {r['answered_correctly']:>7.3f}  {r['wrong_answer']:>5.3f}  "
                       f"{r['abstained_answerable']:>9.3f}  {r['correct_abstention']:>18.3f}")


def register(cli, eval_group) -> None:
    """Add the answer commands to the root group and to `eval`."""
    cli.add_command(answer_command, "answer")
    cli.add_command(assist_command, "assist")
    eval_group.add_command(eval_answers_command, "answers")
