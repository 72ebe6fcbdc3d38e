"""Transcript formats: JSON, JSONL, "Speaker: text", WebVTT; speaker roles; errors name file and line."""

from __future__ import annotations

import json

import pytest

from qa_rubrics.transcripts import (
    LoadFailure,
    SpeakerMap,
    Transcript,
    TranscriptError,
    expand_inputs,
    load_inputs,
    load_transcript,
    parse_file,
)
from tests.conftest import CORPUS, DATA

QA = DATA / "qa" / "transcripts"


def test_json_transcript_with_times():
    t = load_transcript(QA / "good.json")
    assert t.id == "good-1" and t.agent == "Sam Carter" and t.channel == "phone"
    assert [x.speaker for x in t.turns[:3]] == ["agent", "customer", "agent"]
    assert t.turns[1].start == 7 and t.turns[1].end == 15
    assert t.has_times


def test_text_transcript_header_speakers_and_continuation_lines():
    t = load_transcript(QA / "rude.txt")
    assert t.id == "rude-1" and t.agent == "Dan Price" and t.channel == "phone"
    assert [x.speaker for x in t.turns] == ["agent", "customer", "agent", "customer", "agent", "customer", "agent"]
    # the indented line continues the agent's turn
    assert t.turns[4].text.endswith("the refund is on its way. It takes a week or so.")
    assert not t.has_times


def test_vtt_voice_tags_cue_times_and_note():
    t = load_transcript(QA / "call.vtt")
    assert t.id == "vtt-1" and t.agent == "Priya Shah"
    assert [x.speaker for x in t.turns] == ["agent", "customer", "agent", "customer"]
    assert t.turns[2].start == 150.0 and t.turns[2].end == 155.0
    assert t.turns[0].text.startswith("Hello, you're through to Priya")


def test_jsonl_bad_lines_are_reported_and_the_rest_read():
    items = list(parse_file(QA / "batch.jsonl"))
    ok = [i for i in items if isinstance(i, Transcript)]
    bad = [i for i in items if isinstance(i, LoadFailure)]
    assert [t.id for t in ok] == ["batch-1", "batch-4"]  # line 4 has no id: file name + line
    assert [t.speaker for t in ok[0].turns] == ["agent", "customer"]  # Rep / Client
    assert [t.speaker for t in ok[1].turns] == ["customer", "agent"]  # Kunde / Advisor
    assert len(bad) == 2
    assert "batch.jsonl, line 2" in bad[0].reason and "turns[1] has no 'text'" in bad[0].reason
    assert "batch.jsonl, line 3" in bad[1].reason and "invalid JSON" in bad[1].reason


def test_transcript_without_id_takes_file_name(tmp_path):
    p = tmp_path / "call-77.txt"
    p.write_text("Agent: Hello\nCustomer: Hi there\n")
    assert load_transcript(p).id == "call-77"
    j = tmp_path / "chat-9.json"
    j.write_text(json.dumps({"turns": [{"speaker": "agent", "text": "hi"}]}))
    assert load_transcript(j).id == "chat-9"


def test_plain_text_timestamps_and_agent_name(tmp_path):
    p = tmp_path / "t.txt"
    p.write_text("# agent: Maria Lopez\n[00:00:01] Maria: Hello, Maria speaking.\n[00:01:05] Bob: Hi.\n")
    t = load_transcript(p)
    assert [x.speaker for x in t.turns] == ["agent", "customer"]  # agent by name, the other one inferred
    assert [x.start for x in t.turns] == [1.0, 65.0]


def test_unknown_speakers_error_names_file_and_line(tmp_path):
    p = tmp_path / "who.txt"
    p.write_text("Alice: Hello\nBob: Hi\nAlice: Bye\nBob: Bye\n")
    with pytest.raises(TranscriptError) as exc:
        load_transcript(p)
    assert f"{p}, line 1" in exc.value.message and "Alice" in exc.value.message
    assert "speaker_aliases" in exc.value.message  # the hint says how to fix it
    # the setting resolves it
    t = load_transcript(p, aliases=["Alice=agent"])
    assert [x.speaker for x in t.turns] == ["agent", "customer", "agent", "customer"]


def test_errors_name_the_line(tmp_path):
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{"id": "x",\n "turns": [\n  {"speaker": "agent" "text": "hi"}\n]}')
    with pytest.raises(TranscriptError, match=r"bad\.json, line 3: invalid JSON"):
        load_transcript(bad_json)
    bad_vtt = tmp_path / "bad.vtt"
    bad_vtt.write_text("WEBVTT\n\n1\n00:00:01.000 -> 00:00:02.000\n<v Agent>hi\n")
    with pytest.raises(TranscriptError, match=r"bad\.vtt, line 3"):
        load_transcript(bad_vtt)
    empty = tmp_path / "empty.json"
    empty.write_text('{"id": "e", "turns": [{"speaker": "agent", "text": "  "}]}')
    with pytest.raises(TranscriptError, match="no turns with text"):
        load_transcript(empty)
    no_label = tmp_path / "nolabel.txt"
    no_label.write_text("hello there\nAgent: hi\n")
    with pytest.raises(TranscriptError, match=r"nolabel\.txt, line 1: expected 'Speaker: text'"):
        load_transcript(no_label)


def test_folders_skip_label_files_and_report_missing_paths(tmp_path):
    files = expand_inputs([QA])
    assert all("labels" not in f.name for f in files)
    items = list(load_inputs([QA, tmp_path / "missing.json"]))
    ids = {i.id for i in items if isinstance(i, Transcript)}
    assert {"good-1", "rude-1", "vtt-1", "batch-1", "batch-4"} <= ids
    assert any(isinstance(i, LoadFailure) and "no such file" in i.reason for i in items)


def test_speaker_aliases_are_case_insensitive_and_extendable():
    sm = SpeakerMap(["Bot=agent"])
    assert sm.role("REP") == "agent" and sm.role("caller") == "customer" and sm.role("Kundin") == "customer"
    assert sm.role("bot") == "agent" and sm.role("Agent (Tom)") == "agent"


def test_sample_corpus_parses_completely():
    for split in ("dev", "test"):
        folder = CORPUS / "transcripts" / split
        if not folder.exists():
            continue
        items = list(load_inputs([folder]))
        failures = [i.reason for i in items if isinstance(i, LoadFailure)]
        assert not failures, failures
        assert all(t.turns for t in items)


# -- what an import knows: header block, CLI flags ------------------------------------------------
def test_header_block_gives_agent_channel_date_and_customer(tmp_path):
    from qa_rubrics.transcripts import load_transcript

    f = tmp_path / "c.txt"
    f.write_text("# id: call-9\n# agent: Amara Okafor\n# channel: phone\n# date: 2026-10-14T13:31:00Z\n"
                 "# customer: Jo Pritchard\nAmara: Hello, Brightcart.\nJo: Hi, my parcel is late.\n", encoding="utf-8")
    t = load_transcript(f)
    assert (t.id, t.agent, t.channel, t.started_at, t.customer) == (
        "call-9", "Amara Okafor", "phone", "2026-10-14T13:31:00Z", "Jo Pritchard")
    assert [x.speaker for x in t.turns] == ["agent", "customer"]  # the names in the header say who is who
    v = tmp_path / "c.vtt"
    v.write_text("WEBVTT\n\nNOTE\nagent: Tom Fletcher\nchannel: phone\ndate: 2026-10-15\n\n1\n"
                 "00:00:00.000 --> 00:00:02.000\n<v Agent>Hello.\n", encoding="utf-8")
    t = load_transcript(v)
    assert (t.agent, t.channel, t.started_at) == ("Tom Fletcher", "phone", "2026-10-15")


def test_a_bad_date_in_the_header_names_the_line(tmp_path):
    from qa_rubrics.transcripts import TranscriptError, load_transcript

    f = tmp_path / "c.txt"
    f.write_text("# agent: A\n# date: 14/10/2026\nAgent: hi\nCustomer: hello\n", encoding="utf-8")
    with pytest.raises(TranscriptError) as exc:
        load_transcript(f)
    assert "line 2" in exc.value.message and "is not a date" in exc.value.message


def test_cli_flags_fill_what_files_do_not_say(tmp_path):
    import json

    from click.testing import CliRunner

    from kb.cli import cli

    (tmp_path / "a.txt").write_text("Agent: Hello, how can I help?\nCustomer: My parcel is late.\n", encoding="utf-8")
    (tmp_path / "b.txt").write_text("# agent: Priya Nair\nAgent: Hi!\nCustomer: Hello.\n", encoding="utf-8")
    rubric = tmp_path / "r.yaml"
    rubric.write_text("id: r\nversion: 1\npass_mark: 50\nsections:\n  - id: s\n    criteria:\n"
                      "      - id: hello\n        question: Did the agent greet?\n        points: 1\n"
                      "        method: keyword\n        keywords: [hello, hi]\n", encoding="utf-8")
    args = ["qa", "score", "--rubric", str(rubric), str(tmp_path / "a.txt"), str(tmp_path / "b.txt"), "--json",
            "--no-progress", "--no-store", "--db", str(tmp_path / "none.db")]
    res = CliRunner().invoke(cli, [*args, "--agent", "Tom Fletcher", "--channel", "Phone", "--date", "2026-10-01"],
                             catch_exceptions=False)
    cards = {c["transcript_id"]: c for c in json.loads(res.stdout)}
    assert cards["a"]["agent"] == "Tom Fletcher" and cards["b"]["agent"] == "Priya Nair"  # the file wins
    assert cards["a"]["channel"] == "phone" and cards["a"]["started_at"] == "2026-10-01"
    warned = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert "name no agent (a)" in warned.stderr
    bad = CliRunner().invoke(cli, [*args, "--date", "yesterday"])
    assert bad.exit_code != 0 and "--date" in str(bad.exception) and "is not a date" in str(bad.exception)
