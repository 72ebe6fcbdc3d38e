"""Errors at the edge: one JSON shape for the API, friendly pages for people.

Every API error, whatever raised it (a kb.errors.DeskbookError, a 404 from routing, a CSRF
failure, a missing role, a crash), is answered as

    {"error": {"code": "...", "message": "...", "hint": "...", "field": "..."}}

(`hint` and `field` only when known) by `error_json`, the one function that builds it.
"""

from __future__ import annotations

import logging

from flask import jsonify, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from kb.errors import DeskbookError

log = logging.getLogger("deskbook.web")

HTTP_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    409: "conflict", 413: "too_large", 415: "unsupported_media_type", 429: "too_many_requests",
    500: "internal_error",
}
HINTS = {
    401: "send `Authorization: Bearer <token>` (make one with `deskbook users token NAME`) or sign in",
    403: "ask an admin for an account with the right role",
    404: "check the address; the API's routes are listed at /api/v1/openapi.json",
    413: "upload smaller files, or raise the upload_max_mb setting",
}

# Error pages (HTML) in the page's language; the JSON API keeps its English messages.
PAGE_TITLES = {
    400: _l("Bad request"), 403: _l("Forbidden"), 404: _l("Not found"), 405: _l("Method not allowed"),
    409: _l("Conflict"), 413: _l("Too large"), 429: _l("Too many requests"),
}
PAGE_MESSAGES = {
    400: _l("The browser sent a request this page does not understand."),
    403: _l("You do not have access to this page."),
    404: _l("There is no page at this address. Check the address, or start from the search."),
    405: _l("This address does not accept that kind of request."),
    413: _l("The upload is larger than this server accepts."),
}


def error_body(code: str, message: str, *, hint: str | None = None, field: str | None = None) -> dict:
    err = {"code": code, "message": message}
    if hint:
        err["hint"] = hint
    if field:
        err["field"] = field
    return {"error": err}


def error_json(code: str, message: str, status: int, *, hint: str | None = None, field: str | None = None):
    resp = jsonify(error_body(code, message, hint=hint, field=field))
    resp.status_code = status
    if status == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="deskbook"'
    return resp


def wants_json() -> bool:
    if request.blueprint == "api" or request.path.startswith("/api/"):
        return True
    if request.is_json or request.headers.get("X-Requested-With") == "fetch":
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def _page(status: int, title: str, message: str, hint: str | None = None):
    return render_template("error.html", status=status, title=title, message=message, hint=hint), status


def init_errors(app, login_manager) -> None:
    @login_manager.unauthorized_handler
    def _unauthorized():
        if wants_json():
            return error_json("unauthorized", "Sign in or send an API token to use this.", 401, hint=HINTS[401])
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))

    @app.errorhandler(DeskbookError)
    def _deskbook_error(exc: DeskbookError):
        if wants_json():
            d = exc.to_dict()
            return error_json(d["code"], d["message"], exc.http_status, hint=d.get("hint"), field=d.get("field"))
        return _page(exc.http_status, gettext("That did not work"), exc.message, exc.hint)

    @app.errorhandler(CSRFError)
    def _csrf_error(exc: CSRFError):
        msg = f"The form's security token is missing or out of date ({exc.description})"
        hint = "reload the page and try again; API clients send X-CSRFToken with a session, or use a Bearer token"
        if wants_json():
            return error_json("csrf_failed", msg, 400, hint=hint)
        return _page(400, gettext("Please try again"),
                     gettext("The form's security token is missing or out of date."),
                     gettext("Reload the page and send the form again."))

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        status = exc.code or 500
        code = HTTP_CODES.get(status, "http_error")
        message = exc.description or exc.name
        if wants_json():
            return error_json(code, message, status, hint=HINTS.get(status))
        if exc.description == type(exc).description and status in PAGE_MESSAGES:
            message = PAGE_MESSAGES[status]  # werkzeug's own wording, in the page's language
        return _page(status, str(PAGE_TITLES.get(status, exc.name)), str(message), None)

    @app.errorhandler(Exception)
    def _crash(exc: Exception):
        if isinstance(exc, HTTPException):  # pragma: no cover - handled above
            return _http_error(exc)
        log.exception("unhandled error on %s %s", request.method, request.path)
        msg = "Something went wrong on the server; it has been logged."
        if wants_json():
            return error_json("internal_error", msg, 500)
        return _page(500, gettext("Server error"),
                     gettext("Something went wrong on the server; it has been logged."), None)
