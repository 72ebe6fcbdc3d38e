"""Browser tests: real headless Chromium (Debian's, driven by Playwright) against the app served by
waitress in a thread on a free port, over a private copy of the web test knowledge base."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kb.config import load_config
from tests.conftest import CORPUS
from tests.web_fixtures import PASSWORDS, copy_kb, served_in_thread

CHROMIUM = os.environ.get("DESKBOOK_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage"]


@pytest.fixture(scope="session")
def live_app(tmp_path_factory, web_kb_template, embedder):
    from webapp import create_app

    d = copy_kb(web_kb_template, tmp_path_factory.mktemp("browser_kb"))
    config = load_config(data_dir=str(d), db=str(d / "kb.db"), secret_key="browser-secret",
                         rubrics_dir=str(CORPUS / "rubrics"))
    app = create_app(config, embedder=embedder)
    yield app
    app.extensions["deskbook"].close()


@pytest.fixture(scope="session")
def live_server(live_app):
    """The base URL of the app served by waitress (the production server `deskbook serve` uses)."""
    with served_in_thread(live_app, threads=6, ident="deskbook") as url:
        yield url


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        # A missing browser is a failure, never a silent skip; deselect with -m "not browser".
        pytest.fail(f"{CHROMIUM} is not installed (scripts/test.sh installs it: apt-get install chromium; "
                    'or run pytest -m "not browser")')
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture()
def new_page(browser, live_server):
    """new_page(role) -> a page in a fresh browser context, signed in as that role."""
    contexts = []

    def make(role: str | None = None):
        ctx = browser.new_context(base_url=live_server, viewport={"width": 1360, "height": 880},
                                  permissions=["clipboard-read", "clipboard-write"])
        contexts.append(ctx)
        page = ctx.new_page()
        page.set_default_timeout(60_000)
        page.errors = []
        page.on("pageerror", lambda e: page.errors.append(str(e)))
        if role:
            sign_in(page, role)
        return page

    yield make
    for ctx in contexts:
        ctx.close()


def sign_in(page, role: str) -> None:
    page.goto("/login")
    page.fill("input[name=username]", role)
    page.fill("input[name=password]", PASSWORDS[role])
    page.click("button[type=submit]")
    page.wait_for_selector(".topbar .who")
