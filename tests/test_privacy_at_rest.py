"""No personal data at rest: values planted through every entry point are never found in the database
files (after a checkpoint, the WAL included) or anywhere in the data folder.

Entry points: `deskbook index` (CLI), the manager upload, the API (search, answers, stateless assist),
QA import (`deskbook qa score --store` and the web import), live assist conversations, and the search
page (its query log). Each test plants the same values and greps every file under the data folder,
case-insensitively (the lexical index holds lower-cased words).
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from kb.cli import cli
from tests.conftest import CORPUS
from tests.web_fixtures import *  # noqa: F403
from tests.web_fixtures import bearer

CARD, EMAIL, PHONE, IBAN, NAME = ("4111111111111111", "zanzi.planted@example.org", "+44 7700 900123",
                                  "GB82WEST12345698765432", "Elena Zanzibarova")
NEEDLES = [b"4111111111111111", b"4111 1111 1111 1111", b"zanzi.planted", b"planted@example", b"7700 900123",
           b"7700900123", b"gb82west", b"zanzibarova", b"quillerby", b"ze2 9qp",
           b"zq7xwv93", b"71938264"]
PII = (f"My card number is {CARD} and my e-mail is {EMAIL}, call me on {PHONE}. "
       f"Please refund to IBAN {IBAN}. I moved to 27 Quillerby Gardens, Lerwick ZE2 9QP. "
       f"My password is Zq7xWv93! and it's sort code 20-93-47, account 71938264. Thanks, {NAME}")


_GREP = """
import sys
from pathlib import Path
folder, needles = Path(sys.argv[1]), [n.encode() for n in sys.argv[2:]]
for f in sorted(folder.rglob("*")):
    if f.is_file():
        data = f.read_bytes().lower()
        for n in needles:
            if n in data:
                print(f"{f.relative_to(folder)}: {n.decode()}")
"""


def leaks(folder: Path) -> list[str]:
    """'file: needle' for every planted value found in any file under `folder`.

    The files are read by another process: closing a file descriptor of an open SQLite database in
    this process would drop SQLite's POSIX locks on it (see "How To Corrupt An SQLite Database")."""
    out = subprocess.run([sys.executable, "-c", _GREP, str(folder), *(n.decode() for n in NEEDLES)],
                         capture_output=True, text=True, check=True)
    return out.stdout.splitlines()


@pytest.fixture(scope="module")
def data_dir(app) -> Path:
    return Path(app.extensions["deskbook"].config.data_dir)


def assert_clean(app, data_dir: Path) -> None:
    store = app.extensions["deskbook"].store
    assert store.checkpoint(), "the WAL could not be emptied"
    assert leaks(data_dir) == []


def test_the_planted_values_are_found_when_present(tmp_path):
    """The grep itself works: each needle is found in a file that holds the planted text."""
    (tmp_path / "x.txt").write_text(PII.lower())
    assert {line.split(": ")[1] for line in leaks(tmp_path)} >= {"4111111111111111", "zanzi.planted", "gb82west",
                                                                "zanzibarova", "7700 900123"}


def test_cli_index_of_tickets(app, data_dir, tmp_path):
    src = tmp_path / "tickets"
    src.mkdir()
    (src / "t.jsonl").write_text(json.dumps({"id": "PII-1", "subject": f"Refund for {NAME}", "question": PII,
                                             "answer": f"Refunded {NAME} to {IBAN}; confirmation sent to {EMAIL}."})
                                 + "\n", encoding="utf-8")
    (src / "t.csv").write_text(f'id,subject,question,answer\nPII-2,"Card {CARD}","{PII}","Called back on {PHONE}"\n',
                               encoding="utf-8")
    db = app.extensions["deskbook"].config.database
    res = CliRunner().invoke(cli, ["index", str(src), "--db", db, "--json"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["added"] == 2
    doc = app.extensions["deskbook"].store.get_document("PII-1")
    assert "[CARD]" in doc.body and "[EMAIL]" in doc.body and "[IBAN]" in doc.body and "[NAME]" in doc.body
    assert_clean(app, data_dir)


def test_manager_upload_of_tickets(app, clients, data_dir):
    line = json.dumps({"id": "PII-UP", "subject": "Refund", "question": PII, "answer": f"Done for {NAME}."})
    r = clients["manager"].post("/manager/uploads", data={"files": [(io.BytesIO(line.encode()), "t.jsonl")]},
                                content_type="multipart/form-data")
    assert r.status_code == 302
    job = app.extensions["deskbook"].jobs.wait(r.headers["Location"].split("job=")[1], timeout=300)
    assert job.status == "done", job.to_dict()
    body = clients["agent"].get("/api/v1/documents/PII-UP").get_json()["body"]
    assert "[CARD]" in body and CARD not in body
    uploads = data_dir / "uploads"
    assert not uploads.exists() or not any(uploads.rglob("*")), "the uploaded file was kept"
    assert_clean(app, data_dir)


def test_api_search_answer_and_assist(app, tokens, data_dir):
    c = app.test_client()
    h = bearer(tokens["agent"])
    assert c.get("/api/v1/search", query_string={"q": f"refund {NAME} {CARD} {EMAIL}"}, headers=h).status_code == 200
    assert c.post("/api/v1/answer", json={"question": PII}, headers=h).status_code == 200
    r = c.post("/api/v1/assist", json={"turns": [{"speaker": "customer", "text": PII}]}, headers=h)
    assert r.status_code == 200
    assert_clean(app, data_dir)


def test_search_page_query_log(app, clients, data_dir):
    assert clients["agent"].get("/", query_string={"q": f"where is the refund for {NAME}, {PHONE}"}).status_code == 200
    assert_clean(app, data_dir)


def test_live_assist_conversation(app, tokens, data_dir):
    c = app.test_client()
    r = c.post("/api/v1/assist/conversations/pii-call/turns", headers=bearer(tokens["agent"]),
               json={"turns": [{"speaker": "customer", "text": PII}, {"speaker": "agent", "text": f"Thanks {NAME}."}]})
    assert r.status_code == 200, r.get_json()
    shown = json.dumps(r.get_json())
    assert CARD not in shown and "zanzibarova" not in shown.lower() and "[CARD]" in shown
    assert_clean(app, data_dir)


def test_qa_import_on_the_web(app, clients, data_dir):
    t = {"id": "pii-call", "agent": "Sam", "turns": [
        {"speaker": "agent", "text": "Thank you for calling Brightcart, my name is Sam."},
        {"speaker": "customer", "text": PII}, {"speaker": "agent", "text": f"Thanks {NAME}, all sorted."}]}
    r = clients["analyst"].post("/qa/import", data={"files": [(io.BytesIO(json.dumps(t).encode()), "pii.json")],
                                                    "rubric": "phone-support"}, content_type="multipart/form-data")
    assert r.status_code == 302, r.get_data(as_text=True)[:300]
    job = app.extensions["deskbook"].jobs.wait(r.headers["Location"].split("job=")[1], timeout=300)
    assert job.status == "done", job.to_dict()
    assert_clean(app, data_dir)


def test_qa_score_store_on_the_command_line(app, data_dir, tmp_path):
    f = tmp_path / "pii-cli.txt"
    f.write_text(f"Agent: Thank you for calling Brightcart, my name is Sam.\nCustomer: {PII}\n"
                 f"Agent: Thanks {NAME}, I have refunded it.\n", encoding="utf-8")
    db = app.extensions["deskbook"].config.database
    res = CliRunner().invoke(cli, ["qa", "score", "--rubric", str(CORPUS / "rubrics" / "phone-support.yaml"), str(f),
                                   "--db", db, "--store"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert_clean(app, data_dir)


# -- newer redaction rules reach tickets already stored ---------------------------------------------
def test_newer_redaction_rules_reach_stored_tickets_and_their_history(tmp_path, embedder, monkeypatch, backend_store):
    """A ticket stored under rules that missed addresses (and edited once, so it has history) is redacted
    again by the next index run, though its file is gone; the run after that changes nothing. On SQLite and
    on PostgreSQL."""
    import indexer.privacy
    import kb.redact
    from indexer.pipeline import index_paths
    from kb.config import load_config

    store = backend_store
    config = load_config(data_dir=str(tmp_path), db=store.url)
    src, other = tmp_path / "upload", tmp_path / "later"
    src.mkdir()
    other.mkdir()
    f = src / "t.csv"
    row = "T-9,Parcel not delivered,Please send it to 27 Quillerby Gardens ZE2 9QP instead. {},Rerouted to the new address."
    with monkeypatch.context() as old_rules:  # version 1 of the rules: no addresses, labelled postcodes only
        old_rules.setattr(indexer.privacy, "VERSION", "1")
        old_rules.setattr(kb.redact, "street_addresses", lambda text: iter(()))
        old_rules.setattr(kb.redact, "uk_postcodes", lambda text: iter(()))
        for text in ("", "Thanks."):
            f.write_text("id,subject,question,answer\n" + row.format(text) + "\n", encoding="utf-8")
            index_paths(store, embedder, config, [src], progress=False)
    assert "Quillerby" in store.get_document("T-9").body and len(store.document_versions("T-9")) == 2
    f.unlink()  # as an upload's raw file is, once indexed

    (other / "s.md").write_text("# Delivery\n\nWe reroute parcels on request.\n", encoding="utf-8")
    report = index_paths(store, embedder, config, [other], progress=False)
    assert any("1 stored tickets redacted again" in n for n in report.notes)
    versions = store.document_versions("T-9")
    for v in versions:
        doc = store.get_version("T-9", int(v["version"]))
        text = doc.title + doc.body + json.dumps(doc.metadata)
        assert "Quillerby" not in text and "ZE2 9QP" not in text and "[ADDRESS]" in text
    assert not any("quillerby" in c.text.lower() for c in store.get_chunks("T-9"))
    if not store.url.startswith("postgresql"):  # SQLite: grep its files
        assert store.checkpoint()
        assert [x for x in leaks(tmp_path) if "quillerby" in x or "ze2 9qp" in x] == []  # no copy left in any file

    again = index_paths(store, embedder, config, [other], progress=False)
    assert not again.notes and again.updated == again.added == 0
    assert len(store.document_versions("T-9")) == len(versions)


# -- a customer's erasure request, and the QA retention period ---------------------------------------------
def test_erasure_and_retention_leave_no_copy_of_a_transcript(tmp_path):
    """`deskbook qa delete` removes a transcript and all scored on it, `deskbook report purge` the calls past
    `qa_retention_days`; neither leaves its words in any file (SQLite's secure delete, the WAL emptied)."""
    data = tmp_path / "data"
    db = str(data / "kb.db")
    rubric = str(CORPUS / "rubrics" / "phone-support.yaml")
    for name, date, word in (("erase-me", "2026-11-30", "zorblaxian"), ("old-call", "2024-02-01", "quintaphonic")):
        f = tmp_path / f"{name}.txt"
        f.write_text(f"# id: {name}\n# agent: Sam\n# date: {date}\nAgent: Thank you for calling, my name is Sam.\n"
                     f"Customer: my {word} kettle leaks\nAgent: I'm sorry, let me sort that out.\n", encoding="utf-8")
        res = CliRunner().invoke(cli, ["qa", "score", "--rubric", rubric, str(f), "--db", db, "--store"],
                                 catch_exceptions=False)
        assert res.exit_code == 0, res.output
        f.unlink()
    words = ["zorblaxian", "quintaphonic"]
    found = subprocess.run([sys.executable, "-c", _GREP, str(data), *words], capture_output=True, text=True, check=True)
    assert len(found.stdout.splitlines()) >= 2  # both stored

    res = CliRunner().invoke(cli, ["qa", "delete", "erase-me", "--db", db], input="n\n")
    assert res.exit_code == 1  # asked, and refused: nothing removed
    res = CliRunner().invoke(cli, ["qa", "delete", "erase-me", "--db", db, "--yes", "--json"], catch_exceptions=False)
    assert res.exit_code == 0 and json.loads(res.output)["transcripts"] == 1, res.output
    res = CliRunner().invoke(cli, ["report", "purge", "--qa-days", "365", "--db", db, "--json"], catch_exceptions=False)
    assert res.exit_code == 0 and json.loads(res.output)["qa"]["scorecards"] == 1, res.output
    res = CliRunner().invoke(cli, ["qa", "delete", "erase-me", "--db", db, "--yes"])
    assert res.exit_code == 1 and "nothing removed" in res.output

    from kb.storage import open_store

    store = open_store(db, create=False)
    assert store.table_count("qa_scorecards") == 0 and store.checkpoint()
    store.close()
    found = subprocess.run([sys.executable, "-c", _GREP, str(data), *words], capture_output=True, text=True, check=True)
    assert found.stdout == ""


def test_erasing_a_ticket_leaves_no_version_chunk_or_vector_of_it(tmp_path, embedder, backend_store):
    """`erase_document` (both backends) removes every version, unlike `delete_document`'s tombstone."""
    from indexer.pipeline import index_paths
    from kb.config import load_config
    from kb.search import Searcher

    store = backend_store
    config = load_config(data_dir=str(tmp_path), db=store.url)
    src = tmp_path / "tickets"
    src.mkdir()
    f = src / "t.csv"
    for text in ("Kettle from the Glimmerwick range leaks.", "Kettle from the Glimmerwick range leaks. Thanks."):
        f.write_text(f"id,subject,question,answer\nT-1,Leaking kettle,{text},Replaced it.\n"
                     "T-2,Late parcel,Where is my parcel?,Tracked it.\n", encoding="utf-8")
        index_paths(store, embedder, config, [src], progress=False)
    assert len(store.document_versions("T-1")) == 2
    assert store.erase_document("T-1", actor="dpo") == 2
    assert store.document_versions("T-1") == [] and not store.has_document("T-1")
    assert store.erase_document("T-1") == 0
    [rec] = store.erasures(subject="T-1")  # the second request found nothing: not recorded again
    assert (rec["kind"], rec["actor"], rec["counts"]["versions"]) == ("document", "dpo", 2)
    hits = Searcher(store, config, embedder).search("Glimmerwick kettle leaks", k=5)
    assert "T-1" not in [h.id for h in hits] and "T-2" in {h.id for h in Searcher(store, config, embedder).search(
        "where is my parcel", k=5)}


def test_the_erase_command_refuses_sops_and_leaves_no_copy_in_any_file(tmp_path, embedder, capsys):
    from indexer.pipeline import index_paths
    from kb.config import load_config
    from kb.storage import open_store

    data = tmp_path / "data"
    db = str(data / "kb.db")
    config = load_config(data_dir=str(data), db=db)
    store = open_store(db)
    src = tmp_path / "src"
    src.mkdir()
    (src / "t.csv").write_text("id,subject,question,answer\nT-7,Leaking kettle,My Snorvaldine kettle leaks,"
                               "Replaced it.\n", encoding="utf-8")
    (src / "sop-kettles.md").write_text("# Kettles\n\nReplace a leaking kettle.\n", encoding="utf-8")
    index_paths(store, embedder, config, [src], progress=False)
    store.close()
    from kb.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["store", "erase", "sop-kettles", "--db", db, "--yes"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "sop-kettles: not a ticket" in err and "archive" in err
    res = CliRunner().invoke(cli, ["store", "erase", "T-7", "--db", db, "--yes", "--json"], catch_exceptions=False)
    assert res.exit_code == 0 and json.loads(res.output)["erased"] == {"T-7": 1}, res.output
    (src / "t.csv").unlink()  # the source row goes too, or the next index run brings the ticket back
    res = CliRunner().invoke(cli, ["report", "erasures", "--db", db, "--json"], catch_exceptions=False)
    [rec] = json.loads(res.output)["erasures"]
    assert (rec["kind"], rec["subject"], rec["counts"]) == ("document", "T-7", {"versions": 1, "chunks": 1})
    assert rec["actor"].startswith("cli")
    res = CliRunner().invoke(cli, ["report", "erasures", "--db", db], catch_exceptions=False)
    header, row = res.output.splitlines()
    assert header.split()[:2] == ["when", "(UTC)"] and row.split()[1:3] == ["document", "T-7"], res.output
    assert row.endswith("1 chunks, 1 versions")
    res = CliRunner().invoke(cli, ["report", "erasures", "--db", db, "--id", "T-8"], catch_exceptions=False)
    assert res.output.strip() == "no erasures recorded for T-8"
    with pytest.raises(SystemExit) as exc:
        main(["report", "erasures", "--db", db, "--since", "last week"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "--since 'last week' is not a date" in err and "YYYY-MM-DD" in err
    store = open_store(db, create=False)
    assert store.checkpoint()
    store.close()
    found = subprocess.run([sys.executable, "-c", _GREP, str(data), "snorvaldine"], capture_output=True, text=True,
                           check=True)
    assert found.stdout == ""


def test_an_ordinary_edit_does_not_redact_the_history_again(tmp_path, embedder, monkeypatch):
    """Earlier versions are redacted once (before redaction was on, or under newer rules), not on every edit."""
    from indexer.pipeline import index_paths
    from indexer.privacy import TicketRedactor
    from kb.config import load_config
    from kb.storage import open_store

    config = load_config(data_dir=str(tmp_path), db=str(tmp_path / "kb.db"))
    store = open_store(config.database)
    src = tmp_path / "t"
    src.mkdir()
    calls = []
    real = TicketRedactor.redact_version
    monkeypatch.setattr(TicketRedactor, "redact_version", lambda self, v: calls.append(v.id) or real(self, v))
    for text in ("My kettle leaks.", "My kettle leaks. Thanks.", "My kettle leaks. Thanks again."):
        (src / "t.csv").write_text(f"id,subject,question,answer\nT-1,Kettle,{text},Replaced.\n", encoding="utf-8")
        index_paths(store, embedder, config, [src], progress=False)
    assert len(store.document_versions("T-1")) == 3 and calls == []
