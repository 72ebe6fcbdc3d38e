"""Ingestion of each format and structure-aware chunking (real spaCy and tokenizer)."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexer.chunk import Chunker
from indexer.readers import (
    SourceFile,
    discover,
    parse_field_map,
    read_html,
    read_markdown,
    read_plain_text,
    read_tickets,
)
from kb.errors import InputError
from kb.models import Document
from kb.structure import procedure_steps


def src(path: Path, root: Path | None = None, kind: str = "markdown") -> SourceFile:
    return SourceFile(path, root or path.parent, kind)


def test_markdown_front_matter(tiny_dir):
    doc = read_markdown(src(tiny_dir / "sops" / "refunds.md"))
    assert doc.id == "sop-test-refunds"
    assert doc.title == "Refunds"
    assert doc.tags == ["refunds", "payments"]
    assert doc.owner == "Payments" and doc.status == "published" and doc.review_by == "2026-01-31"
    assert doc.body.startswith("# Refunds")


def test_markdown_without_front_matter_takes_path_id_and_h1(tiny_dir):
    doc = read_markdown(src(tiny_dir / "sops" / "billing" / "double-charge.md", tiny_dir / "sops"))
    assert doc.id == "billing/double-charge"
    assert doc.title == "Duplicate charges"
    assert doc.status == "published"


def test_plain_text_headings(tiny_dir):
    doc = read_plain_text(src(tiny_dir / "sops" / "phone-etiquette.txt", kind="text"))
    assert doc.id == "phone-etiquette"
    assert doc.title == "Telephone etiquette"
    assert "## Hold" in doc.body and "## Greeting" in doc.body
    steps = procedure_steps(doc)
    assert [s.text for s in steps][0].startswith("Ask the caller for permission")


def test_html_drops_scripts_and_keeps_structure(tiny_dir):
    doc = read_html(src(tiny_dir / "sops" / "social.html", kind="html"))
    assert doc.title == "Social media replies"
    assert "alert" not in doc.body
    assert "## Moving to private messages" in doc.body
    assert "1. Thank the customer publicly." in doc.body
    assert "2. Ask them to send a direct message" in doc.body


def test_malformed_front_matter_names_file_and_line(tmp_path):
    p = tmp_path / "bad.md"
    p.write_text("---\nid: x\ntitle: [unclosed\nowner: me\n---\n# Body\n")
    with pytest.raises(InputError) as exc:
        read_markdown(src(p))
    assert "bad.md:" in str(exc.value)
    line = int(str(exc.value).split("bad.md:")[1].split(":")[0])
    assert 3 <= line <= 5  # the broken line (3) or where YAML noticed it


def test_unclosed_front_matter(tmp_path):
    p = tmp_path / "open.md"
    p.write_text("---\nid: x\n# no end\n")
    with pytest.raises(InputError, match=r"open.md:1: .*closing"):
        read_markdown(src(p))


def test_bad_status_and_date_are_field_errors(tmp_path):
    p = tmp_path / "s.md"
    p.write_text("---\nstatus: live\n---\n# T\n")
    with pytest.raises(InputError, match="status") as exc:
        read_markdown(src(p))
    assert exc.value.field == "status"
    p.write_text("---\nreview_by: next year\n---\n# T\n")
    with pytest.raises(InputError, match="review_by"):
        read_markdown(src(p))


def test_non_utf8_file_names_file(tiny_dir):
    with pytest.raises(InputError, match=r"latin1.md:3: not valid UTF-8"):
        read_markdown(src(tiny_dir / "sops" / "latin1.md"))


def test_tickets_jsonl_and_csv_with_map(tiny_dir):
    jl = list(read_tickets(src(tiny_dir / "tickets" / "tickets.jsonl", kind="jsonl"), {}))
    assert [t.id for t in jl] == ["T-1", "T-2"]
    t1 = jl[0]
    assert t1.type == "ticket" and t1.title == "Parcel never arrived"
    assert t1.metadata["channel"] == "chat" and t1.tags == ["delivery", "lost"]
    assert "Question:\nmy parcel says delivered" in t1.body and "Resolution:\nOpened a carrier" in t1.body

    fmap = parse_field_map(["id=ticket_no", "question=description", "answer=resolution", "subject=title",
                            "tags=labels"])
    rows = list(read_tickets(src(tiny_dir / "tickets" / "other_columns.csv", kind="csv"), fmap))
    assert [t.id for t in rows] == ["C-1", "C-2"]
    assert rows[0].metadata["question"].startswith("I tried the code SAVE10")
    assert rows[0].tags == ["promo"]


def test_csv_without_id_column_is_an_error(tiny_dir):
    with pytest.raises(InputError, match=r"other_columns.csv:1: .*no `id` column"):
        list(read_tickets(src(tiny_dir / "tickets" / "other_columns.csv", kind="csv"), {}))


def test_bad_ticket_rows_are_reported_not_fatal(tmp_path):
    p = tmp_path / "t.jsonl"
    p.write_text('{"id": "A", "question": "q?"}\nnot json\n{"question": "no id"}\n{"id": "B", "answer": "ok"}\n')
    items = list(read_tickets(src(p, kind="jsonl"), {}))
    errors = [str(i) for i in items if isinstance(i, InputError)]
    assert [i.id for i in items if not isinstance(i, InputError)] == ["A", "B"]
    assert any("t.jsonl:2: not valid JSON" in e for e in errors)
    assert any("t.jsonl:3: ticket has no `id`" in e for e in errors)


def test_field_map_validation():
    with pytest.raises(InputError, match="FIELD=COLUMN"):
        parse_field_map(["question"])
    with pytest.raises(InputError, match="not a ticket field"):
        parse_field_map(["body=description"])


def test_discover_is_recursive(tiny_dir):
    files, _ = discover([tiny_dir])
    names = sorted(f.path.name for f in files)
    assert names == ["double-charge.md", "latin1.md", "other_columns.csv", "phone-etiquette.txt", "refunds.md",
                     "social.html", "tickets.jsonl"]


# -- chunking ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def chunker(embedder):
    from kb.text import load_spacy

    return Chunker(embedder.count_tokens, max_tokens=60, model_max_tokens=embedder.max_tokens, nlp=load_spacy())


def test_sop_chunks_follow_headings_and_keep_paths(tiny_dir, chunker):
    doc = read_markdown(src(tiny_dir / "sops" / "refunds.md"))
    chunks = chunker.chunk(doc)
    headings = [c.heading for c in chunks]
    assert "Refunds > Purpose" in headings
    assert "Refunds > Eligibility" in headings
    assert "Refunds > Procedure" in headings
    for c in chunks:
        assert doc.body[c.start:c.end] == c.text  # offsets mark the passage in the document
    proc = [c for c in chunks if c.heading == "Refunds > Procedure"]
    assert proc[0].kind == "steps"
    # a step and its sub-bullet stay together
    assert any("2. Open the order" in c.text and "check the tracking first" in c.text for c in proc)


def test_long_paragraph_split_on_sentences_within_budget(chunker, embedder):
    sentences = [f"Sentence number {i} explains one more rule about refunds and returns for customers." for i in
                 range(40)]
    doc = Document(id="long", type="sop", title="Long", body="# Long\n\n## Rules\n" + " ".join(sentences) + "\n")
    chunks = chunker.chunk(doc)
    assert len(chunks) > 3
    for c in chunks:
        assert embedder.count_tokens(c.text) <= chunker.budget("Long > Long > Rules")
        assert c.text.endswith(".")  # cut at a sentence boundary
        assert c.text.startswith("Sentence number")
    # one sentence of overlap between consecutive chunks
    assert chunks[1].text.split(".")[0] in chunks[0].text


def test_ticket_is_one_chunk_unless_long(chunker):
    short = Document(id="t", type="ticket", title="Late", body="Question:\nWhere is it?\n\nResolution:\nChased DPD.\n")
    assert len(chunker.chunk(short)) == 1
    long_q = " ".join(f"I have been waiting for day {i} and nobody tells me anything at all." for i in range(30))
    long = Document(id="t2", type="ticket", title="Late", body=f"Question:\n{long_q}\n\nResolution:\nRefunded.\n")
    chunks = chunker.chunk(long)
    assert len(chunks) > 1
    assert {c.heading for c in chunks} == {"Question", "Resolution"}
    assert chunks[-1].text == "Refunded."
