"""`deskbook users ...` and `deskbook serve` (a real waitress process answering /healthz)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT

DESKBOOK = str(Path(sys.executable).with_name("deskbook"))


def run(*args, db, input=None):
    env = {**os.environ, "DESKBOOK_DB": str(db), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([DESKBOOK, *args], capture_output=True, text=True, env=env, input=input, cwd=ROOT,
                          timeout=120)


def test_users_add_prints_a_generated_password_and_is_safe_to_rerun(tmp_path):
    from kb.storage import open_store
    from webapp.accounts import Accounts

    db = tmp_path / "kb.db"
    r = run("users", "add", "alice", "--role", "manager", db=db)
    assert r.returncode == 0, r.stderr
    password = r.stdout.strip().rsplit("password: ", 1)[1]
    assert len(password) >= 12
    acc = Accounts(open_store(db))
    assert acc.authenticate("alice", password).role == "manager"
    again = run("users", "add", "alice", "--role", "manager", db=db)
    assert again.returncode == 5 and "already exists" in again.stderr
    skip = run("users", "add", "alice", "--role", "manager", "--if-missing", db=db)
    assert skip.returncode == 0 and "exists" in skip.stdout and "password" not in skip.stdout
    reset = run("users", "add", "alice", "--role", "admin", "--reset-password", "--json", db=db)
    out = json.loads(reset.stdout)
    assert out["action"] == "password reset" and out["role"] == "admin"
    assert acc.authenticate("alice", out["password"]) is not None and acc.authenticate("alice", password) is None
    chosen = run("users", "add", "bob", "--role", "agent", "--password", "bob-password-1", db=db)
    assert chosen.returncode == 0 and "bob-password-1" not in chosen.stdout
    bad = run("users", "add", "carol", "--role", "agent", "--password", "short", db=db)
    assert bad.returncode == 2 and "at least 8 characters" in bad.stderr
    listing = json.loads(run("users", "list", "--json", db=db).stdout)
    assert [u["username"] for u in listing] == ["alice", "bob"]


def test_users_token_works_against_the_api(tmp_path, embedder):
    from kb.config import load_config
    from webapp import create_app

    db = tmp_path / "kb.db"
    run("users", "add", "stt", "--role", "agent", "--password", "stt-password-1", db=db)
    r = run("users", "token", "stt", "--label", "phone system", db=db)
    token = r.stdout.strip()
    assert token.startswith("dbk_")
    app = create_app(load_config(data_dir=str(tmp_path), db=str(db)), embedder=embedder)
    me = app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.get_json()["username"] == "stt"
    app.extensions["deskbook"].close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_runs_waitress_with_a_health_endpoint(tmp_path):
    port = _free_port()
    env = {**os.environ, "DESKBOOK_DB": str(tmp_path / "kb.db"), "DESKBOOK_DATA_DIR": str(tmp_path)}
    proc = subprocess.Popen([DESKBOOK, "serve", "--port", str(port), "--no-warm"], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 90
        body = None
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
                    body = json.loads(resp.read())
                    server = resp.headers.get("Server", "")
                break
            except OSError:
                time.sleep(0.3)
        assert body is not None, proc.stdout.read() if proc.poll() is not None else "no answer"
        assert body["status"] == "ok" and server == "deskbook"  # waitress (ident), not the dev server
        assert body["warm"] is False  # --no-warm: nothing loaded ahead, and /healthz says so
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5) as resp:
            assert resp.status == 200 and "Content-Security-Policy" in resp.headers
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_serve_refuses_to_start_with_a_broken_confidence_model_file(tmp_path):
    bad = tmp_path / "confidence.json"
    bad.write_text('{"bias": -3, "unit": "high"}')
    env = {**os.environ, "DESKBOOK_DB": str(tmp_path / "kb.db"), "DESKBOOK_DATA_DIR": str(tmp_path),
           "DESKBOOK_ANSWER_CONFIDENCE_MODEL": str(bad)}
    proc = subprocess.run([DESKBOOK, "serve", "--port", str(_free_port())], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=180)
    assert proc.returncode == 2, proc.stderr
    assert str(bad) in proc.stderr and "'unit' must be a number" in proc.stderr and "Traceback" not in proc.stderr


def test_the_warm_up_marks_the_server_warm_even_when_it_fails():
    """/healthz's "warm" (a readiness probe's signal) is set once the warm-up is over, also when part of it
    failed (the first requests then load what is missing); the warm-up's objects are left to the
    collector's permanent generation."""
    import gc
    import threading

    from webapp.cli import _warm_and_freeze

    class Svc:
        warmed = threading.Event()

        def warm(self):
            raise RuntimeError("the answer cache could not be written")

    svc = Svc()
    try:
        with pytest.raises(RuntimeError):
            _warm_and_freeze(svc)
        assert svc.warmed.is_set()
        ok = Svc()
        ok.warmed = threading.Event()
        ok.warm = lambda: None
        _warm_and_freeze(ok)
        assert ok.warmed.is_set() and gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_serve_stores_the_queries_it_holds_when_stopped(tmp_path):
    """A server holds queries for redaction after the response (kb.insights.deferred); SIGTERM (a service
    manager's stop) ends it cleanly, and what it held is redacted and stored first."""
    import shutil

    from indexer.pipeline import index_paths
    from kb.config import load_config
    from kb.embed import get_embedder
    from kb.storage import open_store
    from tests.conftest import DATA, TINY_MAP

    db = tmp_path / "kb.db"
    shutil.copytree(DATA / "kb", tmp_path / "src")
    config = load_config(data_dir=str(tmp_path), db=str(db))
    store = open_store(db)
    index_paths(store, get_embedder(config), config, [tmp_path / "src"], field_map=TINY_MAP, progress=False)
    run("users", "add", "amara", "--role", "agent", "--password", "a-long-password", db=db)
    token = run("users", "token", "amara", db=db).stdout.strip()
    port = _free_port()
    env = {**os.environ, "DESKBOOK_DB": str(db), "DESKBOOK_DATA_DIR": str(tmp_path)}
    proc = subprocess.Popen([DESKBOOK, "serve", "--port", str(port), "--no-warm"], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline, status = time.time() + 90, None
        q = urllib.parse.urlencode({"q": "customer Priyanka Venkataraman wants a refund"})
        while time.time() < deadline and status is None:
            try:
                req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/search?{q}",
                                             headers={"Authorization": f"Bearer {token}"})
                with urllib.request.urlopen(req, timeout=60) as resp:
                    status = resp.status
            except OSError:
                time.sleep(0.3)
        assert status == 200, proc.stdout.read() if proc.poll() is not None else "no answer"
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    rows = store._rows("SELECT query, redactions FROM query_log")
    assert len(rows) == 1 and rows[0]["redactions"] >= 1, rows
    assert "Venkataraman" not in rows[0]["query"] and "[NAME]" in rows[0]["query"]
    store.close()
