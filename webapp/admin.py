"""Account pages: one's own language and API tokens (everyone) and user management (admins)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import refresh
from flask_login import current_user

from kb.errors import ConflictError, InputError
from webapp.accounts import ROLES
from webapp.auth import guard_blueprint
from webapp.services import services

account_bp = Blueprint("account", __name__, url_prefix="/account")
guard_blueprint(account_bp, "account")

bp = Blueprint("admin", __name__, url_prefix="/admin")
guard_blueprint(bp, "admin")


@account_bp.route("/tokens", methods=["GET", "POST"])
def tokens():
    acc = services().accounts
    new_token = None
    if request.method == "POST":
        new_token, _ = acc.create_token(current_user.username, request.form.get("name", ""))
    return render_template("account/tokens.html", tokens=acc.list_tokens(current_user.id), new_token=new_token,
                           locale=current_user.locale)


@account_bp.route("/language", methods=["POST"])
def language():
    """The language the web app speaks to this user ("" = the browser's)."""
    user = services().accounts.set_locale(current_user.username, request.form.get("locale", ""))
    current_user.user.locale = user.locale
    refresh()  # the confirmation is said in the language just chosen
    flash(_("Language saved."))
    return redirect(url_for("account.tokens"))


@account_bp.route("/tokens/<int:token_id>/revoke", methods=["POST"])
def revoke(token_id: int):
    services().accounts.revoke_token(token_id, user_id=current_user.id)
    flash(_("Token revoked."))
    return redirect(url_for("account.tokens"))


@bp.route("/users", methods=["GET", "POST"])
def users():
    acc = services().accounts
    created = None
    error = None
    if request.method == "POST":
        action = request.form.get("action", "add")
        name = request.form.get("username", "")
        try:
            if action == "add":
                user, password = acc.add_user(name, request.form.get("role", "agent"),
                                              request.form.get("password") or None)
                created = {"username": user.username, "password": password, "action": "created"}
            elif action == "reset":
                user, password = acc.set_password(name)
                created = {"username": user.username, "password": password, "action": "reset"}
            elif action == "role":
                acc.set_role(name, request.form.get("role", ""))
                flash(_("%(name)s is now %(role)s.", name=name, role=_(request.form.get("role", ""))))
            elif action in ("disable", "enable"):
                if name == current_user.username:
                    raise InputError(_("You cannot disable your own account"))
                acc.set_active(name, action == "enable")
                flash(_("%(name)s is enabled.", name=name) if action == "enable" else _("%(name)s is disabled.", name=name))
        except (InputError, ConflictError) as exc:
            error = exc
    return render_template("admin/users.html", users=acc.list_users(), roles=ROLES, created=created,
                           error=error), (400 if error else 200)
