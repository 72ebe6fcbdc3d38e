"""The project keeps its promises about itself: settings documented, layering, CLI entry point."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from kb.config import all_settings
from tests.conftest import ROOT


def test_every_setting_is_documented_in_readme():
    import qa_rubrics  # noqa: F401 - packages register their settings on import

    readme = (ROOT / "README.md").read_text()
    missing = [s.name for s in all_settings() if f"| `{s.name}` |" not in readme]
    assert not missing, f"settings missing from the README's table: {missing}"


def test_import_layers_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run([str(lint)], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout


def test_kb_imports_no_sibling_at_runtime():
    code = ("import sys, kb.search, kb.store, kb.cli, kb.ann, kb.structure; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('indexer', 'qa_rubrics', 'webapp')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert out.strip() == "[]"


def test_top_level_layout():
    for name in ("pyproject.toml", "kb", "indexer", "webapp", "qa_rubrics", "tests", "corpus", "README.md"):
        assert (ROOT / name).exists(), name


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
