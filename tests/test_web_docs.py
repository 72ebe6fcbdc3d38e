"""The web app keeps its promises about itself: settings documented, screenshots present, docs linked."""

from __future__ import annotations

from tests.conftest import ROOT


def test_web_settings_are_in_the_readme_and_webapp_docs():
    from kb.settings import SETTINGS

    web = [s.name for s in SETTINGS if s.section == "web"]
    assert "secret_key" in web and "session_hours" in web
    for doc in ("README.md", "docs/webapp.md"):
        text = (ROOT / doc).read_text()
        missing = [name for name in web if f"| `{name}` |" not in text]
        assert not missing, f"web settings missing from {doc}: {missing}"


def test_readme_shows_the_screenshots_and_links_the_docs():
    readme = (ROOT / "README.md").read_text()
    for name in ("agent-search", "sop-editor", "qa-review"):
        assert f"docs/img/{name}.png" in readme
        assert (ROOT / "docs" / "img" / f"{name}.png").exists()
    assert "docs/webapp.md" in readme and (ROOT / "docs" / "webapp.md").exists()


def test_cli_has_serve_and_users():
    from click.testing import CliRunner

    from kb.cli import cli

    out = CliRunner().invoke(cli, ["--help"]).output
    assert "serve" in out and "users" in out
    out = CliRunner().invoke(cli, ["users", "add", "--help"]).output
    assert "--role" in out and "--reset-password" in out


def test_demo_creates_users_and_serves():
    demo = (ROOT / "scripts" / "demo.sh").read_text()
    assert "deskbook users add" in demo and "--reset-password" in demo
    assert "deskbook serve" in demo and "127.0.0.1" in demo
    assert "apt-get install" in (ROOT / "scripts" / "test.sh").read_text()
