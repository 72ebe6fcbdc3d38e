"""Layered fixtures: settings -> embedder -> indexed store -> searcher (-> app, later).

The real embedding model and spaCy pipeline are used (they load offline in about a second);
the sample corpus is indexed once per test session. The PostgreSQL backend is tested against a
real PostgreSQL 16 with pgvector, started once per session by `pgserver` (a pip package) on a
Unix socket; each test that needs one gets a fresh database on it (`pg_url`).
"""

from __future__ import annotations

import itertools
import shutil
import textwrap
import uuid
from pathlib import Path

import pytest

from kb.config import load_config

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
DATA = Path(__file__).resolve().parent / "data"
# tests/data/kb/tickets/other_columns.csv names its columns differently
TINY_MAP = {"id": "ticket_no", "subject": "title", "question": "description", "answer": "resolution",
            "tags": "labels"}


def rubric_of(criteria_yaml: str):
    """A one-section rubric (id r, pass mark 80) around the criteria written in YAML."""
    from qa_rubrics.rubric import parse_rubric

    text = "id: r\nversion: 1\npass_mark: 80\nsections:\n  - id: s\n    criteria:\n" + textwrap.indent(
        textwrap.dedent(criteria_yaml), " " * 6)
    return parse_rubric(text, "inline.yaml")


@pytest.fixture(scope="session")
def base_config(tmp_path_factory):
    return load_config(data_dir=str(tmp_path_factory.mktemp("data")))


@pytest.fixture(scope="session")
def embedder(base_config):
    from kb.embed import get_embedder

    return get_embedder(base_config)


@pytest.fixture(scope="session")
def corpus_kb(tmp_path_factory, embedder):
    """(config, store) with corpus/sops and corpus/tickets indexed, built once per session."""
    from indexer.pipeline import index_paths
    from kb.storage import open_store

    d = tmp_path_factory.mktemp("corpus_kb")
    config = load_config(data_dir=str(d), db=str(d / "kb.db"))
    store = open_store(config.database)
    index_paths(store, embedder, config, [CORPUS / "sops", CORPUS / "tickets"], progress=False)
    return config, store


@pytest.fixture(scope="session")
def corpus_searcher(corpus_kb, embedder):
    from kb.search import Searcher

    config, store = corpus_kb
    return Searcher(store, config, embedder)


@pytest.fixture(scope="session")
def corpus_dev_answers(corpus_kb, corpus_searcher):
    """kb.answers.evaluate_answers over corpus/eval/queries.jsonl (published SOPs, the default threshold),
    computed once: (rates, [(query, Answer)]). Treat the answers as read-only."""
    from kb.answers import Answerer, evaluate_answers
    from kb.evaluate import load_queries

    config, _ = corpus_kb
    return evaluate_answers(Answerer(corpus_searcher, config), load_queries(CORPUS / "eval" / "queries.jsonl"))


@pytest.fixture(scope="session")
def pg_server():
    """A real PostgreSQL 16 with pgvector for the whole session (pgserver: no system install needed).

    Its data folder is in a fresh temporary folder that other users may enter: run as root,
    pgserver runs PostgreSQL as its own user."""
    import os
    import tempfile

    import pgserver

    parent = tempfile.mkdtemp(prefix="deskbook-pg-")
    os.chmod(parent, 0o755)
    srv = pgserver.get_server(os.path.join(parent, "data"), cleanup_mode="delete")
    yield srv
    srv.cleanup()
    shutil.rmtree(parent, ignore_errors=True)


_DB_NUMBERS = itertools.count(1)


def new_pg_url(server) -> str:
    """The URL of a new, empty database on `server` (the store creates it on first open)."""
    uri = server.get_uri()  # postgresql://postgres:@/postgres?host=/socket/dir
    # unique even when this module is imported twice (as pytest's conftest and as tests.conftest)
    return uri.replace("/postgres?", f"/deskbook_test_{next(_DB_NUMBERS)}_{uuid.uuid4().hex[:8]}?", 1)


@pytest.fixture()
def pg_url(pg_server) -> str:
    return new_pg_url(pg_server)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend_store(request, tmp_path):
    """An empty store of each backend: the storage contract tests run against both."""
    from kb.storage import open_store

    if request.param == "sqlite":
        store = open_store(tmp_path / "kb.db")
    else:
        store = open_store(new_pg_url(request.getfixturevalue("pg_server")))
    yield store
    store.close()


@pytest.fixture()
def tiny_dir(tmp_path):
    """A writable copy of tests/data/kb: a few SOPs in each format and two ticket files."""
    dst = tmp_path / "kb_src"
    shutil.copytree(DATA / "kb", dst)
    return dst


@pytest.fixture(scope="session")
def tiny_kb_shared(tmp_path_factory, embedder):
    """(config, store, src_dir) with tests/data/kb indexed once per session: for tests that only read."""
    from indexer.pipeline import index_paths
    from kb.storage import open_store

    d = tmp_path_factory.mktemp("tiny_kb_shared")
    src = d / "kb_src"
    shutil.copytree(DATA / "kb", src)
    config = load_config(data_dir=str(d), db=str(d / "kb.db"))
    store = open_store(config.database)
    index_paths(store, embedder, config, [src], field_map=TINY_MAP, progress=False)
    return config, store, src


@pytest.fixture()
def tiny_kb(tmp_path, tiny_dir, embedder):
    """(config, store, src_dir) with tests/data/kb indexed into a fresh database (for tests that write)."""
    from indexer.pipeline import index_paths
    from kb.storage import open_store

    config = load_config(data_dir=str(tmp_path), db=str(tmp_path / "kb.db"))
    store = open_store(config.database)
    index_paths(store, embedder, config, [tiny_dir], field_map=TINY_MAP, progress=False)
    return config, store, tiny_dir


# The web app's session fixtures (a small indexed KB shared by tests/test_web_*.py and tests/browser/).
from tests.web_fixtures import web_kb_template, web_source  # noqa: E402,F401
