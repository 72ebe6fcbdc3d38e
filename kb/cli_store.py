"""`deskbook store copy|info|migrate` and `deskbook worker`: parse arguments, call kb.storage / kb.jobs."""

from __future__ import annotations

import sys

import click

from kb.cli_base import cli_actor, config_for, db_option, echo_json, json_option, yes_option


@click.group("store")
def store_group() -> None:
    """The database: copy a whole Deskbook between SQLite and PostgreSQL, show what it holds, migrate it."""


def _redact_url(url: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


@store_group.command("copy")
@click.option("--from", "src", required=True, metavar="PATH|URL", help="The database to copy (SQLite file or URL).")
@click.option("--to", "dst", required=True, metavar="PATH|URL", help="The new, empty database (SQLite file or URL).")
@click.option("--batch", type=click.IntRange(min=1), default=2000, show_default=True, help="Rows per batch.")
@click.option("--quiet", "-q", is_flag=True, help="No progress on stderr.")
@json_option
def copy_command(src, dst, batch, quiet, as_json):
    """Copy a whole Deskbook (documents and versions, chunks and vectors, QA, users and tokens, the query log)
    from SRC to DST, with progress, and check every table's row count at the end."""
    from pathlib import Path

    from kb.errors import NotFoundError
    from kb.storage import is_server_url, open_store
    from kb.storage.copy import copy_store

    if not is_server_url(src) and not Path(src).exists():
        raise NotFoundError(f"No database at {src}")
    source = open_store(src, create=False)
    target = open_store(dst, create=True)
    shown = {"table": ""}

    def progress(table: str, done: int, total: int) -> None:
        if quiet or as_json:
            return
        end = "\n" if done >= total else ""
        click.echo(f"\r{table:<22} {done:>9}/{total:<9}", nl=False, err=True)
        if end:
            click.echo("", err=True)
        shown["table"] = table

    report = copy_store(source, target, batch=batch, progress=progress)
    if as_json:
        echo_json({"from": _redact_url(source.url), "to": _redact_url(target.url), **report.to_dict()})
    else:
        click.echo(f"{'table':<22} {'source':>9} {'copied':>9} {'destination':>12}")
        for table, t in report.tables.items():
            flag = "" if t["source"] == t["destination"] else "  <- differs"
            click.echo(f"{table:<22} {t['source']:>9} {t['copied']:>9} {t['destination']:>12}{flag}")
        click.echo(f"{report.rows} rows in {report.seconds:.1f} s ({report.rows_per_second:.0f} rows/s); "
                   f"counts {'match' if report.ok else 'DIFFER'}")
    if not report.ok:
        sys.exit(1)


@store_group.command("info")
@db_option
@json_option
def info_command(db, as_json):
    """The backend, the schema migrations applied and how many rows each table holds."""
    from kb.storage import open_store

    config = config_for(db)
    store = open_store(config.database, create=False, pool_size=config.pg_pool_size)
    info = {"backend": store.backend, "database": _redact_url(store.url), "uid": store.uid,
            "migrations": store.schema_migrations(), "vector_dim": store.vector_dim(),
            "tables": {t: store.table_count(t) for t in store.copy_tables()}}
    if as_json:
        echo_json(info)
        return
    click.echo(f"{info['backend']} database {info['database']} (id {info['uid']})")
    click.echo("migrations: " + ", ".join(info["migrations"]))
    for t, n in info["tables"].items():
        click.echo(f"  {t:<22} {n:>9}")


@store_group.command("migrate")
@db_option
def migrate_command(db):
    """Create or upgrade the schema (every command does this on open; this does only that)."""
    from kb.storage import open_store

    config = config_for(db)
    store = open_store(config.database, create=True, pool_size=config.pg_pool_size)
    click.echo(f"{store.backend} database {_redact_url(store.url)}: {len(store.schema_migrations())} migrations applied")


@store_group.command("erase")
@click.argument("doc_ids", nargs=-1, required=True)
@yes_option
@db_option
@json_option
def erase_command(doc_ids, yes, db, as_json):
    """Remove tickets and every stored version of them (a customer's erasure request): their text, chunks,
    vectors and lexical entries, then rebuild the vector index. SOPs are never erased (archive them)."""
    from kb.ann import VectorIndex
    from kb.errors import InputError
    from kb.storage import open_store

    config = config_for(db)
    store = open_store(config.database, create=False, pool_size=config.pg_pool_size)
    kinds = store.document_hashes()
    sops = [d for d in doc_ids if d in kinds and kinds[d][1] != "ticket"]
    if sops:
        raise InputError(f"{', '.join(sops)}: not a ticket", hint="SOPs are the company's own text and keep their "
                         "history: archive one instead of erasing it", field="doc_ids")
    if not yes:
        click.confirm(f"Erase {len(doc_ids)} ticket(s) and every stored version of them?", abort=True, err=True)
    actor = cli_actor()
    out = {d: store.erase_document(d, actor=actor) for d in doc_ids}
    if any(out.values()):
        VectorIndex(store, config).rebuild()
    if as_json:
        echo_json({"erased": {d: n for d, n in out.items() if n}, "not_found": [d for d, n in out.items() if not n]})
    else:
        for d, n in out.items():
            click.echo(f"{d}: {n} version(s) erased" if n else f"{d}: nothing stored under this id")
    if not any(out.values()):
        sys.exit(1)


@click.command("worker")
@click.option("--once", is_flag=True, help="Run the queued jobs, then exit (instead of waiting for more).")
@click.option("--kind", "kinds", multiple=True, help="Only jobs of this kind (repeatable; default: every kind known).")
@db_option
def worker_command(once, kinds, db):
    """Run background jobs (uploads to index, transcripts to prescore, ...) from the database's queue.

    Start as many as you like, on any machine that reaches the database: each job is claimed by one
    worker; a worker that dies leaves its job to another once its lease (job_lease_seconds) runs out."""
    import logging
    import signal

    from kb.jobs import Worker
    from kb.storage import open_store

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = config_for(db)
    store = open_store(config.database, create=True, pool_size=config.pg_pool_size)
    worker = Worker(store, config, kinds=kinds or None)
    if not worker.handlers:
        raise click.UsageError("no job handlers are installed for the kinds asked for")
    signal.signal(signal.SIGTERM, lambda *_: worker.stop())
    click.echo(f"worker {worker.name} on {store.backend} {_redact_url(store.url)}: kinds "
               f"{', '.join(sorted(worker.handlers))}", err=True)
    n = worker.run(once=once)
    click.echo(f"worker {worker.name}: {n} jobs run", err=True)


def register(cli) -> None:
    cli.add_command(store_group)
    cli.add_command(worker_command)
