"""Sign-in, roles on every route, CSRF on every write, API tokens, and the app factory itself."""

from __future__ import annotations

import pytest

from tests.web_fixtures import *  # noqa: F403
from tests.web_fixtures import PASSWORDS, ROLES, Signed, bearer, csrf_from, sign_in

# Who may open which blueprint's pages (admin: everything). Pinned here, independently of webapp.auth.
PAGE_ACCESS = {
    "agent": {"agent", "analyst", "manager", "admin"},
    "manager": {"manager", "admin"},
    "analyst": {"analyst", "admin"},
    "insights": {"analyst", "manager", "admin"},
    "admin": {"admin"},
    "account": {"agent", "analyst", "manager", "admin"},
    "qa_learning": {"analyst", "manager", "admin"},
}
PUBLIC = {"static", "auth.login", "healthz", "api.openapi"}
SAMPLE = {"doc_id": "sop-refunds", "version": 1, "conversation_id": "matrix-conv", "token_id": 999999,
          "job_id": "no-such-job", "scorecard_id": 999999, "filename": "app.css", "criterion_id": "greeting",
          "transcript_id": "no-such-transcript", "rubric_id": "no-such-rubric", "model_id": 999999,
          "decision": "adopt"}


def _url(app, rule) -> str:
    from flask import url_for

    with app.test_request_context():
        return url_for(rule.endpoint, **{a: SAMPLE[a] for a in rule.arguments})


def _routes(app):
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method


def _api_roles(app) -> dict[str, set[str]]:
    from webapp.api import api

    out = {}
    for ep in api.endpoints:
        out[f"api.{ep.name}"] = None if ep.roles is None else set(ep.roles) | {"admin"}
    try:
        from webapp.api_qa import api as _qa  # noqa: F401  (QA routes register on the same registry)
    except ImportError:
        pass
    return out


def _allowed(app, endpoint: str) -> set[str] | None:
    """Roles allowed on an endpoint; None: public."""
    if endpoint in PUBLIC:
        return None
    if endpoint.startswith("api."):
        return _api_roles(app)[endpoint]
    bp = endpoint.split(".", 1)[0]
    return PAGE_ACCESS[bp]


def test_every_route_is_covered_by_the_access_table(app):
    for rule, _method in _routes(app):
        if rule.endpoint in PUBLIC or rule.endpoint == "auth.logout":
            continue
        assert _allowed(app, rule.endpoint) is not None, rule.endpoint


def test_each_role_is_allowed_or_refused_on_every_route(app, clients):
    """GET routes: every role; POST/PUT routes: the refused roles only (writes are tested one by one)."""
    checked = 0
    for rule, method in _routes(app):
        if rule.endpoint in PUBLIC or rule.endpoint == "auth.logout":
            continue
        allowed = _allowed(app, rule.endpoint)
        url = _url(app, rule)
        for role in ROLES:
            c = clients[role]
            if method != "GET" and role in allowed:
                continue
            if rule.endpoint.startswith("api."):
                resp = c.api(method, url, json={} if method != "GET" else None)
            elif method == "GET":
                resp = c.get(url)
            else:
                resp = c.post(url, data={})
            if role in allowed:
                assert resp.status_code not in (401, 403), (role, method, url, resp.status_code)
                assert resp.status_code < 500, (role, method, url, resp.get_data(as_text=True)[:500])
            else:
                assert resp.status_code == 403, (role, method, url, resp.status_code)
            checked += 1
    assert checked > 60


def test_signed_out_visitors_are_sent_to_sign_in_or_get_401(app):
    anon = app.test_client()
    token = csrf_from(anon.get("/login").get_data(as_text=True))
    for rule, method in _routes(app):
        if rule.endpoint in PUBLIC or rule.endpoint == "auth.logout":
            continue
        url = _url(app, rule)
        if rule.endpoint.startswith("api."):
            resp = anon.open(url, method=method, json={} if method != "GET" else None)
            assert resp.status_code == 401, (method, url, resp.status_code)
            assert resp.get_json()["error"]["code"] == "unauthorized"
        else:
            resp = anon.open(url, method=method, data={"csrf_token": token} if method != "GET" else None)
            assert resp.status_code == 302 and "/login" in resp.headers["Location"], (method, url, resp.status_code)


def test_pinned_examples_of_refusal(clients):
    assert clients["agent"].get("/manager/sops").status_code == 403
    assert clients["analyst"].get("/manager/sops").status_code == 403
    assert clients["agent"].get("/qa/").status_code == 403
    assert clients["manager"].get("/qa/").status_code == 403
    assert clients["manager"].get("/admin/users").status_code == 403
    assert clients["admin"].get("/manager/sops").status_code == 200
    assert clients["admin"].get("/qa/").status_code == 200
    for role in ROLES:
        assert clients[role].get("/").status_code == 200
    r = clients["agent"].api("PUT", "/api/v1/sops/sop-refunds", json={"title": "x", "body": "y", "base_version": 1})
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "forbidden"


def test_sign_in_wrong_password_then_right(app):
    c = app.test_client()
    token = csrf_from(c.get("/login").get_data(as_text=True))
    bad = c.post("/login", data={"username": "agent", "password": "nope-nope", "csrf_token": token})
    assert bad.status_code == 401 and "Wrong user name or password" in bad.get_data(as_text=True)
    unknown = c.post("/login", data={"username": "nobody", "password": "nope-nope", "csrf_token": token})
    assert unknown.status_code == 401
    ok = c.post("/login", data={"username": "agent", "password": PASSWORDS["agent"], "csrf_token": token,
                                "next": "/doc/sop-refunds"})
    assert ok.status_code == 302 and ok.headers["Location"].endswith("/doc/sop-refunds")
    assert c.get("/").status_code == 200


def test_next_never_leaves_the_site(app):
    c = app.test_client()
    token = csrf_from(c.get("/login").get_data(as_text=True))
    for evil in ("https://evil.example/", "//evil.example/x", "javascript:alert(1)"):
        r = c.post("/login", data={"username": "agent", "password": PASSWORDS["agent"], "csrf_token": token,
                                   "next": evil})
        assert r.status_code == 302 and "evil" not in r.headers["Location"] and "javascript" not in r.headers["Location"]
        c.get("/logout")  # GET is not allowed: stays signed in (405)
        c.post("/logout", data={"csrf_token": csrf_from(c.get("/").get_data(as_text=True))})
        token = csrf_from(c.get("/login").get_data(as_text=True))


def test_repeated_failures_are_throttled(app):
    c = app.test_client()
    token = csrf_from(c.get("/login").get_data(as_text=True))
    for _ in range(5):
        c.post("/login", data={"username": "throttled-user", "password": "wrong-wrong", "csrf_token": token})
    r = c.post("/login", data={"username": "throttled-user", "password": "wrong-wrong", "csrf_token": token})
    assert "Too many failed attempts" in r.get_data(as_text=True)


def test_sign_out_needs_post_and_ends_the_session(app):
    s = Signed(app, "agent")
    assert s.get("/logout").status_code == 405
    assert s.post("/logout").status_code == 302
    assert s.get("/").status_code == 302


def test_password_reset_ends_existing_sessions(app):
    acc = app.extensions["deskbook"].accounts
    acc.add_user("shift-lead", "agent", "first-pass-1")
    c = app.test_client()
    token = csrf_from(c.get("/login").get_data(as_text=True))
    c.post("/login", data={"username": "shift-lead", "password": "first-pass-1", "csrf_token": token})
    assert c.get("/").status_code == 200
    acc.set_password("shift-lead", "second-pass-2")
    assert c.get("/").status_code == 302


def test_disabled_users_cannot_sign_in_and_their_tokens_stop(app):
    acc = app.extensions["deskbook"].accounts
    acc.add_user("leaver", "agent", "leaver-pass-1")
    token, _ = acc.create_token("leaver")
    c = app.test_client()
    assert c.get("/api/v1/me", headers=bearer(token)).status_code == 200
    acc.set_active("leaver", False)
    assert c.get("/api/v1/me", headers=bearer(token)).status_code == 401
    t = csrf_from(c.get("/login").get_data(as_text=True))
    assert c.post("/login", data={"username": "leaver", "password": "leaver-pass-1", "csrf_token": t}).status_code == 401


# -- CSRF ---------------------------------------------------------------------------------------
def test_forms_without_csrf_token_are_refused(clients):
    c = clients["manager"].client
    r = c.post("/manager/sops/sop-refunds/review", data={})
    assert r.status_code == 400 and "security token" in r.get_data(as_text=True)
    r = c.post("/manager/sops/sop-refunds/review", data={"csrf_token": "forged"})
    assert r.status_code == 400


def test_login_form_needs_csrf_too(app):
    c = app.test_client()
    r = c.post("/login", data={"username": "agent", "password": PASSWORDS["agent"]})
    assert r.status_code == 400


def test_session_api_calls_need_the_csrf_header(clients):
    c = clients["agent"]
    r = c.client.post("/api/v1/answer", json={"question": "refund"})
    assert r.status_code == 400
    assert r.get_json()["error"]["code"] == "csrf_failed"
    r = c.api("POST", "/api/v1/answer", json={"question": "refund"})
    assert r.status_code == 200


def test_token_api_calls_are_csrf_exempt_and_never_use_the_cookie(app, clients, tokens):
    c = clients["manager"].client  # has a manager session cookie
    r = c.post("/api/v1/answer", json={"question": "refund"}, headers=bearer(tokens["agent"]))
    assert r.status_code == 200
    # A Bearer header is the only credential looked at: the agent token cannot edit SOPs even
    # though the cookie belongs to a manager.
    r = c.put("/api/v1/sops/sop-refunds", json={"title": "x", "body": "y", "base_version": 1},
              headers=bearer(tokens["agent"]))
    assert r.status_code == 403
    r = c.get("/api/v1/me", headers=bearer("dbk_not-a-real-token"))
    assert r.status_code == 401 and r.get_json()["error"]["code"] == "unauthorized"
    r = c.get("/api/v1/me", headers=bearer(tokens["analyst"]))
    assert r.get_json()["username"] == "analyst"


def test_tokens_are_stored_hashed(app, tokens):
    store = app.extensions["deskbook"].store
    rows = store._rows("SELECT token_hash, prefix FROM api_tokens")  # the backend's own rows: what is stored
    stored = " ".join(r["token_hash"] + " " + r["prefix"] for r in rows)
    for t in tokens.values():
        assert t not in stored
    hashes = [r["password_hash"] for r in store._rows("SELECT password_hash FROM users")]
    assert all(h.startswith(("scrypt:", "pbkdf2:")) for h in hashes)
    assert not any(pw in h for h in hashes for pw in PASSWORDS.values())


def test_token_page_creates_and_revokes(clients, app):
    c = clients["analyst"]
    page = c.post("/account/tokens", data={"name": "stt"}).get_data(as_text=True)
    import re

    token = re.search(r'id="new-token">([^<]+)<', page).group(1)
    assert app.test_client().get("/api/v1/me", headers=bearer(token)).status_code == 200
    tid = app.extensions["deskbook"].accounts.list_tokens(
        app.extensions["deskbook"].accounts.user("analyst").id)[0].id
    c.post(f"/account/tokens/{tid}/revoke")
    assert app.test_client().get("/api/v1/me", headers=bearer(token)).status_code == 401


def test_admin_manages_users(clients, app):
    a = clients["admin"]
    page = a.post("/admin/users", data={"action": "add", "username": "newbie", "role": "agent"})
    assert page.status_code == 200 and "Password for" in page.get_data(as_text=True)
    dup = a.post("/admin/users", data={"action": "add", "username": "newbie", "role": "agent"})
    assert dup.status_code == 400 and "already exists" in dup.get_data(as_text=True)
    a.post("/admin/users", data={"action": "role", "username": "newbie", "role": "manager"})
    assert app.extensions["deskbook"].accounts.user("newbie").role == "manager"


# -- the factory -------------------------------------------------------------------------------
def test_factory_layers_defaults_instance_and_test_config(web_config, embedder, tmp_path):
    from kb.config import load_config
    from webapp import create_app

    cfg = load_config(data_dir=str(tmp_path), db=str(tmp_path / "f.db"))
    app1 = create_app(cfg, embedder=embedder)
    assert app1.config["SESSION_COOKIE_HTTPONLY"] and not app1.config["TESTING"]
    store = app1.extensions["deskbook"].store
    key = store.get_meta("secret:web_session_key")  # made once, kept in the database every server shares
    assert key and app1.config["SECRET_KEY"] == key and len(key) == 64
    (tmp_path / "instance").mkdir()
    (tmp_path / "instance" / "webapp.py").write_text("SESSION_COOKIE_SECURE = True\nMAX_CONTENT_LENGTH = 123\n")
    app2 = create_app(cfg, {"MAX_CONTENT_LENGTH": 456}, embedder=embedder)
    assert app2.config["SESSION_COOKIE_SECURE"] is True  # instance config
    assert app2.config["MAX_CONTENT_LENGTH"] == 456  # test config wins
    assert app2.config["SECRET_KEY"] == app1.config["SECRET_KEY"]
    for a in (app1, app2):
        a.extensions["deskbook"].close()


def test_security_headers(clients):
    r = clients["agent"].get("/")
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["X-Content-Type-Options"] == "nosniff"


def test_healthz_is_public(app):
    r = app.test_client().get("/healthz")
    assert r.status_code == 200 and r.get_json()["status"] == "ok"
    assert r.get_json()["documents"]["sop"] == 12


@pytest.mark.parametrize("role", ROLES)
def test_each_role_lands_on_its_home_page(app, role):
    c = app.test_client()
    token = csrf_from(c.get("/login").get_data(as_text=True))
    r = c.post("/login", data={"username": role, "password": PASSWORDS[role], "csrf_token": token})
    want = {"agent": "/", "admin": "/", "manager": "/manager/sops", "analyst": "/qa/"}[role]
    assert r.headers["Location"].endswith(want)


def test_sign_in_helper_returns_a_token(app):
    assert sign_in(app.test_client(), "agent")
