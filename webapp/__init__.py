"""Deskbook web app: pages and a JSON API for agents, QA analysts and managers.

`create_app(config=None, test_config=None)` builds the app: settings come from Deskbook's
settings (kb.config: defaults, deskbook.toml, DESKBOOK_* variables), then the instance config
(`<data_dir>/instance/webapp.py`, Flask keys such as SESSION_COOKIE_SECURE), then `test_config`.
The shared services (store, embedding model, search index, answer engine, QA) are built once,
into `app.extensions["deskbook"]`.

Blueprints: `auth` (sign-in), `agent` (search, documents, live assist), `manager` (SOPs,
uploads, insights reports), `analyst` (QA), `insights` (the QA dashboard), `admin` and `account` (users, API tokens), and `api` (/api/v1).
Languages (English, German, Turkish): `webapp.i18n`.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask, jsonify
from werkzeug.routing import IntegerConverter

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")


class BoundedInt(IntegerConverter):
    """`<int:...>` in routes, up to what a database column holds (larger numbers match no route)."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", 2 ** 31 - 1)
        super().__init__(map, *args, **kwargs)


def secret_key(config, store) -> str:
    """The `secret_key` setting, else a random key kept in the database, made by the first app server
    that starts: every server sharing the database signs and accepts the same cookies. A key kept
    by Deskbook 0.1 in `<data_dir>/secret_key` is taken over, so signed-in users stay signed in."""
    if config.secret_key:
        return str(config.secret_key)

    def make() -> str:
        legacy = Path(config.data_dir) / "secret_key"
        if legacy.is_file() and legacy.read_text().strip():
            return legacy.read_text().strip()
        return secrets.token_hex(32)

    return store.app_secret("web_session_key", make)


def create_app(config=None, test_config: dict[str, Any] | None = None, *, store=None, embedder=None) -> Flask:
    """The web app over the knowledge base `config` names (default: the settings as loaded).

    `store` and `embedder` may be passed in (tests share one model across apps); otherwise they
    are opened and loaded here, once.
    """
    from kb.config import load_config
    from webapp import admin, agent, analyst, api, auth, errors, i18n, insights, manager, qa_learning
    from webapp.services import Services

    config = config if config is not None else load_config()
    services = Services(config, store=store, embedder=embedder)
    instance = Path(config.data_dir) / "instance"
    app = Flask(__name__, instance_path=str(instance.resolve()), instance_relative_config=True)
    app.url_map.converters["int"] = BoundedInt  # /versions/99999999999999999999 is a 404, not a database error
    app.config.update(
        SECRET_KEY=secret_key(config, services.store),
        PERMANENT_SESSION_LIFETIME=timedelta(hours=int(config.session_hours)),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=bool(config.secure_cookies),
        SESSION_REFRESH_EACH_REQUEST=True,
        MAX_CONTENT_LENGTH=int(config.upload_max_mb) * 1024 * 1024,
        WTF_CSRF_CHECK_DEFAULT=False,  # checked in auth.init_auth, which exempts Bearer-token API calls
        WTF_CSRF_TIME_LIMIT=None,  # valid as long as the session: agents keep a page open all shift
        JSON_SORT_KEYS=False,
    )
    app.config.from_pyfile("webapp.py", silent=True)
    if test_config:
        app.config.update(test_config)

    app.extensions["deskbook"] = services
    auth.init_auth(app)
    i18n.init_i18n(app)
    errors.init_errors(app, auth.login_manager)
    for bp in (auth.bp, agent.bp, manager.bp, analyst.bp, insights.bp, qa_learning.bp, admin.bp, admin.account_bp, api.bp):
        app.register_blueprint(bp)

    @app.route("/healthz")
    def healthz():
        svc = app.extensions["deskbook"]
        return jsonify({"status": "ok", "documents": svc.store.count_documents(),
                        "schema": svc.store.schema_version(), "warm": svc.warmed.is_set()})

    @app.after_request
    def _security_headers(resp):
        resp.headers.setdefault("Content-Security-Policy", CSP)
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        if resp.mimetype == "text/html" or resp.mimetype == "application/json":
            resp.headers.setdefault("Cache-Control", "no-store")
        return resp

    @app.context_processor
    def _helpers():
        from flask_login import current_user

        from webapp.auth import ACCESS

        def can(area: str) -> bool:
            return current_user.is_authenticated and current_user.can(*ACCESS[area])

        return {"can": can, "app_name": "Deskbook", "review_months": app.extensions["deskbook"].config.review_months}

    return app


__all__ = ["create_app"]
