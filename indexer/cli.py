"""`deskbook index`: parse arguments, call indexer.pipeline.index_paths, print the summary."""

from __future__ import annotations

import click

from kb.cli_base import config_for, db_option, echo_json, json_option


@click.command("index")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("--map", "maps", multiple=True, metavar="FIELD=COLUMN",
              help="Read a ticket field from another column, e.g. --map question=description (repeatable).")
@click.option("--reembed", is_flag=True, help="Re-embed every chunk (after changing the model).")
@click.option("--keep-missing", is_flag=True, help="Do not remove documents whose files disappeared.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
@db_option
@json_option
def index_command(paths, maps, reembed, keep_missing, quiet, db, as_json):
    """Index folders of SOPs (.md, .txt, .html) and ticket files (.csv, .jsonl) into the knowledge base."""
    from indexer.pipeline import index_paths
    from indexer.readers import parse_field_map
    from kb.embed import get_embedder
    from kb.storage import open_store

    field_map = parse_field_map(list(maps))
    config = config_for(db)
    from pathlib import Path

    missing = [p for p in paths if not Path(p).exists()]
    if missing:
        from kb.errors import InputError

        raise InputError(f"No such file or folder: {', '.join(missing)}", hint="check the path; nothing was written")
    store = open_store(config.database, create=True, pool_size=config.pg_pool_size)
    embedder = get_embedder(config)
    report = index_paths(store, embedder, config, list(paths), field_map=field_map,
                         progress=not quiet and not as_json, reembed=reembed, remove_missing=not keep_missing)
    # Once per machine: the model exported for fast queries (kb.embed_onnx), while it is loaded anyway.
    if hasattr(embedder, "prepare_queries"):
        embedder.prepare_queries(on_export=None if quiet or as_json else lambda: click.echo(
            "preparing the model for fast queries (once on this machine, a few seconds) ...", err=True))
    if as_json:
        echo_json({**report.to_dict(), "db": store.url})
        return
    for err in report.errors:
        click.echo(f"skipped: {err}", err=True)
    for note in report.notes:
        click.echo(f"note: {note}", err=True)
    for rid in report.removed_ids:
        click.echo(f"removed: {rid} (its file is gone)", err=True)
    click.echo(report.summary())
    click.echo(f"knowledge base: {store.url}")


@click.group("model")
def model_group() -> None:
    """The embedding model: adapt it to the knowledge base's own tickets."""


@model_group.command("adapt")
@click.option("--epochs", type=int, default=1, show_default=True, help="Passes over the training pairs.")
@click.option("--holdout", type=float, default=0.2, show_default=True,
              help="Share of the tagged tickets held out to measure before and after.")
@click.option("--batch-size", type=int, default=32, show_default=True)
@click.option("--lr", type=float, default=2e-5, show_default=True, help="Learning rate.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--max-pairs", type=int, default=8000, show_default=True,
              help="Most training pairs (a sample of them on a large knowledge base).")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Folder for the adapted model (default: <data_dir>/models/adapted-<time>).")
@click.option("--adopt", is_flag=True, help="If it does better: make it the `model` setting and re-embed.")
@click.option("--config-file", type=click.Path(dir_okay=False), default=None,
              help="Configuration file --adopt writes (default: DESKBOOK_CONFIG or ./deskbook.toml).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@db_option
@json_option
def adapt_command(epochs, holdout, batch_size, lr, seed, max_pairs, out, adopt, config_file, quiet, db, as_json):
    """Fine-tune the embedding model on past tickets: same-tag tickets and question/resolution pairs.

    Prints hit@1 and MRR@10 on held-out tickets before and after; saves the adapted model only when it
    does better, and changes the configuration only with --adopt."""
    import os
    from pathlib import Path

    from indexer.adapt import adapt
    from indexer.adapt import adopt as adopt_model
    from kb.embed import get_embedder
    from kb.storage import open_store

    config = config_for(db)
    store = open_store(config.database, create=False, pool_size=config.pg_pool_size)
    say = (lambda m: click.echo(m, err=True)) if as_json else click.echo
    report = adapt(store, config, get_embedder(config), epochs=epochs, holdout=holdout, batch_size=batch_size,
                   lr=lr, seed=seed, out=out, progress=not quiet and not as_json, max_pairs=max_pairs, say=say)
    if adopt and report.improved:
        path = Path(config_file or os.environ.get("DESKBOOK_CONFIG") or "deskbook.toml")
        adopt_model(path, report.saved_to)
        from indexer.pipeline import reembed_store

        new_config = config_for(db, model=report.saved_to)
        reembed_store(store, get_embedder(new_config), new_config, progress=not quiet and not as_json)
        report.adopted = True
        report.message += f"; adopted: `model` set in {path}, knowledge base re-embedded"
    elif adopt:
        report.message += "; not adopted"
    if as_json:
        echo_json(report.to_dict())
    else:
        click.echo(report.message + f" ({report.seconds:.0f} s)")
