"""The project keeps its promises about itself: settings documented, layering, CLI entry point."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from kb.config import all_settings
from tests.conftest import ROOT


def test_every_setting_is_documented_in_readme():
    readme = (ROOT / "README.md").read_text()
    missing = [s.name for s in all_settings() if f"| `{s.name}` |" not in readme]
    assert not missing, f"settings missing from the README's table: {missing}"


def test_settings_tables_are_generated_from_the_one_registry():
    """README.md and docs/*.md show kb.settings as it is: run `python scripts/gen_docs.py` after a change."""
    proc = subprocess.run([sys.executable, "scripts/gen_docs.py", "--check"], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_settings_are_loaded_explicitly_not_by_import_side_effects():
    code = ("import kb.config; c = kb.config.load_config(); "
            "print(c.answer_threshold, c.redact_pii, c.session_hours, c.gap_days, c.web_job_threads)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert out.split() == ["0.5", "True", "12", "90", "auto"]


def test_unknown_choice_is_an_error_not_a_default():
    import pytest

    from kb.config import load_config
    from kb.errors import ConfigError

    for name, value in (("ann_index", "hsnw"), ("vector_search", "annoy"), ("answer_engine", "gpt")):
        with pytest.raises(ConfigError, match=name):
            load_config(**{name: value})


def test_import_layers_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run([str(lint)], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout


def test_kb_imports_no_sibling_at_runtime():
    code = ("import sys, kb.search, kb.storage, kb.cli, kb.ann, kb.structure, kb.jobs; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('indexer', 'qa_rubrics', 'webapp')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert out.strip() == "[]"


def test_top_level_layout():
    for name in ("pyproject.toml", "kb", "indexer", "webapp", "qa_rubrics", "tests", "corpus", "README.md"):
        assert (ROOT / name).exists(), name
    # the four packages of the fixed shape and no other top-level Python package
    tracked = subprocess.run(["git", "ls-files"], capture_output=True, text=True, cwd=ROOT, check=True).stdout.split()
    packages = {p.split("/")[0] for p in tracked if p.endswith(".py") and "/" in p} - {"tests", "bench", "scripts"}
    assert packages == {"kb", "indexer", "webapp", "qa_rubrics"}, packages


def test_modules_stay_small():
    """Split a module once it passes about 400 lines (docs/STYLE: small modules, one concern each)."""
    big = [(str(p.relative_to(ROOT)), n) for pkg in ("kb", "indexer", "webapp", "qa_rubrics")
           for p in (ROOT / pkg).rglob("*.py") if (n := len(p.read_text().splitlines())) > 420]
    assert not big, big


def test_one_copy_of_sqlite_per_process():
    """Only the SQLite store picks the SQLite library (pysqlite3, else the stdlib's). Two copies of SQLite
    in one process cannot see each other's locks on the same file: one truncates the WAL index the other
    has mapped (a bus error in a server thread reading at that moment, seen in CI)."""
    import re

    pattern = re.compile(r"^\s*(import sqlite3\b|from sqlite3 import|import pysqlite3|from pysqlite3)", re.M)
    owner = ROOT / "kb" / "storage" / "sqlite" / "store.py"
    found = [str(p.relative_to(ROOT)) for top in ("kb", "indexer", "webapp", "qa_rubrics", "tests", "bench", "scripts")
             for p in (ROOT / top).rglob("*.py") if p != owner and pattern.search(p.read_text(encoding="utf-8"))]
    assert not found, f"import the driver from kb.storage.sqlite.store instead: {found}"


def test_readme_two_commands_match_ci():
    readme = (ROOT / "README.md").read_text()
    assert "bash scripts/demo.sh" in readme and "bash scripts/test.sh" in readme
    assert "bash scripts/test.sh" in (ROOT / ".ci" / "run").read_text()


def test_cli_help_lists_commands():
    from kb.cli import cli

    res = CliRunner().invoke(cli, ["--help"])
    assert res.exit_code == 0
    for cmd in ("index", "search", "eval"):
        assert cmd in res.output
