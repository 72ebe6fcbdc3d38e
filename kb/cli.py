"""The `deskbook` command: a root group; other packages plug their commands in.

`indexer`, `qa_rubrics`, `insights` and `webapp` register click commands under the `deskbook.cli`
entry-point group (see pyproject.toml), so `kb` never imports them; options and the loader are in
`kb.cli_base`. Each command only parses its arguments and calls a plain function.
"""

from __future__ import annotations

import os
import sys

import click

from kb.cli_base import PluginGroup, db_option, echo_json, json_option, open_kb, status_option
from kb.errors import DeskbookError


def _ansi_marks(snippet: str) -> str:
    import html

    from kb.snippets import plain

    text = plain(snippet).replace("<mark>", "\x1b[1m").replace("</mark>", "\x1b[0m")
    return html.unescape(text)


@click.group(cls=PluginGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="deskbook")
def cli() -> None:
    """Deskbook: a self-hosted knowledge base and QA assistant for customer-service teams."""


@cli.command("search")
@click.argument("query")
@click.option("--k", "k", type=click.IntRange(1, 1000), default=None,
              help="Number of results (default: the search_k setting).")
@click.option("--mode", type=click.Choice(["hybrid", "dense", "lexical"]), default="hybrid", show_default=True)
@click.option("--type", "types", type=click.Choice(["sop", "ticket"]), multiple=True, help="Only this type (repeatable).")
@click.option("--tag", "tags", multiple=True, help="Only documents with this tag (repeatable: all must match).")
@status_option
@db_option
@json_option
def search_command(query, k, mode, types, tags, statuses, db, as_json):
    """Search the knowledge base. Put a phrase in "double quotes" to match it exactly.

    SOPs: published ones only, as agents see them, unless --status says otherwise."""
    from kb.coldstart import preload
    from kb.models import sop_status_filter
    from kb.search import Searcher
    from kb.storage import SearchFilters

    config, store = open_kb(db)
    searcher, sop_statuses = Searcher(store, config), sop_status_filter(statuses)
    preload(searcher, query, mode, SearchFilters.of(types, tags, (), sop_statuses))
    found = searcher.find(query, k=k, mode=mode, types=types, tags=tags, sop_statuses=sop_statuses)
    _print_hits(found, as_json)
    if EXIT_WHEN_DONE:
        _exit_now(store)


def _print_hits(found, as_json: bool) -> None:
    hits = found.hits
    if as_json:
        echo_json([h.to_dict() for h in hits])
        return
    if not hits:
        click.echo("No results.")
        return
    if found.weak_match:
        click.echo("Nothing in the knowledge base is close to this question: these are only the nearest.", err=True)
    for i, h in enumerate(hits, 1):
        head = f" — {h.heading}" if h.heading and h.heading != h.title else ""
        badge = f" [{h.status.upper()}]" if h.type == "sop" and h.status not in ("", "published") else ""
        click.echo(f"{i:>2}. [{h.type}] {h.id}: {h.title}{head}{badge}  (score {h.score:.4g})")
        click.echo(f"    {_ansi_marks(h.snippet) if sys.stdout.isatty() else _plain(h.snippet)}")


def _exit_now(store) -> None:
    """A one-off search has nothing left to do once its results are printed and its database closed (it
    writes nothing): leave without the interpreter's teardown, which frees the vector index, the query
    encoder's session and every module one by one (~0.2 s of a cold search at 100k chunks)."""
    sys.stdout.flush()
    sys.stderr.flush()
    store.close()
    os._exit(0)


def _plain(snippet: str) -> str:
    import html

    from kb.snippets import plain

    return html.unescape(plain(snippet).replace("<mark>", "").replace("</mark>", ""))


@cli.group("eval")
def eval_group() -> None:
    """Measure search and answer quality on a labelled query set."""


@eval_group.command("search")
@click.option("--queries", "queries_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help='JSONL: {"query": "...", "relevant": ["doc id", ...]} per line.')
@click.option("--k", "k", type=click.IntRange(1, 1000), default=10, show_default=True)
@click.option("--mode", type=click.Choice(["all", "hybrid", "dense", "lexical"]), default="all", show_default=True)
@db_option
@json_option
def eval_search_command(queries_path, k, mode, db, as_json):
    """hit@1/5/10, MRR@10, nDCG@10 and recall@10 per search mode."""
    from kb.evaluate import evaluate_search, load_queries
    from kb.search import Searcher

    config, store = open_kb(db)
    queries = load_queries(queries_path)
    modes = ["hybrid", "dense", "lexical"] if mode == "all" else [mode]
    results = evaluate_search(Searcher(store, config), queries, modes=modes, k=k)
    if as_json:
        echo_json(results)
        return
    cols = ["hit@1", "hit@5", "hit@10", "mrr@10", "ndcg@10", "recall@10", "queries", "latency_ms"]
    click.echo(f"{'mode':<8} " + " ".join(f"{c:>10}" for c in cols))
    for m, r in results.items():
        click.echo(f"{m:<8} " + " ".join(f"{r[c]:>10.3f}" if isinstance(r[c], float) else f"{r[c]:>10}" for c in cols))


def _register_builtin_commands() -> None:
    """kb's own command modules (answers and assist, storage, the job worker) add themselves here."""
    from kb import cli_answers, cli_store

    cli_answers.register(cli, eval_group)
    cli_store.register(cli)


_register_builtin_commands()


EXIT_WHEN_DONE = False  # set by `main` for the `deskbook` command itself (see `_exit_now`)


def main(argv=None) -> None:
    global EXIT_WHEN_DONE
    EXIT_WHEN_DONE = argv is None  # the console command; a caller in the same process (argv given) goes on
    try:
        cli.main(args=argv, standalone_mode=False)
    except DeskbookError as exc:
        click.echo(f"Error: {exc.message}", err=True)
        if exc.hint:
            click.echo(f"  hint: {exc.hint}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("Interrupted: what was written so far is kept; run the command again to continue.", err=True)
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - the last line of defence: a message, never a traceback
        if os.environ.get("DESKBOOK_DEBUG"):
            raise
        text = str(exc)
        click.echo(f"Error: unexpected {type(exc).__name__}: {text[:300]}{'…' if len(text) > 300 else ''}", err=True)
        click.echo("  hint: this is a bug in Deskbook; run the command again with DESKBOOK_DEBUG=1 to see where, "
                   "and report it. Nothing that was already stored is lost.", err=True)
        sys.exit(70)


if __name__ == "__main__":  # pragma: no cover
    main()
