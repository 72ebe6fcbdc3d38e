"""`deskbook model adapt` on a small tagged ticket set: before/after printed, the model saved only when it
does better, nothing adopted without --adopt, and --adopt writing the setting and re-embedding."""

from __future__ import annotations

import json
import random

import pytest
from click.testing import CliRunner

from kb.cli import cli

NEEDS = {
    "refunds": ["where is my refund for order {n}", "refund not received after return {n}",
                "money back still missing {n}", "when will the refund for {n} arrive"],
    "password": ["cannot log in, reset password {n}", "password reset email never came {n}",
                 "locked out of my account {n}", "forgot my password again {n}"],
    "delivery": ["parcel {n} is late", "courier has not delivered order {n}", "tracking stuck for {n}",
                 "delivery date passed for {n}"],
    "damaged": ["item {n} arrived broken", "box crushed and kettle {n} cracked", "screen damaged on arrival {n}",
                "toaster {n} came dented"],
    "promo": ["discount code {n} rejected", "voucher {n} says invalid", "promo code {n} not applied",
              "coupon {n} expired too early"],
    "invoice": ["need a VAT invoice for {n}", "invoice for order {n} missing", "company invoice {n} wrong address",
                "receipt for {n} please"],
}
ANSWERS = {"refunds": "Checked the refund; it goes back to the original payment method within 5 days.",
           "password": "Sent a new reset link and checked the spam folder with the customer.",
           "delivery": "Chased the courier and gave the customer the new delivery date.",
           "damaged": "Arranged a replacement and a free collection of the damaged item.",
           "promo": "Explained the code's conditions and applied the discount manually.",
           "invoice": "Issued a VAT invoice from the order page and e-mailed it."}


@pytest.fixture(scope="module")
def ticket_kb(tmp_path_factory, embedder):
    from indexer.pipeline import index_paths
    from kb.config import load_config
    from kb.storage import open_store

    d = tmp_path_factory.mktemp("adapt")
    rng = random.Random(3)
    rows, n = [], 0
    for tag, questions in NEEDS.items():
        for q in questions:
            for _ in range(2):
                n += 1
                rows.append({"id": f"T-{n}", "subject": q.format(n=n)[:40], "question": q.format(n=n),
                             "answer": ANSWERS[tag], "tags": [tag, rng.choice(["email", "chat"])]})
    (d / "tickets.jsonl").write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    config = load_config(data_dir=str(d), db=str(d / "kb.db"))
    store = open_store(config.database)
    index_paths(store, embedder, config, [d / "tickets.jsonl"], progress=False)
    return d, config, store


def run(*args):
    return CliRunner().invoke(cli, ["model", "adapt", *args], catch_exceptions=False)


def test_no_gain_says_so_and_changes_nothing(ticket_kb, tmp_path):
    d, config, store = ticket_kb
    conf = tmp_path / "deskbook.toml"
    res = run("--db", config.database, "--epochs", "1", "--max-pairs", "16", "--batch-size", "8", "--lr", "0",
              "--adopt", "--config-file", str(conf), "--out", str(tmp_path / "m"), "-q")
    assert res.exit_code == 0, res.output
    assert "before: hit@1" in res.output and "after:  hit@1" in res.output
    assert "no better" in res.output and "not adopted" in res.output
    assert not (tmp_path / "m").exists() and not conf.exists()
    assert store.get_meta("model") == "all-MiniLM-L6-v2"


def test_adopt_writes_the_setting_and_reembeds(ticket_kb, tmp_path, monkeypatch):
    import indexer.adapt as adapt_mod

    d, config, store = ticket_kb
    monkeypatch.setattr(adapt_mod, "MIN_GAIN", -1.0)  # count any result as better: the adoption path is tested
    conf = tmp_path / "deskbook.toml"
    conf.write_text('# ours\nsearch_k = 7\n', encoding="utf-8")
    out = tmp_path / "adapted"
    res = run("--db", config.database, "--epochs", "1", "--max-pairs", "16", "--batch-size", "8",
              "--out", str(out), "-q", "--json")
    report = json.loads(res.stdout)
    assert report["improved"] and report["saved_to"] == str(out.resolve()) and not report["adopted"]
    assert (out / "config.json").exists() or (out / "modules.json").exists()
    assert conf.read_text(encoding="utf-8") == '# ours\nsearch_k = 7\n'  # nothing adopted without --adopt
    out2 = tmp_path / "adapted2"
    res = run("--db", config.database, "--epochs", "1", "--max-pairs", "16", "--batch-size", "8",
              "--out", str(out2), "--adopt", "--config-file", str(conf), "-q")
    assert res.exit_code == 0, res.output
    assert f'model = "{out2.resolve().as_posix()}"' in conf.read_text(encoding="utf-8")
    assert "search_k = 7" in conf.read_text(encoding="utf-8")
    assert store.get_meta("model") == str(out2.resolve())
    assert store.vector_count() == store.count_chunks()


def test_refuses_to_overwrite_and_explains_too_little_data(ticket_kb, tmp_path):
    from kb.embed import default_model_path

    d, config, store = ticket_kb
    res = CliRunner().invoke(cli, ["model", "adapt", "--db", config.database, "--holdout", "1.5"])
    assert res.exit_code != 0
    import indexer.adapt as adapt_mod
    from kb.errors import InputError

    with pytest.raises(InputError):
        adapt_mod._check_target(__import__("pathlib").Path(default_model_path()), None)
