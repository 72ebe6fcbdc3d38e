"""Sign-in, roles and CSRF.

- Pages: a session cookie (Flask-Login), set by the sign-in form. It carries a random session id
  whose hash is stored in the database (`webapp.accounts`), so every app server that shares the
  database accepts it, and signing out, disabling the user or resetting the password ends it
  everywhere.
- API: `Authorization: Bearer <token>` (tokens from `deskbook users token NAME` or the "API
  tokens" page). A request that carries a Bearer header is authenticated by the token only, never
  by a cookie, and is therefore exempt from CSRF. Pages calling the API use the session and send
  the CSRF token in the `X-CSRFToken` header.
- Roles: every view says which roles may open it (`ACCESS` below, by blueprint, or per route for
  the API); an admin may open everything. A signed-out visitor is sent to the sign-in page (pages)
  or gets 401 (API); a signed-in user without the role gets 403.
- CSRF: Flask-WTF's CSRFProtect checks every POST/PUT/PATCH/DELETE, forms and JSON alike.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from flask_wtf.csrf import CSRFProtect

from webapp.accounts import ROLES, User
from webapp.services import services

login_manager = LoginManager()
csrf = CSRFProtect()

# Which roles may open which blueprint's pages (admin: everything).
ACCESS: dict[str, tuple[str, ...]] = {
    "agent": ("agent", "analyst", "manager"),  # search, documents, answers, live assist: everyone
    "manager": ("manager",),  # SOP list, editor, history, uploads
    "analyst": ("analyst",),  # QA import, review queue, review screen, export
    "insights": ("analyst", "manager"),  # the QA dashboard
    "qa_learning": ("analyst", "manager"),  # retrain rubrics from reviews, adopt or discard
    "admin": (),  # users
    "account": ROLES,  # one's own API tokens
}


class WebUser(UserMixin):
    """A webapp.accounts.User as Flask-Login wants it (with the id of its sign-in session)."""

    def __init__(self, user: User, *, via_token: bool = False, session_id: str = ""):
        self.user = user
        self.via_token = via_token
        self.session_id = session_id

    def get_id(self) -> str:
        return self.session_id

    @property
    def is_active(self) -> bool:
        return self.user.active

    def __getattr__(self, name):
        return getattr(self.user, name)

    def can(self, *roles: str) -> bool:
        return self.user.can(*roles)


def bearer_token() -> str | None:
    auth = request.headers.get("Authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return None


@login_manager.user_loader
def _load_user(session_id: str):
    if bearer_token() is not None:
        return None  # a Bearer request is authenticated by its token only (see _load_from_request)
    user = services().accounts.session_user(session_id)
    return WebUser(user, session_id=session_id) if user else None


@login_manager.request_loader
def _load_from_request(req):
    token = bearer_token()
    if token is None:
        return None
    user = services().accounts.user_for_token(token)
    return WebUser(user, via_token=True) if user else None


def init_auth(app) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Sign in to continue."
    login_manager.session_protection = "basic"
    csrf.init_app(app)

    @app.before_request
    def _csrf_unless_token():
        # Token-authenticated API calls cannot be forged by another site (it cannot set the header).
        if request.blueprint == "api" and (bearer_token() is not None or not current_user.is_authenticated):
            return  # no session to ride on: the route answers 401 itself
        csrf.protect()


def guard_blueprint(bp: Blueprint, area: str) -> None:
    """Every route of `bp` requires a signed-in user with one of ACCESS[area]."""
    roles = ACCESS[area]

    @bp.before_request
    def _check_role():
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        if not current_user.can(*roles):
            abort(403, description=_("This page is for %(roles)s accounts.",
                                      roles=_(" or ").join(roles + ("admin",))))


def safe_next(target: str | None) -> str | None:
    """Only a path on this site (never //host or a scheme) is followed after sign-in."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def home_for(user) -> str:
    if user.role == "manager":
        return url_for("manager.sop_list")
    if user.role == "analyst":
        return url_for("analyst.queue")
    return url_for("agent.search_page")


class Throttle:
    """Slows down password guessing by address, never locks a user out from elsewhere.

    Failed sign-ins are kept in the database (every app server counts the same ones), under two
    keys: the address, and the address with the user name. After `PAIR_LIMIT` failures for one user
    name from one address within `WINDOW` seconds, that address waits before it may try that name
    again: `BASE_WAIT` seconds, doubling with every further failure, at most `MAX_WAIT`. After
    `ADDRESS_LIMIT` failures from one address (whatever the names: a contact centre often shares one
    address) the whole address waits the same way. The user's own sign-in from any other address is
    never delayed, so an attacker cannot lock anyone out; a success clears that name's count for the
    address. Behind a reverse proxy, let the proxy set the client address (Flask's ProxyFix in
    `<data_dir>/instance/webapp.py`), or every client is one address.
    """

    PAIR_LIMIT, ADDRESS_LIMIT, WINDOW = 5, 30, 900.0
    BASE_WAIT, MAX_WAIT = 15.0, 900.0

    def keys(self, address: str, username: str) -> list[str]:
        return [f"ip:{address}", f"ip-user:{address}:{username.strip().lower()[:64]}"]

    def wait_for(self, store, keys: list[str], now: float | None = None) -> float:
        """Seconds before these keys may try again (0: now)."""
        now = time.time() if now is None else now
        worst = 0.0
        for key, (n, last) in store.login_failures(keys, now - self.WINDOW).items():
            limit = self.ADDRESS_LIMIT if key.startswith("ip:") else self.PAIR_LIMIT
            if n >= limit:
                pause = min(self.MAX_WAIT, self.BASE_WAIT * 2 ** (n - limit))
                worst = max(worst, last + pause - now)
        return max(0.0, worst)

    def fail(self, store, keys: list[str]) -> None:
        now = time.time()
        store.record_login_failure(keys, now, forget_before=now - self.WINDOW)

    def succeed(self, store, keys: list[str]) -> None:
        store.clear_login_failures([k for k in keys if not k.startswith("ip:")])


throttle = Throttle()
bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
def login():
    nxt = safe_next(request.values.get("next"))
    if request.method == "GET" and current_user.is_authenticated:
        return redirect(nxt or home_for(current_user))
    error = None
    username = ""
    status = 200
    if request.method == "POST":
        username = (request.form.get("username") or "").strip()
        password = request.form.get("password") or ""
        store = services().store
        keys = throttle.keys(request.remote_addr or "unknown", username)
        wait = throttle.wait_for(store, keys)
        if wait > 0:
            error = ngettext("Too many failed attempts from this computer. Try again in %(num)d second.",
                             "Too many failed attempts from this computer. Try again in %(num)d seconds.",
                             int(wait) + 1)
            status = 429
        else:
            user = services().accounts.authenticate(username, password)
            if user is None:
                throttle.fail(store, keys)
                error = _("Wrong user name or password.")
            else:
                throttle.succeed(store, keys)
                session.clear()
                session.permanent = True
                login_user(WebUser(user, session_id=services().accounts.start_session(user)))
                return redirect(nxt or home_for(user))
    if error and status == 200:
        status = 401
    return render_template("login.html", error=error, username=username, next=nxt or ""), status


@bp.route("/logout", methods=["POST"])
def logout():
    if current_user.is_authenticated:
        services().accounts.end_session(getattr(current_user, "session_id", ""))
    logout_user()
    session.clear()
    flash(_("You are signed out."))
    return redirect(url_for("auth.login"))


def username() -> str:
    return current_user.username if current_user.is_authenticated else ""
