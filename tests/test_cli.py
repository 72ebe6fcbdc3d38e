"""The command line: index, search and eval through `deskbook` (click's runner), JSON shapes, errors."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from kb.cli import cli, main


@pytest.fixture()
def cli_db(tiny_kb):
    config, store, src = tiny_kb
    return str(config.database), src


def invoke(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_search_json_shape(cli_db):
    db, _ = cli_db
    res = invoke("search", "kettle leaking", "--db", db, "--json", "--k", "3")
    hits = json.loads(res.stdout)
    assert hits and {"id", "type", "title", "score", "snippet", "heading"} <= set(hits[0])
    assert hits[0]["id"] == "T-2"


def test_search_text_output_and_filters(cli_db):
    db, _ = cli_db
    res = invoke("search", "hold the call", "--db", db, "--type", "sop", "--mode", "lexical")
    assert res.exit_code == 0
    assert "[sop] sops/phone-etiquette: Telephone etiquette" in res.output


def test_index_command_json_summary(cli_db):
    db, src = cli_db
    res = invoke("index", str(src), "--db", db, "--json", "--map", "id=ticket_no", "--map", "question=description",
                 "--map", "answer=resolution", "--map", "subject=title", "--map", "tags=labels")
    out = json.loads(res.stdout)
    assert out["chunks_embedded"] == 0 and out["unchanged"] == 8
    assert any("latin1.md" in e for e in out["errors"])


def test_eval_search_json(cli_db, tmp_path):
    db, _ = cli_db
    q = tmp_path / "q.jsonl"
    q.write_text('{"query": "kettle leaks from the bottom", "relevant": ["T-2"]}\n')
    out = json.loads(invoke("eval", "search", "--queries", str(q), "--db", db, "--json").stdout)
    assert set(out) == {"hybrid", "dense", "lexical"}
    for m in out.values():
        for key in ("hit@1", "hit@5", "hit@10", "mrr@10", "ndcg@10", "recall@10", "queries", "latency_ms"):
            assert key in m
        assert m["hit@10"] == 1.0


def run_main(args, capsys):
    with pytest.raises(SystemExit) as exc:
        main(args)
    return exc.value.code, capsys.readouterr()


def test_errors_exit_with_code_and_hint(cli_db, capsys, tmp_path):
    db, _ = cli_db
    code, out = run_main(["search", "", "--db", db], capsys)
    assert code == 2 and "query is empty" in out.err
    code, out = run_main(["search", "x", "--db", str(tmp_path / "none.db")], capsys)
    assert code == 4 and "No knowledge base" in out.err and "deskbook index" in out.err
    code, out = run_main(["index", str(tmp_path / "missing"), "--db", str(tmp_path / "new.db")], capsys)
    assert code == 2 and "No such file" in out.err
    assert not (tmp_path / "new.db").exists()  # nothing written


def test_cold_search_imports_no_flask_or_spacy(tiny_kb_shared):
    """A `deskbook search` from the shell loads neither the web framework nor spaCy (issue 14: cold start)."""
    import subprocess
    import sys
    from pathlib import Path

    config, _, _ = tiny_kb_shared
    code = ("import sys; from kb.cli import main\n"
            "try:\n    main(['search', 'kettle leaking', '--db', sys.argv[1], '--k', '3'])\n"
            "except SystemExit as e:\n    assert not e.code, e.code\n"
            "print('LOADED', sorted(m for m in ('flask', 'spacy', 'werkzeug') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code, str(config.database)], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parent.parent, check=True,
                         env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"}).stdout
    assert " 1. [" in out, out  # it searched and printed hits
    assert out.strip().splitlines()[-1] == "LOADED []", out


def test_the_search_command_prints_everything_before_it_leaves_early(tiny_kb_shared, tmp_path):
    """`deskbook search` leaves without the interpreter's teardown (kb.cli._exit_now): its exit status is 0 and
    its output, piped to a file as a script would, is whole, as text and as JSON."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    config, _, _ = tiny_kb_shared
    deskbook = str(Path(sys.executable).with_name("deskbook"))
    env = {**__import__("os").environ, "HF_HUB_OFFLINE": "1"}
    for extra in ([], ["--json"]):
        with open(tmp_path / "out.txt", "w") as f:
            r = subprocess.run([deskbook, "search", "kettle leaking", "--db", str(config.database), "--k", "3", *extra],
                               stdout=f, stderr=subprocess.PIPE, text=True, env=env, timeout=120)
        out = (tmp_path / "out.txt").read_text()
        assert r.returncode == 0, r.stderr
        if extra:
            assert len(json.loads(out)) == 3
        else:
            assert " 1. [" in out and " 3. [" in out, out
