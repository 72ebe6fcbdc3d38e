"""Bad input never loses data silently and never crashes: one test per finding of the hardening review
(readers, the indexing pipeline, rubrics, transcripts and the command line)."""

from __future__ import annotations

import json
import time

import pytest
from click.testing import CliRunner

from indexer.pipeline import index_paths
from indexer.readers import SourceFile, read_markdown, read_tickets
from kb.cli import cli
from kb.config import load_config
from kb.errors import ConfigError, InputError
from kb.storage import open_store
from tests.conftest import CORPUS


def tickets_of(path, kind):
    return list(read_tickets(SourceFile(path, path.parent, kind), {}))


# -- CSV ----------------------------------------------------------------------------------------
def test_unbalanced_quote_is_an_error_with_its_line_and_the_rest_is_read(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text('id,subject,question\nU1,"broken subject,question one\nU2,second,question two\n'
                 'U3,third,"a quoted\nmulti-line question"\n', encoding="utf-8")
    items = tickets_of(f, "csv")
    errors = [str(i) for i in items if isinstance(i, InputError)]
    docs = {d.id: d for d in items if not isinstance(d, InputError)}
    assert len(errors) == 1 and f"{f}:2:" in errors[0]
    assert set(docs) == {"U2", "U3"}  # U2 is not swallowed into U1
    assert "multi-line question" in docs["U3"].body  # quoted newlines are still fine
    assert not any("U2" in d.body for d in docs.values())


def test_a_row_with_too_few_fields_is_an_error_not_padded(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text("id,subject,question,answer\nA1,only,two\nA2,s,q,a\n", encoding="utf-8")
    items = tickets_of(f, "csv")
    assert [str(i)[:len(str(f)) + 3] for i in items if isinstance(i, InputError)] == [f"{f}:2:"]
    assert [d.id for d in items if not isinstance(d, InputError)] == ["A2"]


def test_a_one_megabyte_cell_is_reported_and_skipped(tmp_path):
    f = tmp_path / "big.csv"
    f.write_text('id,subject,question\nB1,hello,"' + "x" * 1_000_000 + '"\nB2,ok,fine\n', encoding="utf-8")
    items = tickets_of(f, "csv")
    err = [i for i in items if isinstance(i, InputError)]
    assert len(err) == 1 and f"{f}:2:" in str(err[0]) and err[0].field == "question"
    assert [d.id for d in items if not isinstance(d, InputError)] == ["B2"]


# -- JSONL ---------------------------------------------------------------------------------------
def test_deeply_nested_json_and_lone_surrogates_are_row_errors(tmp_path):
    f = tmp_path / "t.jsonl"
    f.write_text('{"id": "N1", "question": ' + "[" * 100_000 + "]" * 100_000 + "}\n"
                 '{"id": "S1", "question": "bad \\ud800 here"}\n{"id": "OK", "question": "fine"}\n', encoding="utf-8")
    items = tickets_of(f, "jsonl")
    errors = [str(i) for i in items if isinstance(i, InputError)]
    assert len(errors) == 2 and f"{f}:1:" in errors[0] and "nested" in errors[0]
    assert f"{f}:2:" in errors[1] and "surrogate" in errors[1]
    assert [d.id for d in items if not isinstance(d, InputError)] == ["OK"]


# -- front matter --------------------------------------------------------------------------------
def test_an_invalid_date_in_front_matter_names_the_line(tmp_path):
    f = tmp_path / "bad.md"
    f.write_text("---\nid: bd\nreview_by: 2024-02-30\n---\n# T\nbody\n", encoding="utf-8")
    with pytest.raises(InputError) as e:
        read_markdown(SourceFile(f, tmp_path, "markdown"))
    assert f"{f}:3:" in str(e.value) and "2024-02-30" in str(e.value)


BOMB = ('a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
        + "".join(f"{n}: &{n} [{','.join(['*' + p] * 9)}]\n" for p, n in zip("abcdefg", "bcdefgh", strict=True))
        + "tags: [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n")


def test_a_yaml_alias_bomb_in_front_matter_is_refused(tmp_path):
    f = tmp_path / "bomb.md"
    f.write_text("---\n" + BOMB + "---\n# T\nbody\n", encoding="utf-8")
    t0 = time.perf_counter()
    with pytest.raises(InputError) as e:
        read_markdown(SourceFile(f, tmp_path, "markdown"))
    assert "aliases" in str(e.value) and f"{f}:3:" in str(e.value)
    assert time.perf_counter() - t0 < 5  # refused while parsing, before anything expands


# -- rubrics -------------------------------------------------------------------------------------
RUBRIC = """id: r
name: R
version: 1
pass_mark: 50
sections:
  - id: s
    name: S
    criteria:
      - id: c
        question: Did the agent say the call is recorded?
        points: 1
        method: regex
        speaker: agent
        pattern: "{pattern}"
"""


def test_a_rubric_alias_bomb_and_a_backtracking_regex_are_refused():
    from qa_rubrics.rubric import RubricError, parse_rubric

    with pytest.raises(RubricError) as e:
        parse_rubric(BOMB, "bomb.yaml")
    assert "aliases" in str(e.value)
    with pytest.raises(RubricError) as e:
        parse_rubric(RUBRIC.format(pattern="^(a+)+$"), "r.yaml")
    assert "forever" in str(e.value) and "line 14" in str(e.value)
    parse_rubric(RUBRIC.format(pattern="calls? (?:is|are) recorded"), "ok.yaml")


def test_a_slow_pattern_that_passes_the_check_is_stopped_by_the_time_limit():
    from kb.saferegex import PatternTimeout, compile_limited, finditer_limited

    rx = compile_limited(r"(a|aa)+$", "")  # refused by validation; run directly to check the limit
    t0 = time.perf_counter()
    with pytest.raises(PatternTimeout):
        finditer_limited(rx, "a" * 60 + "b", timeout=0.3)
    assert time.perf_counter() - t0 < 10


# -- the indexing pipeline -----------------------------------------------------------------------
def test_a_ticket_cannot_take_a_web_created_sops_id(tiny_kb, embedder, tmp_path):
    from indexer.pipeline import reindex_document
    from kb.models import Document

    config, store, _ = tiny_kb
    sop = Document(id="sop-web-made", type="sop", title="Made in the browser", body="# Made\n\nSteps.\n",
                   metadata={"created_in": "web"})
    reindex_document(store, embedder, config, sop, by="lee", expected_version=0)
    f = tmp_path / "t.jsonl"
    f.write_text('{"id": "sop-web-made", "question": "clash"}\n{"id": "T-new", "question": "fine"}\n',
                 encoding="utf-8")
    report = index_paths(store, embedder, config, [f], progress=False, remove_missing=False)
    assert store.get_document("sop-web-made").type == "sop"
    assert any("sop-web-made" in e and "SOP" in e for e in report.errors)
    assert store.has_document("T-new")


def test_a_duplicate_id_skips_the_second_and_indexes_the_rest(tmp_path, embedder):
    d = tmp_path / "src"
    d.mkdir()
    (d / "a.jsonl").write_text('{"id": "D1", "question": "first"}\n{"id": "D2", "question": "two"}\n')
    (d / "b.jsonl").write_text('{"id": "D1", "question": "second"}\n{"id": "D3", "question": "three"}\n')
    config = load_config(data_dir=str(tmp_path), db=str(tmp_path / "kb.db"))
    store = open_store(config.database)
    report = index_paths(store, embedder, config, [d], progress=False)
    assert report.added == 3 and any("Duplicate document id 'D1'" in e for e in report.errors)
    assert "first" in store.get_document("D1").body


class _Interrupting:
    """The real model, interrupted (as by Ctrl-C or a kill) at its `stop_at`-th document batch."""

    def __init__(self, inner, stop_at: int | None = None):
        self.inner, self.stop_at, self.calls, self.texts = inner, stop_at, 0, 0
        self.name, self.dim, self.max_tokens = inner.name, inner.dim, inner.max_tokens

    def encode_documents(self, texts, **kw):
        self.calls += 1
        if self.stop_at is not None and self.calls >= self.stop_at:
            raise KeyboardInterrupt
        self.texts += len(texts)
        return self.inner.encode_documents(texts, **kw)

    def encode_queries(self, texts):
        return self.inner.encode_queries(texts)

    def count_tokens(self, text):
        return self.inner.count_tokens(text)


class _Recording(_Interrupting):
    """The real model; records each batch's texts and the thread that embedded it."""

    def __init__(self, inner):
        super().__init__(inner)
        self.batches: list[tuple[list[str], str]] = []

    def encode_documents(self, texts, **kw):
        import threading

        self.batches.append((list(texts), threading.current_thread().name))
        return super().encode_documents(texts, **kw)


def test_sops_are_embedded_first_on_their_own_thread_and_tickets_after(tmp_path, embedder, monkeypatch):
    """SOPs need no redaction, so their batches go first (while the name model loads for the tickets);
    each batch is embedded on the indexer's embedding thread while the next is chunked; a corpus without
    long paragraphs never loads the spaCy sentence splitter."""
    import kb.text

    src = tmp_path / "src"
    src.mkdir()
    (src / "tickets.jsonl").write_text("".join(
        json.dumps({"id": f"T{i}", "question": f"Parcel {i} is late.", "answer": "Checked tracking."}) + "\n"
        for i in range(70)), encoding="utf-8")
    for i in range(3):
        (src / f"sop-{i}.md").write_text(f"# Procedure {i}\n\nCheck the order status {i} and reply.\n",
                                         encoding="utf-8")
    monkeypatch.setattr(kb.text, "load_spacy", lambda *a, **k: pytest.fail("spaCy loaded for short blocks"))
    config = load_config(data_dir=str(tmp_path), db=str(tmp_path / "kb.db"))
    store = open_store(config.database)
    rec = _Recording(embedder)
    report = index_paths(store, rec, config, [src], progress=False)
    assert report.added == 73 and not report.errors
    assert [len(t) for t, _ in rec.batches] == [3, 64, 6]
    assert all("Procedure" in t for t in rec.batches[0][0])
    assert {name.split("_")[0] for _, name in rec.batches} == {"deskbook-embed"}
    assert store.vector_count() == 73


def test_a_chunk_repeated_in_the_next_batch_is_embedded_once(tmp_path, embedder):
    """The next batch is prepared while the one before is still being embedded: a chunk both hold (the
    same ticket text twice) takes that batch's vector instead of being embedded again."""
    from indexer.pipeline import BATCH_DOCS

    f = tmp_path / "repeats.jsonl"
    f.write_text("".join(json.dumps({"id": f"R{i:03d}", "subject": "Late parcel",
                                     "question": f"Parcel {i % BATCH_DOCS} is late.", "answer": "Checked."}) + "\n"
                         for i in range(BATCH_DOCS + 6)), encoding="utf-8")
    config = load_config(data_dir=str(tmp_path), db=str(tmp_path / "kb.db"))
    store = open_store(config.database)
    rec = _Recording(embedder)
    report = index_paths(store, rec, config, [f], progress=False)
    assert report.added == BATCH_DOCS + 6
    assert rec.texts == BATCH_DOCS and report.chunks_embedded == BATCH_DOCS and report.chunks_reused == 6
    assert store.vector_count() == BATCH_DOCS + 6


def test_a_batch_that_fails_while_chunking_still_stores_the_batch_before(tmp_path, embedder, monkeypatch):
    """The next batch is chunked while the one before is still being embedded: when chunking fails (or is
    interrupted), the batch before is stored all the same, as when batches ran one after the other."""
    import indexer.pipeline as pipeline
    from indexer.pipeline import BATCH_DOCS

    real = pipeline.make_chunker

    def failing(config, emb):
        chunker = real(config, emb)
        chunk = chunker.chunk

        def chunk_or_fail(doc):
            if doc.id == f"M{BATCH_DOCS + 3:03d}":
                raise KeyboardInterrupt
            return chunk(doc)

        chunker.chunk = chunk_or_fail
        return chunker

    monkeypatch.setattr(pipeline, "make_chunker", failing)
    f = tmp_path / "many.jsonl"
    f.write_text("".join(json.dumps({"id": f"M{i:03d}", "question": f"Parcel {i} is late.", "answer": "Checked."})
                         + "\n" for i in range(100)), encoding="utf-8")
    config = load_config(data_dir=str(tmp_path), db=str(tmp_path / "kb.db"))
    store = open_store(config.database)
    with pytest.raises(KeyboardInterrupt):
        index_paths(store, embedder, config, [f], progress=False)
    assert store.count_documents().get("ticket", 0) == BATCH_DOCS
    assert store.vector_count() == BATCH_DOCS


def test_an_interrupted_run_keeps_what_it_embedded_and_the_next_embeds_only_the_rest(tmp_path, embedder):
    from indexer.pipeline import BATCH_DOCS

    f = tmp_path / "many.jsonl"
    f.write_text("".join(json.dumps({"id": f"M{i:03d}", "question": f"My order {i} has not arrived, parcel {i * 7}.",
                                     "answer": f"Checked courier tracking for parcel {i * 7}."}) + "\n"
                         for i in range(150)), encoding="utf-8")
    config = load_config(data_dir=str(tmp_path), db=str(tmp_path / "kb.db"))
    store = open_store(config.database)
    with pytest.raises(KeyboardInterrupt):
        index_paths(store, _Interrupting(embedder, stop_at=3), config, [f], progress=False)
    kept = store.count_documents().get("ticket", 0)
    assert kept == 2 * BATCH_DOCS  # two committed batches survive the interruption
    again = _Interrupting(embedder)
    report = index_paths(store, again, config, [f], progress=False)
    assert report.added == 150 - kept and report.unchanged == kept
    assert again.texts == 150 - kept  # nothing embedded twice
    assert store.vector_count() == 150


# -- transcripts and the command line -----------------------------------------------------------
def test_a_huge_transcript_turn_is_skipped_with_a_message(tmp_path):
    big = tmp_path / "big.txt"
    big.write_text("Agent: hello\nCustomer: " + "word " * 252_000 + "\n", encoding="utf-8")
    ok = tmp_path / "ok.txt"
    ok.write_text("Agent: Thank you for calling, my name is Sam.\nCustomer: My refund has not arrived.\n")
    res = CliRunner().invoke(cli, ["qa", "score", "--rubric", str(CORPUS / "rubrics" / "phone-support.yaml"),
                                   str(big), str(ok), "--no-store"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "turn 2 has 1,259,999 characters, more than 100,000" in res.output and "1 scored" in res.output


def test_command_line_bad_values_are_messages_not_tracebacks(tiny_kb, tmp_path):
    config, _, _ = tiny_kb
    db = str(config.database)
    r = CliRunner().invoke(cli, ["search", "x", "--db", db, "--k", "99999999999999999999"], catch_exceptions=False)
    assert r.exit_code == 2 and "not in the range" in r.output
    r = CliRunner().invoke(cli, ["search", "kettle \udcff leaking", "--db", db, "--json"], catch_exceptions=False)
    assert r.exit_code == 0 and json.loads(r.stdout)
    nested = tmp_path / "call.json"
    nested.write_text('{"turns": ' + "[" * 5000 + "]" * 5000 + "}")
    from kb.cli import main

    with pytest.raises(SystemExit) as e:
        main(["assist", str(nested), "--db", db])
    assert e.value.code == 2


def test_number_settings_are_range_checked():
    with pytest.raises(ConfigError) as e:
        load_config(search_k=0)
    assert e.value.field == "search_k" and "range" in str(e.value)
    with pytest.raises(ConfigError):
        load_config(answer_threshold="nan")
    assert load_config(search_k=20).search_k == 20
