"""`deskbook answer`, `deskbook assist` and `deskbook eval answers`: JSON shapes through click's CliRunner."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from kb.cli import cli

ANSWER_KEYS = {"answer", "confidence", "abstained", "citations", "sources", "say", "checklist", "warnings"}
CITATION_KEYS = {"id", "type", "title", "heading", "status", "quoted"}
EVAL_KEYS = {"answered_correctly", "wrong_answer", "abstained_answerable", "correct_abstention", "n_answerable",
             "n_unanswerable", "latency_ms", "relabelled"}


@pytest.fixture(scope="module")
def db(corpus_kb):
    config, _ = corpus_kb
    return str(config.database)


def run(*args):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_answer_json_shape(db):
    out = json.loads(run("answer", "forgot my password", "--db", db, "--json"))
    assert set(out) == ANSWER_KEYS
    assert isinstance(out["answer"], str) and out["answer"]
    assert 0.0 <= out["confidence"] <= 1.0 and out["abstained"] is False
    assert out["citations"] and all(set(c) == CITATION_KEYS for c in out["citations"])
    assert out["citations"][0]["id"] == "sop-password-reset" and out["citations"][0]["type"] == "sop"
    assert out["sources"] and {"id", "type", "title", "score"} <= set(out["sources"][0])


def test_answer_abstains_in_json_and_text(db):
    out = json.loads(run("answer", "will it rain in manchester tomorrow", "--db", db, "--json"))
    assert out["abstained"] is True and out["citations"] == [] and out["answer"].startswith("No confident answer")
    text = run("answer", "will it rain in manchester tomorrow", "--db", db)
    assert "No confident answer found" in text and "% needed for an answer" in text


def test_answer_text(db):
    text = run("answer", "forgot my password", "--db", db)
    assert "main source: Password reset and sign-in problems" in text and "Confidence" in text
    assert "say to the customer:" in text


def test_assist_json_and_lines(db, tmp_path):
    js = tmp_path / "call.json"
    js.write_text(json.dumps({"turns": [
        {"speaker": "agent", "text": "Brightcart, how can I help?"},
        {"speaker": "customer", "text": "I'm locked out, the password reset email never arrives"}]}))
    out = json.loads(run("assist", str(js), "--db", db, "--json"))
    assert set(out) == ANSWER_KEYS and out["sources"][0]["id"] == "sop-password-reset"
    lines = tmp_path / "call.txt"
    lines.write_text("Agent: Brightcart, how can I help?\nCustomer: I'm locked out, the password reset email "
                     "never arrives\n")
    out2 = json.loads(run("assist", str(lines), "--db", db, "--json"))
    assert out2["sources"][0]["id"] == "sop-password-reset"
    text = run("assist", str(lines), "--db", db)
    assert "customer's need:" in text and "applicable SOPs:" in text


def test_assist_bad_file_is_an_input_error(db, tmp_path):
    from kb.errors import InputError

    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    result = CliRunner().invoke(cli, ["assist", str(bad), "--db", db])
    assert isinstance(result.exception, InputError)
    big = tmp_path / "pasted.txt"
    big.write_text("Customer: hello\nCustomer: " + "my parcel never came " * 600 + "\n")
    result = CliRunner().invoke(cli, ["assist", str(big), "--db", db])
    assert isinstance(result.exception, InputError)
    assert str(result.exception).startswith(f"{big}: Turn 2 is 12,599 characters long")


def test_eval_answers_json_shape(db, tmp_path):
    q = tmp_path / "q.jsonl"
    q.write_text("\n".join(json.dumps(r) for r in [
        {"query": "forgot my password", "relevant": ["sop-password-reset"]},
        {"query": "cancel order pls", "relevant": ["sop-order-cancellation"]},
        {"query": "will it rain in manchester tomorrow", "relevant": []},
    ]) + "\n")
    out = json.loads(run("eval", "answers", "--queries", str(q), "--db", db, "--json"))
    assert set(out) == EVAL_KEYS
    assert out["n_answerable"] == 2 and out["n_unanswerable"] == 1
    for k in ("answered_correctly", "wrong_answer", "abstained_answerable", "correct_abstention"):
        assert 0.0 <= out[k] <= 1.0
    assert out["answered_correctly"] == 1.0 and out["correct_abstention"] == 1.0 and out["latency_ms"] > 0
    text = run("eval", "answers", "--queries", str(q), "--db", db, "--sweep")
    assert "answered correctly" in text and "threshold" in text
