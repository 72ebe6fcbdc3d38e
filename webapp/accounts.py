"""Accounts for the web app: users with roles and hashed passwords, API tokens stored hashed, and
server-side sign-in sessions.

- Roles: `agent` (search, answers, live assist), `analyst` (QA review), `manager` (SOPs, uploads),
  `admin` (everything, and users). What each role may open is decided by the web app; this module
  only stores who is who.
- Passwords are hashed with werkzeug's `generate_password_hash` (scrypt, salted); the text of a
  password is never stored. A user's *session key* changes whenever the password changes, so
  signing in again is needed everywhere after a reset.
- API tokens are random (`dbk_` + 32 url-safe bytes) and stored as their SHA-256 (a token has far
  more entropy than a password, so a fast hash is the right tool and allows lookup by hash). The
  token is shown once, when it is made.
- Sessions: a sign-in makes a random session id (kept in the signed cookie; its SHA-256 is stored),
  valid on every app server that shares the database, until it expires (`session_hours`, renewed
  on use), the user signs out, or the password is reset.

Storage is `kb.storage` (`AccountStore`); this module is the logic.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from werkzeug.security import check_password_hash, generate_password_hash

from kb.errors import ConflictError, InputError, NotFoundError
from kb.storage import now_iso

ROLES = ("agent", "analyst", "manager", "admin")
# The web app's languages (webapp/translations); a user's `locale` is one of them, or "" (the browser decides).
LOCALES = ("en", "de", "tr")
MIN_PASSWORD = 8
TOKEN_PREFIX = "dbk_"
_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{1,63}$")
# Checked against when a username is unknown, so that a wrong name costs as long as a wrong password.
_DUMMY_HASH = generate_password_hash("not-a-real-password")


@dataclass
class User:
    id: int
    username: str
    role: str
    display_name: str
    active: bool
    created_at: str
    last_login: str
    password_hash: str
    password_changed_at: str
    locale: str = ""  # the web app's language chosen on the account page; "" = the browser's

    @property
    def session_key(self) -> str:
        """Changes when the password changes: sessions signed in before a reset stop working."""
        return hashlib.sha256(f"{self.id}:{self.password_hash}".encode()).hexdigest()[:16]

    def can(self, *roles: str) -> bool:
        """True when the user has one of `roles` (an admin can do everything)."""
        return self.active and (self.role == "admin" or self.role in roles)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "username": self.username, "role": self.role, "display_name": self.display_name,
                "active": self.active, "created_at": self.created_at, "last_login": self.last_login}


@dataclass
class ApiToken:
    id: int
    user_id: int
    name: str
    prefix: str
    created_at: str
    last_used: str
    revoked: bool

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "prefix": self.prefix, "created_at": self.created_at,
                "last_used": self.last_used, "revoked": self.revoked}


def generate_password() -> str:
    """A random password that is easy to type (16 url-safe characters, about 96 bits)."""
    return secrets.token_urlsafe(12)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _now() -> str:
    return now_iso()


def hash_session(session_id: str) -> str:
    return hashlib.sha256(("session:" + session_id).encode("utf-8")).hexdigest()


def _user(row: Any) -> User:
    return User(id=row["id"], username=row["username"], role=row["role"], display_name=row["display_name"],
                active=bool(row["active"]), created_at=row["created_at"], last_login=row["last_login"],
                password_hash=row["password_hash"], password_changed_at=row["password_changed_at"],
                locale=row.get("locale") or "")


def _token(row: Any) -> ApiToken:
    return ApiToken(id=row["id"], user_id=row["user_id"], name=row["name"], prefix=row["prefix"],
                    created_at=row["created_at"], last_used=row["last_used"], revoked=bool(row["revoked"]))


def check_role(role: str) -> str:
    if role not in ROLES:
        raise InputError(f"Unknown role {role!r}", hint=f"use one of {', '.join(ROLES)}", field="role")
    return role


def check_password(password: str) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise InputError(f"The password must have at least {MIN_PASSWORD} characters", field="password")
    return password


class Accounts:
    """Users, API tokens and sessions, stored in the database (any app server sees the same)."""

    def __init__(self, store, *, session_hours: float = 12):
        self.store = store
        self.session_seconds = float(session_hours) * 3600

    # -- users -------------------------------------------------------------------------------
    def add_user(self, username: str, role: str, password: str | None = None, *,
                 display_name: str = "") -> tuple[User, str]:
        """Create a user; returns (user, password). A generated password when none is given."""
        username = (username or "").strip()
        if not _USERNAME.match(username):
            raise InputError(f"Invalid user name {username!r}",
                             hint="2-64 characters: letters, digits and . _ @ -, starting with a letter or digit",
                             field="username")
        check_role(role)
        password = password if password is not None else generate_password()
        check_password(password)
        try:
            uid = self.store.add_user(username, role, generate_password_hash(password), display_name or username)
        except ConflictError:
            raise ConflictError(f"A user named {username!r} already exists",
                                hint="choose another name, or reset the password (`deskbook users add NAME "
                                     "--role ROLE --reset-password`)", field="username") from None
        return self.get_user(uid), password

    def get_user(self, user_id: int) -> User:
        row = self.store.get_user(int(user_id))
        if row is None:
            raise NotFoundError(f"No user with id {user_id}")
        return _user(row)

    def find_user(self, username: str) -> User | None:
        row = self.store.find_user(username)
        return _user(row) if row else None

    def user(self, username: str) -> User:
        u = self.find_user(username)
        if u is None:
            raise NotFoundError(f"No user named {username!r}", hint="`deskbook users list` shows the users")
        return u

    def list_users(self) -> list[User]:
        return [_user(r) for r in self.store.list_users()]

    def count_users(self) -> int:
        return self.store.count_users()

    def authenticate(self, username: str, password: str) -> User | None:
        """The user when the name and password match an active account, else None (same cost either way)."""
        user = self.find_user(username)
        if user is None:
            check_password_hash(_DUMMY_HASH, password or "")
            return None
        if not check_password_hash(user.password_hash, password or "") or not user.active:
            return None
        self.store.update_user(user.id, last_login=_now())
        return user

    def set_password(self, username: str, password: str | None = None) -> tuple[User, str]:
        """Reset a password (generated when None); every session of the user ends."""
        user = self.user(username)
        password = password if password is not None else generate_password()
        check_password(password)
        with self.store.transaction():
            self.store.update_user(user.id, password_hash=generate_password_hash(password), password_changed_at=_now())
            self.store.delete_user_sessions(user.id)
        return self.get_user(user.id), password

    def set_role(self, username: str, role: str) -> User:
        """Change a user's role; the last active admin cannot stop being one (ConflictError)."""
        user = self.user(username)
        self.store.update_user(user.id, role=check_role(role), keep_an_admin=user.role == "admin")
        return self.get_user(user.id)

    def set_locale(self, username: str, locale: str) -> User:
        """The language the web app shows this user: one of LOCALES, or "" for the browser's."""
        if locale not in ("", *LOCALES):
            raise InputError(f"Unknown language {locale!r}", hint=f"use one of {', '.join(LOCALES)}, or none",
                             field="locale")
        user = self.user(username)
        self.store.update_user(user.id, locale=locale)
        return self.get_user(user.id)

    def set_active(self, username: str, active: bool) -> User:
        """Enable or disable a user (their sessions end); the last active admin cannot be disabled."""
        user = self.user(username)
        with self.store.transaction():
            self.store.update_user(user.id, active=bool(active), keep_an_admin=user.role == "admin" and not active)
            if not active:
                self.store.delete_user_sessions(user.id)
        return self.get_user(user.id)

    # -- sessions ----------------------------------------------------------------------------
    def start_session(self, user: User) -> str:
        """A new sign-in session for `user`: the id to keep in the cookie (only its hash is stored)."""
        session_id = secrets.token_urlsafe(32)
        now = time.time()
        self.store.purge_sessions(now)
        self.store.create_session(hash_session(session_id), user.id, now + self.session_seconds)
        return session_id

    def session_user(self, session_id: str) -> User | None:
        """The active user of a live session (renewed: it lasts `session_hours` after its last use), else None."""
        if not session_id:
            return None
        h = hash_session(session_id)
        row = self.store.get_session(h)
        now = time.time()
        if row is None or row["expires_at"] < now:
            return None
        try:
            user = self.get_user(row["user_id"])
        except NotFoundError:
            return None
        if not user.active:
            return None
        if now - row["last_seen"] > 60:  # at most one write a minute per session
            self.store.touch_session(h, now + self.session_seconds)
        return user

    def end_session(self, session_id: str) -> None:
        if session_id:
            self.store.delete_session(hash_session(session_id))

    # -- API tokens --------------------------------------------------------------------------
    def create_token(self, username: str, name: str = "") -> tuple[str, ApiToken]:
        """A new API token for the user: (the token, shown once; its stored record)."""
        user = self.user(username)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        tid = self.store.add_token(user.id, (name or "").strip()[:100], hash_token(token), token[:10])
        return token, self.get_token(tid)

    def get_token(self, token_id: int) -> ApiToken:
        row = self.store.get_token(int(token_id))
        if row is None:
            raise NotFoundError(f"No API token with id {token_id}")
        return _token(row)

    def list_tokens(self, user_id: int) -> list[ApiToken]:
        return [_token(r) for r in self.store.list_tokens(int(user_id))]

    def revoke_token(self, token_id: int, *, user_id: int | None = None) -> None:
        tok = self.get_token(token_id)
        if user_id is not None and tok.user_id != user_id:
            raise NotFoundError(f"No API token with id {token_id}")
        self.store.revoke_token(tok.id)

    def user_for_token(self, token: str) -> User | None:
        """The active user an unrevoked token belongs to, else None."""
        if not token or not token.startswith(TOKEN_PREFIX):
            return None
        row = self.store.token_user(hash_token(token))
        if row is None or not row["active"]:
            return None
        now = _now()
        if (row["token_last_used"] or "")[:16] != now[:16]:  # at most one write a minute per token
            self.store.touch_token(row["token_id"], now)
        return _user(row)
