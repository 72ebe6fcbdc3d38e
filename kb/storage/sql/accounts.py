"""Accounts SQL (both backends): users, API tokens (stored hashed), server-side sessions, app secrets.

Only storage: who may do what, password hashing and token making are the web app's
(`webapp.accounts`). User names are unique regardless of case.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from kb.errors import ConflictError
from kb.storage.records import now_iso

USER_FIELDS = {"role", "password_hash", "password_changed_at", "display_name", "active", "last_login", "locale"}


def _user(r: dict[str, Any] | None) -> dict[str, Any] | None:
    if r is None:
        return None
    r["active"] = bool(r["active"])
    return r


class AccountsSql:
    # -- users -------------------------------------------------------------------------------
    def add_user(self, username: str, role: str, password_hash: str, display_name: str) -> int:
        ts = now_iso()
        with self.transaction():
            self._lock_key("user:" + username.lower())
            if self.find_user(username) is not None:
                raise ConflictError(f"A user named {username!r} already exists", field="username")
            return self._insert("INSERT INTO users(username, role, password_hash, display_name, created_at, "
                                "password_changed_at) VALUES (?,?,?,?,?,?) RETURNING id",
                                (username, role, password_hash, display_name, ts, ts))

    def get_user(self, user_id: int) -> dict[str, Any] | None:
        return _user(self._row("SELECT * FROM users WHERE id = ?", (int(user_id),)))

    def find_user(self, username: str) -> dict[str, Any] | None:
        return _user(self._row("SELECT * FROM users WHERE lower(username) = lower(?)", ((username or "").strip(),)))

    def list_users(self) -> list[dict[str, Any]]:
        return [_user(r) for r in self._rows("SELECT * FROM users ORDER BY lower(username)")]

    def count_users(self) -> int:
        return int(self._value("SELECT count(*) AS n FROM users"))

    def update_user(self, user_id: int, *, keep_an_admin: bool = False, **fields: Any) -> None:
        """Change a user's fields. `keep_an_admin`: refused (ConflictError, nothing changed) when no
        active admin would be left, checked under a lock so two admins demoting each other at once
        cannot both succeed."""
        bad = set(fields) - USER_FIELDS
        if bad:
            raise ValueError(f"cannot update {sorted(bad)}")
        if "active" in fields:
            fields["active"] = 1 if fields["active"] else 0
        cols = sorted(fields)
        with self.transaction():
            if keep_an_admin:
                self._lock_key("accounts:admins")
            self._exec(f"UPDATE users SET {', '.join(c + ' = ?' for c in cols)} WHERE id = ?",
                       [*(fields[c] for c in cols), int(user_id)])
            if keep_an_admin and not self._value("SELECT count(*) AS n FROM users WHERE role = 'admin' AND active = 1"):
                raise ConflictError("This is the last active admin: the instance would have nobody to manage users",
                                    hint="make another user an admin first", field="role")

    # -- API tokens --------------------------------------------------------------------------
    def add_token(self, user_id: int, name: str, token_hash: str, prefix: str) -> int:
        return self._insert("INSERT INTO api_tokens(user_id, name, token_hash, prefix, created_at) "
                            "VALUES (?,?,?,?,?) RETURNING id", (int(user_id), name, token_hash, prefix, now_iso()))

    def get_token(self, token_id: int) -> dict[str, Any] | None:
        r = self._row("SELECT id, user_id, name, prefix, created_at, last_used, revoked FROM api_tokens WHERE id = ?",
                      (int(token_id),))
        if r:
            r["revoked"] = bool(r["revoked"])
        return r

    def list_tokens(self, user_id: int) -> list[dict[str, Any]]:
        rows = self._rows("SELECT id, user_id, name, prefix, created_at, last_used, revoked FROM api_tokens "
                          "WHERE user_id = ? ORDER BY id DESC", (int(user_id),))
        for r in rows:
            r["revoked"] = bool(r["revoked"])
        return rows

    def revoke_token(self, token_id: int) -> None:
        self._exec("UPDATE api_tokens SET revoked = 1 WHERE id = ?", (int(token_id),))

    def token_user(self, token_hash: str) -> dict[str, Any] | None:
        return _user(self._row("SELECT t.id AS token_id, t.last_used AS token_last_used, u.* FROM api_tokens t "
                               "JOIN users u ON u.id = t.user_id WHERE t.token_hash = ? AND t.revoked = 0",
                               (token_hash,)))

    def touch_token(self, token_id: int, when: str) -> None:
        self._exec("UPDATE api_tokens SET last_used = ? WHERE id = ?", (when, int(token_id)))

    # -- sessions ----------------------------------------------------------------------------
    def create_session(self, session_hash: str, user_id: int, expires_at: float) -> None:
        now = time.time()
        self._exec("INSERT INTO web_sessions(id_hash, user_id, created_at, last_seen, expires_at) VALUES (?,?,?,?,?)",
                   (session_hash, int(user_id), now, now, float(expires_at)))

    def get_session(self, session_hash: str) -> dict[str, Any] | None:
        return self._row("SELECT * FROM web_sessions WHERE id_hash = ?", (session_hash,))

    def touch_session(self, session_hash: str, expires_at: float) -> None:
        self._exec("UPDATE web_sessions SET last_seen = ?, expires_at = ? WHERE id_hash = ?",
                   (time.time(), float(expires_at), session_hash))

    def delete_session(self, session_hash: str) -> None:
        self._exec("DELETE FROM web_sessions WHERE id_hash = ?", (session_hash,))

    def delete_user_sessions(self, user_id: int) -> int:
        return self._exec("DELETE FROM web_sessions WHERE user_id = ?", (int(user_id),))

    def purge_sessions(self, now: float) -> int:
        return self._exec("DELETE FROM web_sessions WHERE expires_at < ?", (float(now),))

    # -- failed sign-ins (throttling, shared by every app server) -----------------------------
    def record_login_failure(self, keys: list[str], at: float, *, forget_before: float) -> None:
        with self.transaction():
            self._exec("DELETE FROM login_failures WHERE at < ?", (float(forget_before),))
            self._many("INSERT INTO login_failures(key, at) VALUES (?, ?)", [(k, float(at)) for k in keys])

    def login_failures(self, keys: list[str], since: float) -> dict[str, tuple[int, float]]:
        """key -> (failures since `since`, time of the last one)."""
        if not keys:
            return {}
        rows = self._rows(f"SELECT key, count(*) AS n, max(at) AS last FROM login_failures WHERE key IN "
                          f"({self._in(keys)}) AND at >= ? GROUP BY key", [*keys, float(since)])
        return {r["key"]: (int(r["n"]), float(r["last"])) for r in rows}

    def clear_login_failures(self, keys: list[str]) -> None:
        if keys:
            self._exec(f"DELETE FROM login_failures WHERE key IN ({self._in(keys)})", keys)

    # -- secrets shared by every app server --------------------------------------------------
    def app_secret(self, name: str, make: Callable[[], str]) -> str:
        key = "secret:" + name
        value = self.get_meta(key)
        if value:
            return value
        with self.transaction():
            self._lock_key(key)
            self._exec("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO NOTHING", (key, make()))
            return self.get_meta(key) or ""
