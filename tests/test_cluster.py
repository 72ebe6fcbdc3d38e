"""Several processes on one PostgreSQL database (pgserver), as docs/deploy.md describes: two `deskbook serve`
app servers and `deskbook worker` processes.

- An SOP saved through one server is searchable through the other within seconds.
- A session signed in on one server is accepted by the other.
- A job queued through one server is run by a worker process and shown by the other.
- A worker killed with SIGKILL in the middle of a QA job leaves it to another worker, which
  finishes it; every transcript's scorecard is stored exactly once.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from kb.storage import open_store
from kb.storage.copy import copy_store
from tests.conftest import CORPUS, new_pg_url
from tests.web_fixtures import PASSWORDS

pytestmark = pytest.mark.slow
DESKBOOK = str(Path(sys.executable).with_name("deskbook"))
TRANSCRIPTS = sorted((CORPUS / "transcripts" / "dev").glob("call-000*.json"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env_for(url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "DESKBOOK_DB": url, "DESKBOOK_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1",
            "DESKBOOK_RUBRICS_DIR": str(CORPUS / "rubrics"), "DESKBOOK_QUERYLOG_REDACT_NAMES": "false",
            "DESKBOOK_REDACT_KEEP": "Brightcart", **extra}


class Server:
    def __init__(self, url: str, data_dir: Path):
        data_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = open(data_dir / "serve.log", "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([DESKBOOK, "serve", "--port", str(self.port), "--no-warm", "--threads", "4"],
                                     env=env_for(url, data_dir), stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 120) -> None:
        end = time.time() + timeout
        while time.time() < end:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited: {Path(self.log.name).read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.base + "/healthz", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise AssertionError("server did not start")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def api(base: str, method: str, path: str, token: str, body: dict | None = None) -> dict:
    req = urllib.request.Request(base + path, method=method, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def start_worker(url: str, data_dir: Path, name: str, **extra: str) -> subprocess.Popen:
    data_dir.mkdir(parents=True, exist_ok=True)
    log = open(data_dir / f"{name}.log", "w")  # noqa: SIM115 - the child keeps it
    return subprocess.Popen([DESKBOOK, "worker"], env=env_for(url, data_dir, **extra), stdout=log,
                            stderr=subprocess.STDOUT)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def cluster_db(pg_server, web_kb_template):
    """The web test KB (a dozen SOPs, 40 tickets, four users) copied into a new PostgreSQL database."""
    url = new_pg_url(pg_server)
    src = open_store(web_kb_template / "kb.db", create=False)
    dst = open_store(url)
    report = copy_store(src, dst)
    assert report.ok
    dst.close()
    return url


@pytest.fixture(scope="module")
def two_servers(cluster_db, tmp_path_factory):
    servers = [Server(cluster_db, tmp_path_factory.mktemp(f"app{i}")) for i in (1, 2)]
    try:
        for s in servers:
            s.wait_ready()
        yield servers
    finally:
        for s in servers:
            s.stop()


@pytest.fixture(scope="module")
def tokens(cluster_db):
    from webapp.accounts import Accounts

    store = open_store(cluster_db)
    acc = Accounts(store)
    out = {role: acc.create_token(role, "cluster test")[0] for role in ("manager", "analyst", "agent")}
    store.close()
    return out


def test_an_edit_on_one_server_is_searchable_on_the_other(two_servers, tokens):
    a, b = two_servers
    doc = api(a.base, "GET", "/api/v1/documents/sop-refunds", tokens["manager"])
    body = doc["body"] + "\n## Zephyr vouchers\nZephyr vouchers are refunded as store credit within one day.\n"
    api(a.base, "PUT", "/api/v1/sops/sop-refunds", tokens["manager"],
        {"title": doc["title"], "body": body, "base_version": doc["version"], "tags": doc["tags"],
         "status": doc["status"] or "published"})
    t0 = time.time()
    for mode in ("lexical", "dense", "hybrid"):
        while True:
            hits = api(b.base, "GET", f"/api/v1/search?q=zephyr+vouchers+refunded&mode={mode}&log=false",
                       tokens["agent"])["results"]
            if hits and hits[0]["id"] == "sop-refunds" and "Zephyr" in hits[0]["chunk_text"]:
                break
            assert time.time() - t0 < 15, f"not searchable on the other server ({mode}): {hits[:2]}"
            time.sleep(0.5)
    assert time.time() - t0 < 15


def _get(base: str, path: str, cookie: str) -> tuple[str, str]:
    """(final URL, page) of a GET sending only this session cookie (redirects followed)."""
    req = urllib.request.Request(base + path, headers={"Cookie": cookie})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.url, r.read().decode()


def test_a_session_from_one_server_is_accepted_by_the_other(two_servers):
    a, b = two_servers
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(a.base + "/login").read().decode()
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    data = urllib.parse.urlencode({"username": "agent", "password": PASSWORDS["agent"], "csrf_token": csrf}).encode()
    opener.open(a.base + "/login", data=data)  # signed in on server 1
    cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
    url, page = _get(b.base, "/", cookie)  # the same cookie, on server 2
    assert url.rstrip("/") == b.base and 'action="/logout"' in page
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    req = urllib.request.Request(b.base + "/logout", method="POST", headers={"Cookie": cookie},
                                 data=urllib.parse.urlencode({"csrf_token": csrf}).encode())
    urllib.request.urlopen(req, timeout=30)  # signed out on server 2 ...
    url, _ = _get(a.base, "/", cookie)
    assert "/login" in url  # ... ends the session on server 1 too, even with the old cookie


def test_a_job_queued_on_one_server_is_run_by_a_worker_and_shown_by_the_other(two_servers, tokens, cluster_db,
                                                                              tmp_path):
    a, b = two_servers
    transcripts = [json.loads(p.read_text()) for p in TRANSCRIPTS[:2]]
    job = api(a.base, "POST", "/api/v1/qa/score", tokens["analyst"],
              {"rubric": "phone-support", "transcripts": transcripts})
    time.sleep(1.5)
    assert api(b.base, "GET", f"/api/v1/jobs/{job['id']}", tokens["analyst"])["status"] == "queued"  # no worker yet
    worker = start_worker(cluster_db, tmp_path / "w", "worker")
    try:
        end = time.time() + 240
        while (st := api(b.base, "GET", f"/api/v1/jobs/{job['id']}", tokens["analyst"]))["status"] != "done":
            assert st["status"] in ("queued", "running") and time.time() < end, st
            time.sleep(1)
    finally:
        stop(worker)
    assert len(st["result"]["scorecard_ids"]) == 2 and st["attempts"] == 1


def test_a_killed_worker_leaves_its_job_to_another_which_stores_each_scorecard_once(pg_server, web_kb_template,
                                                                                   tmp_path):
    url = new_pg_url(pg_server)
    store = open_store(url)
    copy_store(open_store(web_kb_template / "kb.db", create=False), store)
    rubric = CORPUS / "rubrics" / "phone-support.yaml"
    files = [(p.name, p.read_bytes()) for p in TRANSCRIPTS]
    job = store.enqueue_job("qa_score", {"rubric_id": "phone-support", "rubric_version": 1,
                                         "rubric_name": rubric.name, "rubric_text": rubric.read_text(),
                                         "aliases": []}, owner="analyst", title="kill test", files=files)
    first = start_worker(url, tmp_path / "w1", "first", DESKBOOK_JOB_LEASE_SECONDS="3")
    try:
        end = time.time() + 240
        while (st := store.get_job(job.id)).done < 2:  # some scorecards stored, not all
            assert first.poll() is None and time.time() < end, (tmp_path / "w1" / "first.log").read_text()[-3000:]
            time.sleep(0.2)
        assert st.status == "running" and st.done < len(files)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        stored_before = len(store.list_scorecards(limit=1000))
        assert 1 <= stored_before < len(files)
    finally:
        stop(first)
    second = start_worker(url, tmp_path / "w2", "second", DESKBOOK_JOB_LEASE_SECONDS="3")
    try:
        end = time.time() + 300
        while (st := store.get_job(job.id)).status != "done":
            assert st.status in ("queued", "running") and time.time() < end, st
            time.sleep(0.5)
    finally:
        stop(second)
    assert st.attempts == 2 and len(st.result["scorecard_ids"]) == len(files)
    cards = store.list_scorecards(limit=1000)
    assert len(cards) == len(files)  # each transcript scored and stored exactly once
    assert len({c["transcript_id"] for c in cards}) == len(files)
    assert store.job_files(job.id) == []  # the uploaded (unredacted) files are gone
