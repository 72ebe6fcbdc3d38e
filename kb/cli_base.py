"""What every `deskbook` command shares: the `--db`, `--json` and `--csv` options, opening the database,
JSON output, and the one loader of commands other packages plug in (`deskbook.cli` entry points).

Each command only parses its arguments and calls a plain function; commands of every package take
their options from here, so `--db` means the same everywhere.
"""

from __future__ import annotations

import json
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import click

from kb.config import load_config

DB_HELP = ("The database: a SQLite file, or postgresql://USER@HOST:PORT/DBNAME (default: the `db` setting, "
           "DESKBOOK_DB, or <data_dir>/deskbook.db).")


def db_option(f):
    return click.option("--db", "db", default=None, envvar="DESKBOOK_DB", metavar="PATH|URL", help=DB_HELP)(f)


def json_option(f):
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")(f)


def yes_option(f):
    """`--yes`: a command that removes data asks first unless given this."""
    return click.option("--yes", is_flag=True, help="Do not ask for confirmation.")(f)


def status_option(f):
    """`--status` (repeatable): the SOP statuses used; none given means published only (what agents see)."""
    from kb.models import STATUS_CHOICES

    return click.option("--status", "statuses", multiple=True, type=click.Choice(STATUS_CHOICES),
                        help="SOPs with this status (repeatable; 'all' for every status). Default: published "
                             "only, as agents see them. Past tickets are always included.")(f)


def csv_option(f):
    return click.option("--csv", "csv_out", type=click.Path(dir_okay=False, allow_dash=True), default=None,
                        help="Also write the table as CSV to this file ('-': standard output).")(f)


def config_for(db: str | None = None, **overrides: Any):
    return load_config(db=db, **overrides)


def open_kb(db: str | None, *, create: bool = False, **overrides: Any):
    """(config, store) for a command; a missing SQLite file is a clear error unless `create`."""
    from kb.storage import open_store

    config = config_for(db, **overrides)
    return config, open_store(config.database, create=create, pool_size=config.pg_pool_size)


def open_existing(db: str | None, **overrides: Any):
    """(config, store or None): the store when the database exists (a server database always does)."""
    from kb.storage import is_server_url, open_store

    config = config_for(db, **overrides)
    if is_server_url(config.database) or Path(config.database).exists():
        return config, open_store(config.database, create=False, pool_size=config.pg_pool_size)
    return config, None


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def write_csv(path: str | None, text: str, n_rows: int) -> None:
    """Write CSV text to `path` ('-' = stdout); nothing when path is None."""
    if not path:
        return
    if path == "-":
        click.echo(text, nl=False)
    else:
        Path(path).write_text(text, encoding="utf-8")
        click.echo(f"wrote {n_rows} rows to {path}", err=True)


def load_plugins(group: str) -> dict[str, Any]:
    """name -> loaded object of each entry point of `group`; one whose package is missing is skipped."""
    out: dict[str, Any] = {}
    for ep in sorted(entry_points(group=group), key=lambda e: e.name):
        try:
            out[ep.name] = ep.load()
        except ImportError as exc:  # an optional package that is not installed
            click.echo(f"warning: {group} {ep.name!r} unavailable: {exc}", err=True)
    return out


class PluginGroup(click.Group):
    """A click group that also offers the commands of the `deskbook.cli` entry points, loaded once, lazily."""

    plugin_group = "deskbook.cli"
    _loaded = False

    def _load_plugins(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        for name, cmd in load_plugins(self.plugin_group).items():
            if name not in self.commands:
                self.add_command(cmd, name)

    def list_commands(self, ctx):
        self._load_plugins()
        return super().list_commands(ctx)

    def get_command(self, ctx, name):
        """A built-in command without importing any plugin (a cold `deskbook search` loads no Flask); a
        plugin command by loading only its own entry point."""
        if name in self.commands:
            return self.commands[name]
        if not self._loaded:
            for ep in entry_points(group=self.plugin_group, name=name):
                try:
                    self.add_command(ep.load(), name)
                    return self.commands[name]
                except ImportError:
                    break  # reported with the others below
        self._load_plugins()
        return super().get_command(ctx, name)


def cli_actor() -> str:
    """Who ran a command, for the erasure record: `cli:<system user>` (`cli` when the system has no name for it)."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # a container user with no passwd entry and no LOGNAME
        return "cli"
