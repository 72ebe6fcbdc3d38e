"""`deskbook serve` and `deskbook users ...`: thin commands over create_app and webapp.accounts."""

from __future__ import annotations

import sys

import click

from kb.cli_base import config_for, db_option, echo_json, json_option
from webapp.accounts import ROLES


def _warm_and_freeze(svc) -> None:
    """Warm the services, then leave everything loaded so far (models, vocabularies: ~500,000 objects)
    out of Python's garbage collector: a full collection over them took 0.4 s with every request
    thread stopped (docs/benchmarks.md). /healthz says "warm" from then on: requests are served from
    the start, but slowly while the models load (~30 s under load on 2 cores)."""
    import gc

    try:
        svc.warm()
        gc.collect()
        gc.freeze()
    finally:
        svc.warmed.set()


def serve(config, *, host: str, port: int, threads: int, warm: bool = True) -> None:
    """Run the app on waitress (a production WSGI server) until interrupted."""
    import logging

    from waitress import serve as waitress_serve

    from webapp import create_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(config)
    svc = app.extensions["deskbook"]
    if warm:
        import threading

        click.echo("==> loading the model and the search index", err=True)
        from webapp.services import encode_slots

        serve_queries = getattr(svc.embedder, "serve_queries", None)
        if serve_queries is not None and encode_slots(config) > 1:  # several query encodes at once
            serve_queries(encode_slots(config))
        if config.vector_search == "pgvector":
            svc.store.ensure_vector_index()
        else:
            svc.searcher.index.refresh()
        # a wrong answer_confidence_model file stops the start with its message, not every answer later
        from kb.answers import confidence_model_for
        from kb.answers.ranking import ticket_model_for

        confidence_model_for(config, svc.searcher.scale_model())
        ticket_model_for(config, svc.searcher.scale_model(), tagged=True)
        # The answer engine's sentence vectors are cached in a file beside the database; building
        # that cache the first time takes a while, so it runs beside the server, not before it.
        threading.Thread(target=_warm_and_freeze, args=(svc,), name="deskbook-warm", daemon=True).start()
    counts = svc.store.count_documents()
    users = svc.accounts.count_users()
    jobs = f"{svc.worker.threads if svc.worker else 0} job thread(s)"
    click.echo(f"Deskbook on http://{host}:{port}/  ({counts.get('sop', 0)} SOPs, {counts.get('ticket', 0)} tickets, "
               f"{users} users; {svc.store.backend} database {svc.store.url.split('@')[-1]}; {jobs})", err=True)
    if not users:
        click.echo("No users yet: create one with `deskbook users add NAME --role admin`.", err=True)
    _stop_on_sigterm()
    try:
        waitress_serve(app, host=host, port=port, threads=threads, ident="deskbook", clear_untrusted_proxy_headers=True)
    finally:  # Ctrl-C or SIGTERM: what the server still holds (queries waiting for redaction) is stored
        svc.close()


def _stop_on_sigterm() -> None:
    """SIGTERM (a service manager's stop) ends the server as Ctrl-C does, so it closes cleanly."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        def stop(signum, frame):
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, stop)


@click.command("serve")
@click.option("--host", default=None, help="Address to listen on (default: the serve_host setting, 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Port (default: the serve_port setting, 8000).")
@click.option("--threads", type=click.IntRange(1, 256), default=None, help="Worker threads (default: the serve_threads setting).")
@click.option("--no-warm", is_flag=True, help="Do not load the model and indexes before accepting requests.")
@db_option
def serve_command(host, port, threads, no_warm, db):
    """Run the web app (waitress) with a health endpoint at /healthz."""
    config = config_for(db)
    serve(config, host=host or config.serve_host, port=int(port or config.serve_port),
          threads=int(threads or config.serve_threads), warm=not no_warm)


def _accounts(db):
    from kb.storage import open_store
    from webapp.accounts import Accounts

    config = config_for(db)
    return Accounts(open_store(config.database, pool_size=config.pg_pool_size), session_hours=config.session_hours)


@click.group("users")
def users_group():
    """Web app accounts: add users, reset passwords, make API tokens."""


@users_group.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True, help="agent, analyst, manager or admin.")
@click.option("--password", default=None, help="The password (at least 8 characters); generated and printed if left out.")
@click.option("--reset-password", is_flag=True,
              help="If the user exists, set a new password (and the role) instead of failing: safe to run again.")
@click.option("--if-missing", is_flag=True, help="If the user exists, do nothing (exit 0).")
@db_option
@json_option
def users_add(name, role, password, reset_password, if_missing, db, as_json):
    """Create a user. Prints the password when one was generated."""
    acc = _accounts(db)
    existing = acc.find_user(name)
    if existing is not None and if_missing:
        out = {"username": existing.username, "role": existing.role, "action": "exists"}
    elif existing is not None and reset_password:
        user, pw = acc.set_password(name, password)
        if user.role != role:
            user = acc.set_role(name, role)
        out = {"username": user.username, "role": user.role, "action": "password reset", "password": pw}
    else:
        user, pw = acc.add_user(name, role, password)
        out = {"username": user.username, "role": user.role, "action": "created", "password": pw}
    if password is not None:
        out.pop("password", None)  # the caller knows it; never echo a chosen password
    if as_json:
        echo_json(out)
        return
    line = f"{out['username']} ({out['role']}): {out['action']}"
    if "password" in out:
        line += f"; password: {out['password']}"
    click.echo(line)


@users_group.command("list")
@db_option
@json_option
def users_list(db, as_json):
    """List users and their roles."""
    users = _accounts(db).list_users()
    if as_json:
        echo_json([u.to_dict() for u in users])
        return
    if not users:
        click.echo("No users.")
    for u in users:
        click.echo(f"{u.username:<24} {u.role:<8} {'active' if u.active else 'disabled':<9} last sign-in "
                   f"{u.last_login or '-'}")


@users_group.command("set-password")
@click.argument("name")
@click.option("--password", default=None, help="The new password; generated and printed if left out.")
@db_option
def users_set_password(name, password, db):
    """Reset a user's password (their sessions end)."""
    _, pw = _accounts(db).set_password(name, password)
    click.echo(f"{name}: password reset" + ("" if password else f"; password: {pw}"))


@users_group.command("set-role")
@click.argument("name")
@click.argument("role", type=click.Choice(ROLES))
@db_option
def users_set_role(name, role, db):
    """Change a user's role."""
    u = _accounts(db).set_role(name, role)
    click.echo(f"{u.username}: {u.role}")


@users_group.command("disable")
@click.argument("name")
@click.option("--enable", is_flag=True, help="Enable the account again instead.")
@db_option
def users_disable(name, enable, db):
    """Disable (or --enable) an account; a disabled user cannot sign in and their tokens stop working."""
    u = _accounts(db).set_active(name, enable)
    click.echo(f"{u.username}: {'enabled' if u.active else 'disabled'}")


@users_group.command("token")
@click.argument("name")
@click.option("--label", "label", default="", help="What the token is for (shown in lists).")
@db_option
@json_option
def users_token(name, label, db, as_json):
    """Make an API token for NAME (printed once; only its hash is stored)."""
    token, rec = _accounts(db).create_token(name, label)
    if as_json:
        echo_json({"token": token, **rec.to_dict()})
    else:
        click.echo(token)
        click.echo(f"(token {rec.id} for {name}; use it as `Authorization: Bearer ...`)", err=True)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(users_group())
