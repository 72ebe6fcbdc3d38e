"""Fuzz test: hostile input to every reader and every JSON endpoint gives a clear error or success,
never a traceback or a 500, and a failed call changes nothing stored.

The corpus is file content in tests/data/hostile/*.dat (YAML alias bombs, BOMs, invalid UTF-8, NUL
bytes, control characters, lone surrogates, unbalanced CSV quotes, wrong types, huge numbers, empty
files, ...) plus what is clearer generated here (1 MB strings, JSON, YAML and HTML nested 10,000
deep). Every piece is fed to every reader under every suffix that reader takes: the indexer's SOP and
ticket readers, the QA transcript loader and the rubric loader.

The JSON API is walked through the app's url_map, so a new route is fuzzed without being listed:
every POST/PUT/PATCH/DELETE route under /api/ gets hostile raw bodies and, for routes with a body
schema, a valid body with one field at a time replaced by a hostile value; GET routes get hostile
query strings; routes with arguments also get hostile arguments. All with an admin's bearer token.
The app runs without job threads, so nothing changes the database behind a call's back; the jobs
the fuzzing queued are run at the end, and must end done or failed with a message.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path
from urllib.parse import quote

import pytest

from kb.config import load_config
from kb.errors import InputError

# The store's own SQLite library, never a second copy (the stdlib's) in the same process: a copy cannot
# see the other's locks, so it takes itself for the database's only user, truncates the WAL index (-shm)
# the other has mapped and drops the other's locks when it closes; a thread of the web app reading at
# that moment (the lexical copy's build) died of a bus error (sqlite.org/howtocorrupt.html, 2.2.1).
from kb.storage.sqlite.store import sqlite3
from tests.web_fixtures import CORPUS, bearer, copy_kb

HOSTILE = Path(__file__).resolve().parent / "data" / "hostile"
MB = 1_000_000
DEEP = 10_000


def generated() -> dict[str, bytes]:
    """Hostile content too big or too regular to keep as files."""
    return {
        "one-megabyte-line": b"x" * MB + b"\n",
        "one-megabyte-front-matter-title": b"---\ntitle: " + b"t" * MB + b"\n---\nBody.\n",
        "one-megabyte-csv-cell": b'id,subject,question\nB1,hello,"' + b"y " * (MB // 2) + b'"\nB2,ok,fine\n',
        "one-megabyte-jsonl-field": b'{"id": "L1", "question": "' + b"z" * MB + b'"}\n{"id": "L2", "question": "ok"}\n',
        "one-megabyte-turn": (b'{"id": "big", "turns": [{"speaker": "agent", "text": "' + b"w " * (MB // 2)
                              + b'"}, {"speaker": "customer", "text": "hi"}]}\n'),
        "deep-json-arrays": b'{"id": "D1", "question": ' + b"[" * DEEP + b"]" * DEEP + b', "turns": []}\n',
        "deep-json-objects": b'{"id": "D2", "turns": ' + b'{"a": ' * DEEP + b"1" + b"}" * DEEP + b"}\n",
        "deep-yaml-front-matter": b"---\ntitle: " + b"[" * DEEP + b"]" * DEEP + b"\n---\nBody.\n",
        "deep-yaml-block": b"---\n" + b"".join(b" " * i + b"k:\n" for i in range(2000)) + b"---\nBody.\n",
        "deep-yaml-bare": b"id: deep\nsections: " + b"[" * DEEP + b"]" * DEEP + b"\n",
        "deep-html": b"<html><title>deep</title><body>" + b"<div><ol><li>" * DEEP + b"text" + b"</li></ol></div>" * DEEP,
        "many-lines": b"Agent: hi\nCustomer: hello\n" * 50_000,
        "many-csv-columns": b",".join(b"c%d" % i for i in range(20_000)) + b"\n" + b",".join(b"v" for _ in range(20_000)),
    }


def corpus() -> dict[str, bytes]:
    items = {p.stem: p.read_bytes() for p in sorted(HOSTILE.glob("*.dat"))}
    assert len(items) >= 30, "the hostile corpus in tests/data/hostile is missing"
    return items | generated()


CORPUS_ITEMS = corpus()
SOP_SUFFIXES = (".md", ".txt", ".html")
TICKET_SUFFIXES = (".csv", ".jsonl")
TRANSCRIPT_SUFFIXES = (".json", ".jsonl", ".txt", ".vtt")


@pytest.fixture(scope="module")
def hostile_dir(tmp_path_factory) -> Path:
    """Each piece of the corpus under each suffix a reader takes: <suffix>/<name><suffix>."""
    root = tmp_path_factory.mktemp("hostile")
    for suffix in sorted(set(SOP_SUFFIXES + TICKET_SUFFIXES + TRANSCRIPT_SUFFIXES + (".yaml",))):
        (root / suffix[1:]).mkdir()
        for name, data in CORPUS_ITEMS.items():
            (root / suffix[1:] / (name + suffix)).write_bytes(data)
    return root


def files_of(root: Path, suffix: str) -> list[Path]:
    return sorted((root / suffix[1:]).iterdir())


def assert_names_file(message: str, path: Path) -> None:
    assert str(path) in message, f"the error does not name the file: {message[:300]!r}"
    assert "Traceback" not in message, message[:2000]


def tally(outcomes: dict[str, int], path: Path, items, failure: type, reason, check) -> None:
    """Count what reading `path` gave: each failure (an instance of `failure`) must name the file in
    `reason(item)`; everything else must pass `check(item)`."""
    for item in items:
        if isinstance(item, failure):
            assert_names_file(reason(item), path)
            outcomes["error"] += 1
        else:
            check(item)
            outcomes["ok"] += 1


# -- readers ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", SOP_SUFFIXES)
def test_sop_readers_give_a_document_or_an_input_error_naming_the_file(hostile_dir, suffix):
    from indexer.readers import READERS, SourceFile
    from indexer.readers import SOP_SUFFIXES as KINDS

    reader = READERS[KINDS[suffix]]
    outcomes = {"ok": 0, "error": 0}
    for path in files_of(hostile_dir, suffix):
        try:
            items = [reader(SourceFile(path, path.parent, KINDS[suffix]))]
        except InputError as exc:
            items = [exc]
        tally(outcomes, path, items, InputError, str, check_document)
    assert outcomes["ok"] and outcomes["error"], outcomes


def check_document(doc) -> None:
    assert doc.id and doc.title and "\x00" not in doc.body


@pytest.mark.parametrize("suffix", TICKET_SUFFIXES)
def test_ticket_readers_give_documents_or_input_errors_naming_the_file(hostile_dir, suffix):
    from indexer.readers import TICKET_SUFFIXES as KINDS
    from indexer.readers import SourceFile, read_tickets

    outcomes = {"ok": 0, "error": 0}
    for path in files_of(hostile_dir, suffix):
        try:
            items = list(read_tickets(SourceFile(path, path.parent, KINDS[suffix]), {}))
        except InputError as exc:
            items = [exc]
        tally(outcomes, path, items, InputError, str, check_ticket)
    assert outcomes["ok"] and outcomes["error"], outcomes


def check_ticket(ticket) -> None:
    assert ticket.id and "\x00" not in ticket.body


@pytest.mark.parametrize("suffix", TRANSCRIPT_SUFFIXES)
def test_transcript_loading_gives_transcripts_or_failures_naming_the_file(hostile_dir, suffix):
    from qa_rubrics.transcripts import LoadFailure, load_inputs

    outcomes = {"ok": 0, "error": 0}
    def check(transcript) -> None:
        assert transcript.turns and all(isinstance(t.text, str) and t.text for t in transcript.turns)
        json.dumps(transcript.to_dict() if hasattr(transcript, "to_dict") else transcript.id)

    for path in files_of(hostile_dir, suffix):  # load_inputs never raises: failures are items
        tally(outcomes, path, load_inputs([path]), LoadFailure, lambda f: f.reason, check)
    assert outcomes["error"], outcomes


def test_rubric_loading_gives_a_rubric_or_an_input_error_naming_the_file(hostile_dir):
    from qa_rubrics.rubric import load_rubric

    errors = 0
    for path in [*files_of(hostile_dir, ".yaml"), HOSTILE / "no-such-rubric.yaml"]:
        try:
            load_rubric(path)
        except InputError as exc:
            assert_names_file(str(exc), path)
            errors += 1
    assert errors >= len(CORPUS_ITEMS)  # none of the corpus is a valid rubric


def test_indexing_a_folder_of_hostile_files_reports_them_and_indexes_the_rest(hostile_dir, embedder, tmp_path):
    """The pipeline over every SOP and ticket file at once: no exception, each bad file or row
    reported by name, the readable ones stored."""
    from indexer.pipeline import index_paths
    from kb.storage import open_store

    src = tmp_path / "src"
    for suffix in SOP_SUFFIXES + TICKET_SUFFIXES:  # the files' corpus (the big generated ones: readers above)
        (src / suffix[1:]).mkdir(parents=True)
        for path in HOSTILE.glob("*.dat"):
            shutil.copy(path, src / suffix[1:] / (path.stem + suffix))
    ok = src / "md" / "zz-a-good-sop.md"
    ok.write_text("---\nid: good-sop\ntitle: A good SOP\n---\n# Refunds\n\nRefund within 14 days.\n", encoding="utf-8")
    config = load_config(data_dir=str(tmp_path), db=str(tmp_path / "kb.db"))
    store = open_store(config.database)
    try:
        report = index_paths(store, embedder, config, [src], progress=False)
        assert store.get_document("good-sop") is not None
        assert report.errors
        for err in report.errors:
            assert str(src) in err and "Traceback" not in err, err[:300]
    finally:
        store.close()


# -- the JSON API -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory, web_kb_template, embedder):
    """The web test KB's app without job threads and with the query log redacting before it writes (no side
    thread filling logged rows later, kb.insights.deferred): nothing writes to the database between calls."""
    from webapp import create_app

    d = copy_kb(web_kb_template, tmp_path_factory.mktemp("fuzz_kb"))
    config = load_config(data_dir=str(d), db=str(d / "kb.db"), secret_key="test-secret",
                         rubrics_dir=str(CORPUS / "rubrics"), web_job_threads="0", querylog_defer=0)
    app = create_app(config, {"TESTING": True}, embedder=embedder)
    yield app
    app.extensions["deskbook"].close()


@pytest.fixture(scope="module")
def admin(fuzz_app):
    acc = fuzz_app.extensions["deskbook"].accounts
    return bearer(acc.create_token("admin", "fuzz")[0])


class Snapshot:
    """What is stored, as one digest per table (FTS and vector shadow tables follow `chunks`)."""

    SKIP = ("sqlite_", "chunks_fts", "chunk_vectors")
    # Touched by any authenticated call, successful or not: when the token was last used.
    VOLATILE = {"api_tokens": ("last_used",), "users": ("last_seen",)}

    def __init__(self, db: Path):
        self.db = db

    def take(self) -> dict[str, str]:
        con = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
        try:
            tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
                      if not r[0].startswith(self.SKIP)]
            out = {}
            for t in tables:
                cur = con.execute(f'SELECT * FROM "{t}" ORDER BY rowid')
                cols = [c[0] for c in cur.description]
                keep = [i for i, c in enumerate(cols) if c not in self.VOLATILE.get(t, ())]
                h = hashlib.sha256()
                for row in cur:
                    h.update(repr([row[i] for i in keep]).encode("utf-8", "surrogatepass"))
                out[t] = h.hexdigest()[:16]
            return out
        finally:
            con.close()


# (A valid SOP may be long: a 1 MB body would be embedded, so the strings here stop at 100 KB; the
# 1 MB ones are in raw_bodies(), which no route accepts.)
HOSTILE_VALUES = [None, True, -1, 0, 2 ** 31, 2 ** 63, -(2 ** 63), 10 ** 30, 1.5, -0.0, 1e308, "1", "",
                  "x" * 100_000, "bad \ud800 surrogate", "a\x00b", "\u202e\x07\x1b[31m\x0b", [], [1, "a"], {},
                  {"a": {"b": {}}}, "2025-02-30", "../../../etc/passwd", '=HYPERLINK("http://x")',
                  "<script>alert(1)</script>", "x" * 300]

NESTED_VALUES = [None, -1, 2 ** 63, 1.5, "", "x" * 100_000, "bad \ud800 surrogate", "a\x00b", [], {}]


def raw_bodies() -> list[tuple[str, bytes]]:
    return [
        ("empty", b""), ("null", b"null"), ("true", b"true"), ("number", b"-1"), ("huge number", b"1e999"),
        ("string", b'"text"'), ("list", b"[]"), ("list of objects", b"[{}]"), ("truncated", b'{"a": '),
        ("not JSON", b"}{"), ("invalid UTF-8", b'{"a": "\xff\xfe"}'), ("BOM", b"\xef\xbb\xbf{}"),
        ("lone surrogate", b'{"question": "\\ud800", "body": "\\udfff"}'),
        ("surrogate key", b'{"\\ud800": 1}'), ("NUL", b'{"question": "a\\u0000b", "title": "\\u0000"}'),
        ("raw NUL", b"\x00"), ("control chars", b'{"question": "\\u0007\\u001b[31m\\u202e", "text": "\\u000b"}'),
        ("NaN", b'{"query_id": NaN, "version": Infinity, "base_version": -Infinity}'),
        ("deep arrays", b"[" * DEEP + b"]" * DEEP),
        ("deep objects", b'{"a": ' * DEEP + b"1" + b"}" * DEEP),
        ("deep in a field", b'{"question": "q", "state": ' + b'{"a": ' * DEEP + b"1" + b"}" * DEEP + b"}"),
        ("one megabyte", json.dumps({"question": "q" * MB, "body": "b" * MB, "text": "x" * MB}).encode()),
        ("5,000 digits", b'{"version": 1' + b"0" * 5000 + b', "query_id": 1' + b"0" * 5000 + b"}"),
        ("duplicate keys", b'{"version": 1, "version": "x", "title": "a", "title": null}'),
    ]


SAMPLE_ARGS = {"doc_id": "sop-refunds", "version": 1, "conversation_id": "fuzz-conv", "token_id": 1,
               "job_id": "no-such-job", "scorecard_id": 1, "filename": "app.css", "criterion_id": "greeting",
               "transcript_id": "no-such-transcript"}
HOSTILE_ARGS = {"path": ["%00", "a" * 5000, "..%2F..%2Fetc%2Fpasswd", "%ED%A0%80", "%FF%FE", "%E2%80%AE%07"],
                "int": ["99999999999999999999", "2147483648", "0", "-1"],
                "default": ["%00", "a" * 5000, "%ED%A0%80", "%FF", "%E2%80%AE%07"]}
# Values a valid body needs so that a hostile field is the only thing wrong with it.
GOOD_VALUES = {"rubric": "chat-support", "base_version": 1, "version": 1, "question": "How do refunds work?",
               "body": "# Fuzz\n\nText.\n", "title": "Fuzz", "speaker": "customer", "text": "I want a refund",
               "criterion_id": "greeting", "result": "pass", "review_by": "2030-01-01", "status": "draft"}


def api_routes(app):
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                yield rule, method


def endpoint_specs():
    from webapp.api import api

    return {f"api.{ep.name}": ep for ep in api.endpoints}


def ep_schemas():
    from webapp.api import api

    return api.schemas


def fill(rule, overrides: dict[str, str] | None = None) -> str:
    """The rule's URL with sample arguments (or the raw, already-quoted `overrides`)."""
    url = rule.rule
    for conv, name in [(m.group(1), m.group(2)) for m in re.finditer(r"<(?:(\w+):)?(\w+)>", rule.rule)]:
        value = (overrides or {}).get(name)
        if value is None:
            value = quote(str(SAMPLE_ARGS.get(name, "x")), safe="/")
        pattern = f"<{conv}:{name}>" if conv else f"<{name}>"
        url = url.replace(pattern, value)
    return url


def sample(schema: dict, schemas: dict, name: str = ""):
    """A minimal valid value for a (sub)schema."""
    if "$ref" in schema:
        schema = schemas[schema["$ref"].rsplit("/", 1)[-1]]
    if name in GOOD_VALUES:
        return GOOD_VALUES[name]
    if "enum" in schema:
        return schema["enum"][0]
    t = schema.get("type")
    if t == "object":
        return {k: sample(schema["properties"][k], schemas, k) for k in schema.get("required", [])}
    if t == "array":
        return [sample(schema.get("items", {}), schemas)] * max(1, schema.get("minItems", 0))
    return {"integer": 1, "number": 1.0, "boolean": True}.get(t, "fuzz")


def mutations(schema: dict, schemas: dict):
    """(description, body): a valid body with one field (also inside the first array item) hostile."""
    if "$ref" in schema:
        schema = schemas[schema["$ref"].rsplit("/", 1)[-1]]
    base = sample(schema, schemas)
    for prop, sub in schema.get("properties", {}).items():
        for value in HOSTILE_VALUES:
            yield f"{prop}={str(value)[:20]!r}", {**base, prop: value}
        if "$ref" in sub:
            sub = schemas[sub["$ref"].rsplit("/", 1)[-1]]
        items = sub.get("items", {})
        if "$ref" in items:
            items = schemas[items["$ref"].rsplit("/", 1)[-1]]
        if sub.get("type") == "array" and items.get("type") == "object":
            item = sample(items, schemas)
            for inner in items.get("properties", {}):
                for value in NESTED_VALUES:
                    yield f"{prop}[0].{inner}={str(value)[:20]!r}", {**base, prop: [{**item, inner: value}]}


def check(resp, where: str, before: dict, after: dict) -> None:
    assert resp.status_code < 500, f"{where}: {resp.status_code} {resp.get_data(as_text=True)[:300]}"
    if resp.status_code >= 400:
        data = resp.get_json(silent=True)
        assert isinstance(data, dict) and data.get("error", {}).get("message"), f"{where}: {resp.data[:300]!r}"
        changed = sorted(t for t in before if before[t] != after.get(t))
        assert not changed, f"{where}: a failed call ({resp.status_code}) changed {changed}"


def send(client, method: str, url: str, headers: dict, snap: Snapshot, where: str, **kw):
    before = snap.take()
    resp = client.open(url, method=method, headers=headers, **kw)
    check(resp, where, before, snap.take())
    return resp


def test_every_json_endpoint_answers_hostile_bodies_with_a_clear_error(fuzz_app, admin):
    specs = endpoint_specs()
    client = fuzz_app.test_client()
    snap = Snapshot(Path(fuzz_app.extensions["deskbook"].config.database))
    writes = [(r, m) for r, m in api_routes(fuzz_app) if m in ("POST", "PUT", "PATCH", "DELETE")]
    assert len(writes) >= 10
    calls = 0
    for rule, method in writes:
        url = fill(rule)
        for name, raw in raw_bodies():
            send(client, method, url, admin, snap, f"{method} {url} [{name}]", data=raw, content_type="application/json")
            calls += 1
        send(client, method, url, admin, snap, f"{method} {url} [text/plain]", data=b"{}", content_type="text/plain")
        ep = specs.get(rule.endpoint)
        if ep is not None and ep.body is not None and "multipart" not in ep.body:
            for desc, body in mutations(ep.body, ep_schemas()):
                send(client, method, url, admin, snap, f"{method} {url} [{desc}]", json=body)
                calls += 1
    assert calls > 500


def test_every_api_route_answers_hostile_arguments_and_query_strings(fuzz_app, admin):
    client = fuzz_app.test_client()
    snap = Snapshot(Path(fuzz_app.extensions["deskbook"].config.database))
    specs = endpoint_specs()
    queries = ["q=%00", "q=%ED%A0%80", "q=" + "a" * 100_000, "q=%22%22%22&k=0", "k=-1&q=x", "k=99999999999999999999&q=x",
               "k=1e400&q=x", "k=NaN&q=x", "mode=%00&q=x", "type=x&type=%FF&q=x", "log=maybe&q=x",
               "chunk=99999999999999999999", "chunk=-1", "chunk=abc", "query_id=1e3", "since=-9", "since=2025-02-30",
               "until=%00", "a=1&b=99999999999999999999", "verdict=%00", "overdue=2", "status=%00",
               "&".join(f"tag={i}" for i in range(2000)), "q=" + "%22" * 1000, "q=" + "(" * 5000,
               "q=NEAR(a%20b)%20OR%20*", "q=%2A%3A%5E%22-"]
    for rule, method in api_routes(fuzz_app):
        spec = specs.get(rule.endpoint)
        body = sample(spec.body, ep_schemas()) if spec and spec.body and "multipart" not in spec.body else None
        kw = {"json": body} if body is not None else {}
        if method == "GET":
            for qs in queries:
                send(client, method, f"{fill(rule)}?{qs}", admin, snap, f"{method} {rule.rule}?{qs[:60]}", **kw)
        for name in rule.arguments:
            conv = rule._converters[name].__class__.__name__.lower()
            kind = "path" if "path" in conv else "int" if "integer" in conv else "default"
            for value in HOSTILE_ARGS[kind]:
                url = fill(rule, {name: value})
                resp = send(client, method, url, admin, snap, f"{method} {url[:120]}", **kw)
                if resp.status_code >= 400 and resp.status_code != 404:
                    assert resp.get_json(silent=True), url


def test_hostile_files_uploaded_and_imported_end_as_failed_or_done_jobs(fuzz_app, admin, embedder):
    """The uploads and transcript imports of the corpus, and every job the fuzzing queued, are run:
    each ends done or failed with a message, none crashes the worker."""
    import io

    from kb.jobs import Worker

    svc = fuzz_app.extensions["deskbook"]
    client = fuzz_app.test_client()
    picks = ["yaml-alias-bomb", "invalid-utf8", "csv-unbalanced-quote", "jsonl-wrong-types", "nul-bytes",
             "lone-surrogate-escapes", "deep-json-arrays", "control-chars", "empty", "html-hostile"]
    files = [(io.BytesIO(CORPUS_ITEMS[n]), f"{n}{s}") for n in picks for s in (".md", ".csv", ".jsonl", ".html")]
    resp = client.post("/api/v1/uploads", data={"files": files}, headers=admin, content_type="multipart/form-data")
    assert resp.status_code == 202, resp.get_data(as_text=True)[:500]
    files = [(io.BytesIO(CORPUS_ITEMS[n]), f"{n}{s}") for n in picks for s in (".json", ".jsonl", ".txt", ".vtt")]
    resp = client.post("/api/v1/qa/transcripts", data={"files": files, "rubric": "chat-support"}, headers=admin,
                       content_type="multipart/form-data")
    assert resp.status_code in (202, 400), resp.get_data(as_text=True)[:500]
    worker = Worker(svc.store, svc.config, embedder=embedder, searcher=svc.searcher)
    ran = worker.run(once=True)
    assert ran >= 1
    con = sqlite3.connect(svc.config.database)
    try:
        rows = con.execute("SELECT id, status, message FROM jobs").fetchall()
    finally:
        con.close()
    assert rows
    for job_id, status, message in rows:
        assert status in ("done", "failed"), (job_id, status, message)
        assert "Traceback" not in (message or ""), message
