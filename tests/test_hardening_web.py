"""The web app under the hardening review's findings: private conversations, no 500 on bad input, partial
SOP updates, sessions ended at sign-out, throttling by address, the last admin, safe CSV exports,
upload results a manager understands, and temporary files cleaned at start."""

from __future__ import annotations

import io
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from kb.cli import cli
from tests.web_fixtures import *  # noqa: F403
from tests.web_fixtures import PASSWORDS, Signed, bearer, csrf_from


@pytest.fixture(scope="module")
def agent2(app):
    app.extensions["deskbook"].accounts.add_user("agent2", "agent", "agent2-pass-1")
    return Signed(app, "agent2", "agent2-pass-1")


# -- live assist: private, redacted ------------------------------------------------------------
def test_conversations_belong_to_whoever_started_them(app, clients, agent2, tokens):
    me = clients["agent"]
    r = me.api("POST", "/api/v1/assist/conversations/call-0042/turns",
               json={"turns": [{"speaker": "customer", "text": "My card is 4111 1111 1111 1111 and e-mail "
                                                               "jo.bloggs@example.com, the kettle leaks"}]})
    assert r.status_code == 200
    stored = app.extensions["deskbook"].store.get_conversation("call-0042").turns[0]["text"]
    assert "[CARD]" in stored and "[EMAIL]" in stored and "4111" not in stored and "bloggs" not in stored
    assert me.get("/api/v1/assist/conversations/call-0042").status_code == 200
    # another agent: not listed, not readable, cannot add turns, cannot open the page
    assert "call-0042" not in [c["id"] for c in agent2.get("/api/v1/assist/conversations").get_json()]
    assert agent2.get("/api/v1/assist/conversations/call-0042").status_code == 404
    r = agent2.api("POST", "/api/v1/assist/conversations/call-0042/turns",
                   json={"turns": [{"speaker": "customer", "text": "hijack"}]})
    assert r.status_code == 404
    assert agent2.get("/assist/call-0042").status_code == 404
    assert len(app.extensions["deskbook"].store.get_conversation("call-0042").turns) == 1
    # an admin may, and may start one for an agent (a telephony bridge); an agent may not
    assert clients["admin"].get("/api/v1/assist/conversations/call-0042").status_code == 200
    c = app.test_client()
    r = c.post("/api/v1/assist/conversations", headers=bearer(tokens["admin"]), json={"id": "bridge-7", "owner": "agent"})
    assert r.status_code == 201
    assert me.get("/api/v1/assist/conversations/bridge-7").status_code == 200
    r = c.post("/api/v1/assist/conversations", headers=bearer(tokens["agent"]), json={"id": "x-1", "owner": "agent2"})
    assert r.status_code == 400 and r.get_json()["error"]["field"] == "owner"


def test_a_whole_transcript_in_one_turn_is_refused_before_anything_is_stored(app, clients):
    me = clients["agent"]
    long_turn = "my parcel never came " * 500  # 10,500 characters: no turn is that long
    r = me.api("POST", "/api/v1/assist/conversations/call-0043/turns",
               json={"turns": [{"speaker": "customer", "text": "hello"}, {"speaker": "customer", "text": long_turn}]})
    assert r.status_code == 400
    err = r.get_json()["error"]
    assert err["field"] == "turns" and "Turn 2 is 10,500 characters long" in err["message"]
    assert me.get("/api/v1/assist/conversations/call-0043").status_code == 404
    r = me.api("POST", "/api/v1/assist/conversations/call-0043/turns", json={"text": "Customer: " + long_turn})
    assert r.status_code == 400 and "at most 10,000" in r.get_json()["error"]["message"]


# -- no 500 on bad input -----------------------------------------------------------------------
def test_bad_json_bodies_and_numbers_are_400s(clients):
    m = clients["manager"]
    cases = [
        m.api("POST", "/api/v1/answer", data='{"question": "refund \\ud800"}', content_type="application/json"),
        m.api("POST", "/api/v1/answer", data='{"question": ' + "[" * 5000 + "]" * 5000 + "}",
              content_type="application/json"),
        m.api("POST", "/api/v1/answer", data='{"question": ' + '{"a": ' * 30 + '"x"' + "}" * 30 + "}",
              content_type="application/json"),
        m.api("POST", "/api/v1/sops/sop-refunds/review", data=b'{"review_by": "\xff\xfe"}',
              content_type="application/json"),
        m.get("/api/v1/documents/sop-refunds?chunk=99999999999999999999"),
        m.get("/api/v1/search?q=refund&k=1e400"),
        m.api("POST", "/api/v1/sops/sop-refunds/restore", json={"version": 10 ** 30}),
        m.api("PUT", "/api/v1/sops/sop-refunds", json={"base_version": 2 ** 40, "body": "x"}),
    ]
    for r in cases:
        assert r.status_code == 400, (r.status_code, r.get_json())
        assert r.get_json()["error"]["code"] == "invalid_input"
    assert m.get("/api/v1/sops/sop-refunds/versions/99999999999999999999").status_code == 404
    assert m.get("/manager/sops/sop-refunds/versions/99999999999999999999").status_code == 404
    assert m.get("/doc/sop-refunds?chunk=99999999999999999999").status_code == 200
    assert m.get("/manager/sops/sop-refunds/diff?a=99999999999999999999").status_code in (200, 404)


def test_a_very_long_upload_file_name_is_indexed(app, clients):
    name = "x" * 296 + ".md"
    body = b"---\nid: sop-long-name\ntitle: Long name\n---\n# Long name\n\n## Procedure\n1. Do it.\n"
    r = clients["manager"].api("POST", "/api/v1/uploads", data={"files": [(io.BytesIO(body), name)]},
                               content_type="multipart/form-data")
    assert r.status_code == 202
    job = app.extensions["deskbook"].jobs.wait(r.get_json()["id"], timeout=300)
    assert job.status == "done", job.to_dict()
    assert app.extensions["deskbook"].store.has_document("sop-long-name")


# -- partial PUT -------------------------------------------------------------------------------
def test_a_partial_put_keeps_the_fields_it_does_not_name(clients):
    m = clients["manager"]
    doc = m.get("/api/v1/documents/sop-gift-cards").get_json()
    r = m.api("PUT", "/api/v1/sops/sop-gift-cards",
              json={"title": doc["title"], "body": doc["body"], "owner": "Lee", "tags": ["cards", "payments"],
                    "status": "draft", "review_by": "2031-01-31", "base_version": doc["version"]})
    assert r.status_code == 200
    v = r.get_json()["version"]
    # the docs' example: only the text, the base version and a note
    r = m.api("PUT", "/api/v1/sops/sop-gift-cards", json={"body": doc["body"] + "\nOne more line.\n",
                                                           "base_version": v, "note": "why"})
    assert r.status_code == 200, r.get_json()
    after = r.get_json()
    assert (after["owner"], after["tags"], after["status"], after["review_by"]) == (
        "Lee", ["cards", "payments"], "draft", "2031-01-31")
    assert after["title"] == doc["title"] and "One more line." in after["body"]
    assert m.api("PUT", "/api/v1/sops/sop-gift-cards", json={"body": "x"}).status_code == 400  # base_version


# -- sessions, throttling, admins ----------------------------------------------------------------
def test_a_copied_session_cookie_stops_working_at_sign_out(app):
    s = Signed(app, "analyst")
    cookie = s.client.get_cookie("session").value
    assert s.get("/qa/").status_code == 200
    assert s.post("/logout").status_code == 302
    thief = app.test_client()
    thief.set_cookie("session", cookie)
    assert thief.get("/qa/").status_code == 302  # sent to sign in
    assert thief.get("/api/v1/me").status_code == 401


def _login(app, addr: str, user: str, password: str):
    c = app.test_client()
    c.environ_base["REMOTE_ADDR"] = addr
    token = csrf_from(c.get("/login").get_data(as_text=True))
    return c.post("/login", data={"username": user, "password": password, "csrf_token": token})


def test_wrong_passwords_slow_the_address_down_but_never_lock_the_user_out(app):
    app.extensions["deskbook"].accounts.add_user("target", "agent", "target-pass-1")
    for _ in range(5):
        assert _login(app, "203.0.113.9", "target", "guess-guess").status_code == 401
    r = _login(app, "203.0.113.9", "target", "target-pass-1")
    assert r.status_code == 429 and "Too many failed attempts" in r.get_data(as_text=True)
    assert _login(app, "198.51.100.4", "target", "target-pass-1").status_code == 302  # the real user, elsewhere
    from webapp.auth import throttle

    assert app.extensions["deskbook"].store.login_failures(throttle.keys("203.0.113.9", "target"), 0)


def test_the_last_admin_cannot_be_demoted_or_disabled(app, clients):
    acc = app.extensions["deskbook"].accounts
    admins = [u for u in acc.list_users() if u.role == "admin" and u.active]
    assert [u.username for u in admins] == ["admin"]
    a = clients["admin"]
    r = a.post("/admin/users", data={"action": "role", "username": "admin", "role": "agent"})
    assert r.status_code == 400 and "last active admin" in r.get_data(as_text=True)
    db = app.extensions["deskbook"].config.database
    res = CliRunner().invoke(cli, ["users", "disable", "admin", "--db", db])
    assert res.exit_code != 0 and acc.user("admin").active and acc.user("admin").role == "admin"
    acc.add_user("admin2", "admin", "admin2-pass-1")
    acc.set_role("admin2", "agent")  # another admin existed: fine
    assert acc.user("admin2").role == "agent"


# -- CSV exports ---------------------------------------------------------------------------------
def test_csv_exports_neutralise_formulas(app, clients):
    from kb.insights.querylog import QueryLog

    svc = app.extensions["deskbook"]
    ql = QueryLog(svc.store, svc.config)
    yesterday = datetime.now(UTC) - timedelta(days=1)
    for i, who in enumerate(("mallory", "trudy", "eve", "oscar")):
        ql.log(f"=HYPERLINK(A1) voucher balance question {i}", [], mode="hybrid", agent=who, top_score=0.05,
               ts=yesterday)
    text = clients["manager"].get("/manager/insights/gaps.csv").get_data(as_text=True)
    assert "HYPERLINK" in text
    for line in text.splitlines():
        for cell in line.split(","):
            assert not cell.lstrip('"').startswith(("=", "+", "@")), line
    from kb.csvout import safe_cell
    from kb.insights.charts import to_csv

    assert to_csv([{"a": "=1+1", "b": -3.5, "c": "-2", "d": "@SUM(A1)"}]).splitlines()[1] == "'=1+1,-3.5,-2,'@SUM(A1)"
    assert safe_cell("+44 7700") == "'+44 7700" and safe_cell("plain") == "plain"


# -- uploads a manager understands ---------------------------------------------------------------
def test_a_failed_upload_is_red_with_a_message_a_manager_understands(app, clients):
    m = clients["manager"]
    r = m.post("/manager/uploads", data={"files": [(io.BytesIO(b"ticket_ref,text\n1,hello\n"), "export.csv")]},
               content_type="multipart/form-data")
    job_id = r.headers["Location"].split("job=")[1]
    job = app.extensions["deskbook"].jobs.wait(job_id, timeout=300)
    assert job.status == "failed"
    text = json.dumps(job.to_dict())
    assert "export.csv" in text and "--map" not in text and "uploads/" not in text and "/tmp" not in text
    page = m.get(f"/manager/uploads?job={job_id}").get_data(as_text=True)
    assert "status-failed" in page and "export.csv" in page and "no `id` column" in page


def test_a_pdf_upload_says_what_to_do_on_the_upload_page(clients):
    r = clients["manager"].post("/manager/uploads", data={"files": [(io.BytesIO(b"%PDF-1.7"), "Refunds SOP.pdf")]},
                                content_type="multipart/form-data")
    page = r.get_data(as_text=True)
    assert r.status_code == 400 and "PDF files cannot be read" in page and "Markdown (.md)" in page
    assert 'enctype="multipart/form-data"' in page  # the form is right there, not a dead end


# -- temporary files -----------------------------------------------------------------------------
def test_temporary_files_of_killed_processes_are_removed_at_start(web_config, embedder):
    from kb.ann import VectorIndex
    from kb.storage import derived_path, open_store
    from webapp.services import Services

    store = open_store(web_config.database)
    faiss = derived_path(store, web_config.data_dir, "faiss")
    dead = faiss.with_name(f"{faiss.name}.tmp-{_dead_pid()}-1")
    dead.write_bytes(b"half a file")
    mine = faiss.with_name(f"{faiss.name}.tmp-{os.getpid()}-1")
    mine.write_bytes(b"being written")
    VectorIndex(store, web_config)
    assert not dead.exists() and mine.exists()
    mine.unlink()
    stale = Path(web_config.data_dir) / "uploads" / "20260101-000000-lee"
    stale.mkdir(parents=True)
    (stale / "tickets.csv").write_text("id,question\n1,card 4111111111111111\n")
    Services(web_config, store=store, embedder=embedder).close()
    assert not stale.exists()


def _dead_pid() -> int:
    import subprocess
    import sys

    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_sign_in_still_works_for_everyone(app):
    for role, pw in PASSWORDS.items():
        assert _login(app, "192.0.2.1", role, pw).status_code == 302
