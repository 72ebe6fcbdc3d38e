"""Agreement metrics on hand-computed cases, and the `deskbook qa` commands through click's CliRunner."""

from __future__ import annotations

import csv
import json
import shutil

import pytest
from click.testing import CliRunner

from kb.cli import cli
from kb.storage import open_store
from qa_rubrics.calibrate import binary_prf, cohen_kappa
from qa_rubrics.rubric import load_rubric
from qa_rubrics.scorecards import get_scorecard
from tests.conftest import DATA

QA = DATA / "qa"
RUBRIC = str(QA / "rubric.yaml")
LABELS = str(QA / "transcripts" / "labels.jsonl")
INPUTS = str(QA / "transcripts")


@pytest.fixture(scope="module")
def kb_db(tmp_path_factory, embedder):
    from indexer.pipeline import index_paths
    from kb.config import load_config

    d = tmp_path_factory.mktemp("qa_cli")
    config = load_config(data_dir=str(d), db=str(d / "kb.db"))
    index_paths(open_store(config.database), embedder, config, [QA / "sops"], progress=False)
    return d / "kb.db"


def run(*args):
    res = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return res


def test_kappa_by_hand():
    # po = 3/4; machine pass 2, fail 2; human pass 3, fail 1; pe = (2*3 + 2*1) / 16 = 1/2 -> kappa = 1/2
    assert cohen_kappa(["pass", "pass", "fail", "fail"], ["pass", "pass", "pass", "fail"]) == pytest.approx(0.5)
    # three classes: po = 3/4, pe = (2*1 + 1*2 + 1*1) / 16 = 5/16 -> (3/4 - 5/16) / (11/16) = 7/11
    assert cohen_kappa(["pass", "fail", "na", "pass"], ["pass", "fail", "na", "fail"]) == pytest.approx(7 / 11)
    assert cohen_kappa(["pass", "fail"], ["fail", "pass"]) == pytest.approx(-1.0)
    assert cohen_kappa(["pass", "pass"], ["pass", "pass"]) is None  # undefined: both raters constant
    prf = binary_prf(["pass", "pass", "fail", "fail"], ["pass", "pass", "pass", "fail"])
    assert prf == {"precision": 1.0, "recall": pytest.approx(2 / 3), "f1": pytest.approx(0.8)}


def test_eval_command_reports_the_hand_computed_kappa(kb_db):
    res = run("qa", "eval", "--rubric", RUBRIC, "--labels", LABELS, INPUTS, "--db", str(kb_db), "--json",
              "--no-progress")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    verify = data["criteria"]["verify"]
    # machine: good pass, rude pass, vtt fail, batch-1 fail; human: pass, pass, fail, pass (see test_kappa_by_hand)
    assert verify["support"] == 4 and verify["kappa"] == pytest.approx(0.5) and verify["accuracy"] == 0.75
    assert verify["precision"] == 1.0 and verify["recall"] == pytest.approx(0.6667, abs=1e-3)
    assert data["criteria"]["recording"]["kappa"] == pytest.approx(1.0)
    o = data["overall"]
    assert o["transcripts"] == 4 and 0 <= o["accuracy"] <= 1 and o["mean_abs_score_diff"] is not None
    assert "mean_kappa" in o
    text = run("qa", "eval", "--rubric", RUBRIC, "--labels", LABELS, INPUTS, "--db", str(kb_db), "--no-progress")
    assert "verify" in text.stdout and "mean kappa" in text.stdout


def test_eval_tune_writes_a_copy_and_never_the_rubric(kb_db, tmp_path):
    before = (QA / "rubric.yaml").read_text()
    out = tmp_path / "tuned.yaml"
    res = run("qa", "eval", "--rubric", RUBRIC, "--labels", LABELS, INPUTS, "--db", str(kb_db), "--tune", str(out),
              "--json", "--no-progress")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["tuning"]["written_to"] == str(out)
    assert set(data["tuning"]["criteria"]) <= {"greeting", "empathy", "refund_steps", "closing"}
    assert (QA / "rubric.yaml").read_text() == before
    tuned = load_rubric(out)
    assert tuned.id == "test-rubric" and out.read_text().startswith("# Tuned copy")


def test_score_command_json_csv_and_skipped_files(kb_db, tmp_path):
    out_csv = tmp_path / "out.csv"
    res = run("qa", "score", "--rubric", RUBRIC, INPUTS, "--db", str(kb_db), "--no-store", "--json",
              "--csv", str(out_csv))
    assert res.exit_code == 0, res.output
    cards = json.loads(res.stdout)
    assert sorted(c["transcript_id"] for c in cards) == ["batch-1", "batch-4", "good-1", "rude-1", "vtt-1"]
    for c in cards:
        assert {"transcript_id", "rubric_id", "rubric_version", "score", "verdict", "criteria"} <= set(c)
        assert all({"id", "result", "confidence", "evidence"} <= set(x) for x in c["criteria"])
    assert "batch.jsonl, line 2" in res.stderr and "batch.jsonl, line 3" in res.stderr
    rows = list(csv.DictReader(out_csv.open()))
    assert len(rows) == 5 and rows[0]["greeting"] in ("pass", "fail", "na")
    # nothing was stored
    assert open_store(kb_db).list_scorecards() == []


def test_score_store_keeps_results_of_each_rubric_version(kb_db, tmp_path):
    db = tmp_path / "kb.db"
    shutil.copy(kb_db, db)
    good = str(QA / "transcripts" / "good.json")
    res = run("qa", "score", "--rubric", RUBRIC, good, "--db", str(db), "--store", "--no-progress")
    assert res.exit_code == 0, res.output
    assert "good-1" in res.stdout and "1 stored" in res.stdout
    v3 = tmp_path / "rubric-v3.yaml"
    v3.write_text((QA / "rubric.yaml").read_text().replace("version: 2", "version: 3"))
    assert run("qa", "score", "--rubric", str(v3), good, "--db", str(db), "--no-progress").exit_code == 0
    rows = open_store(db).list_scorecards(transcript="good-1", order="scored_at")
    assert [r["rubric_version"] for r in rows] == [2, 3]
    stored = get_scorecard(open_store(db), rows[0]["id"])
    assert "jo.bloggs@example.com" not in json.dumps(stored) and "[EMAIL]" in json.dumps(stored)


def test_validate_command_and_help(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((QA / "rubric.yaml").read_text().replace("method: regex", "method: regexp"))
    res = run("qa", "validate", RUBRIC, str(bad))
    assert res.exit_code == 2
    assert "test-rubric v2" in res.stdout and f"{bad}, line 26: sections[0].criteria[1].method" in res.stdout
    assert "qa" in run("--help").stdout
    assert "score" in run("qa", "--help").stdout and "eval" in run("qa", "--help").stdout


def test_unreadable_only_inputs_exit_with_an_error(tmp_path):
    p = tmp_path / "x.json"
    p.write_text("{not json")
    res = run("qa", "score", "--rubric", RUBRIC, str(p), "--db", str(tmp_path / "none.db"), "--no-progress")
    assert res.exit_code == 2 and "invalid JSON" in res.stderr
