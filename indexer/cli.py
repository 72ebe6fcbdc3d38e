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
    report = index_paths(store, get_embedder(config), config, list(paths), field_map=field_map,
                         progress=not quiet and not as_json, reembed=reembed, remove_missing=not keep_missing)
    if as_json:
        echo_json({**report.to_dict(), "db": store.url})
        return
    for err in report.errors:
        click.echo(f"skipped: {err}", err=True)
    for rid in report.removed_ids:
        click.echo(f"removed: {rid} (its file is gone)", err=True)
    click.echo(report.summary())
    click.echo(f"knowledge base: {store.url}")
