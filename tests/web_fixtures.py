"""Fixtures for the web app tests: a small knowledge base (a dozen corpus SOPs and 40 past tickets)
indexed once per session, copied per module into a fresh database, an app over it with one user per
role, and signed-in test clients.

Test modules import the module-scoped fixtures with `from tests.web_fixtures import *  # noqa: F403`
(`__all__`); the session-scoped ones (the indexed KB) are registered once in tests/conftest.py, so
that every module shares one instance.
"""

from __future__ import annotations

import re
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import webapp  # noqa: F401  (registers the web settings)
from kb.config import load_config

WEB_SOPS = ["orders/sop-refunds.md", "orders/sop-returns.md", "orders/sop-order-cancellation.md",
            "orders/sop-address-change.md", "delivery/sop-delivery-late.md", "delivery/sop-delivery-damaged.md",
            "delivery/sop-missing-items.md", "account/sop-password-reset.md", "account/sop-account-closure.md",
            "account/sop-data-privacy.md", "payments/sop-gift-cards.md", "payments/sop-promo-codes.md"]
__all__ = ["web_config", "app", "clients", "tokens"]
CORPUS = Path(__file__).resolve().parent.parent / "corpus"  # (not from tests.conftest: it imports this module)

PASSWORDS = {"agent": "agent-pass-1", "analyst": "analyst-pass-1", "manager": "manager-pass-1",
             "admin": "admin-pass-1"}
ROLES = tuple(PASSWORDS)


@pytest.fixture(scope="session")
def web_source(tmp_path_factory) -> Path:
    """A folder with the SOPs and tickets of the web test KB."""
    src = tmp_path_factory.mktemp("web_src")
    for rel in WEB_SOPS:
        (src / "sops" / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(CORPUS / "sops" / rel, src / "sops" / rel)
    (src / "tickets").mkdir()
    lines = (CORPUS / "tickets" / "tickets_2025.jsonl").read_text(encoding="utf-8").splitlines()[:40]
    (src / "tickets" / "tickets.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return src


@pytest.fixture(scope="session")
def web_kb_template(tmp_path_factory, web_source, embedder) -> Path:
    """The web test KB, indexed once; tests copy it (`web_kb`) before writing to it."""
    from indexer.pipeline import index_paths
    from kb.storage import open_store
    from webapp.accounts import Accounts

    d = tmp_path_factory.mktemp("web_kb_template")
    config = load_config(data_dir=str(d), db=str(d / "kb.db"))
    store = open_store(config.database)
    index_paths(store, embedder, config, [web_source / "sops", web_source / "tickets"], progress=False)
    # Embed the SOPs' sentences once (kb.answers caches them in <db>.answers.npz, copied with the db).
    from kb.answers import Answerer
    from kb.search import Searcher

    Answerer(Searcher(store, config, embedder), config).warm()
    acc = Accounts(store)
    for role, pw in PASSWORDS.items():
        acc.add_user(role, role, pw)
    store.checkpoint()
    store.close()
    return d


def copy_kb(template: Path, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for f in template.iterdir():
        if f.is_file() and not re.search(r"-(wal|shm)$", f.name):
            shutil.copy(f, dest / f.name)
    return dest


@pytest.fixture(scope="module")
def web_config(tmp_path_factory, web_kb_template):
    d = copy_kb(web_kb_template, tmp_path_factory.mktemp("web_kb"))
    return load_config(data_dir=str(d), db=str(d / "kb.db"), secret_key="test-secret",
                       rubrics_dir=str(CORPUS / "rubrics"))


@pytest.fixture(scope="module")
def app(web_config, embedder):
    """The app over a module-private copy of the web KB (CSRF on, as in production)."""
    from webapp import create_app

    app = create_app(web_config, {"TESTING": True}, embedder=embedder)
    yield app
    app.extensions["deskbook"].close()


def csrf_from(html: str) -> str:
    m = re.search(r'name="csrf-token" content="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no CSRF token in the page"
    return m.group(1)


def sign_in(client, role: str, password: str | None = None) -> str:
    """Sign `client` in as the user named `role`; returns a CSRF token for later posts."""
    page = client.get("/login")
    token = csrf_from(page.get_data(as_text=True))
    resp = client.post("/login", data={"username": role, "password": password or PASSWORDS[role], "csrf_token": token})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
    return csrf_from(client.get("/account/tokens").get_data(as_text=True))


class Signed:
    """A test client signed in as one role, that adds the CSRF token to its writes."""

    def __init__(self, app, role: str, password: str | None = None):
        self.client = app.test_client()
        self.role = role
        self.csrf = sign_in(self.client, role, password)

    def get(self, *a, **kw):
        return self.client.get(*a, **kw)

    def post(self, url, data=None, **kw):
        data = dict(data or {})
        data.setdefault("csrf_token", self.csrf)
        return self.client.post(url, data=data, **kw)

    def api(self, method: str, url: str, json=None, **kw):
        headers = {"X-CSRFToken": self.csrf, **kw.pop("headers", {})}
        return self.client.open(url, method=method, json=json, headers=headers, **kw)


@pytest.fixture(scope="module")
def clients(app):
    """One signed-in client per role: clients["agent"], ... clients["admin"]."""
    return {role: Signed(app, role) for role in ROLES}


@pytest.fixture(scope="module")
def tokens(app):
    """One API token per role."""
    acc = app.extensions["deskbook"].accounts
    return {role: acc.create_token(role, "tests")[0] for role in ROLES}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@contextmanager
def served_in_thread(app, **options) -> Iterator[str]:
    """The app on waitress (the server `deskbook serve` uses) in a thread on a free loopback port; yields its
    base URL. Closing the server while its loop sits in select() on the socket can raise "Bad file
    descriptor" in that thread (pytest then reports it under a later test): once the server is being
    closed, that error is the shutdown itself."""
    from waitress import create_server

    srv = create_server(app, host="127.0.0.1", port=0, **options)
    closing = threading.Event()

    def run() -> None:
        try:
            srv.run()
        except OSError:
            if not closing.is_set():
                raise

    thread = threading.Thread(target=run, name="waitress", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.effective_port}"
    finally:
        closing.set()
        srv.close()
        thread.join(timeout=10)
