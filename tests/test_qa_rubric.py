"""Rubric loading and validation: every problem names the file, the line and the field."""

from __future__ import annotations

import textwrap

import pytest
import yaml

from qa_rubrics.criteria import resolve
from qa_rubrics.rubric import RubricError, load_rubric, order_of_evaluation, parse_rubric, write_tuned_copy
from tests.conftest import CORPUS, DATA

GOOD = textwrap.dedent("""\
    id: r1
    name: R1
    version: 1
    pass_mark: 80
    sections:
      - id: s1
        name: S1
        criteria:
          - id: hello
            question: Did the agent greet?
            points: 5
            method: semantic
            examples: ["Hello"]
          - id: bye
            question: Did the agent say bye?
            points: 5
            method: keyword
            keywords: [bye]
          - id: hello_first
            question: Greeting before goodbye?
            points: 1
            method: order
            first: hello
            then: bye
    """)


def write(tmp_path, text, name="r.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def errors_of(tmp_path, text):
    p = write(tmp_path, text)
    with pytest.raises(RubricError) as exc:
        load_rubric(p)
    return str(p), exc.value


def test_sample_rubrics_load_and_use_every_method():
    methods = set()
    for name in ("phone-support.yaml", "chat-support.yaml"):
        r = load_rubric(CORPUS / "rubrics" / name)
        assert len(r.criteria) >= 10
        for c in r.criteria:
            methods.add(c.check.method_name)
            if c.check.method_name == "absent":
                methods.add(c.check.params["check"].method_name)
    assert methods >= {"semantic", "keyword", "regex", "absent", "order", "sop_steps", "timing"}


def test_good_rubric_and_defaults():
    r = parse_rubric(GOOD, "good.yaml")
    assert r.id == "r1" and r.version == 1 and r.pass_mark == 80
    c = r.criterion("hello")
    assert c.check.method == "semantic.v8" and c.speaker == "agent" and not c.critical and c.check.threshold is None
    assert [c.id for c in order_of_evaluation(r)][-1] == "hello_first"


def test_method_names_are_versioned():
    assert resolve("semantic").key == "semantic.v8"  # the latest
    assert resolve("semantic.v4").key == "semantic.v4"
    assert resolve("semantic.v5").key == "semantic.v5"
    assert resolve("semantic.v2").key == "semantic.v2"
    assert resolve("semantic.v1").key == "semantic.v1"  # still there for rubrics that pin it
    assert resolve("keyword.v1").key == "keyword.v1"
    assert resolve("keyword.v9") is None and resolve("telepathy") is None


@pytest.mark.parametrize("old,new,line,field,message", [
    ("method: keyword", "method: keywrod", 17, "sections[0].criteria[1].method", "unknown method 'keywrod' (did you mean 'keyword'?)"),
    ("        points: 5\n        method: keyword", "        method: keyword", 14, "sections[0].criteria[1]", "missing field 'points'"),
    ("id: bye", "id: hello", 14, "sections[0].criteria[1].id", "duplicate criterion id 'hello'"),
    ("then: bye", "then: byebye", 24, "sections[0].criteria[2].then", "'then' names unknown criterion 'byebye'"),
    ('examples: ["Hello"]', 'examples: ["Hello"]\n        threshold: 1.5', 14, "sections[0].criteria[0].threshold", "'threshold' must be between 0 and 1"),
    ("keywords: [bye]", "keyword: [bye]", 18, "sections[0].criteria[1].keyword", "unknown field 'keyword'"),
    ("points: 1", "points: lots", 21, "sections[0].criteria[2].points", "'points' must be a number"),
    ("        keywords: [bye]", "        keywords: [bye]\n        window: {first_turns: 2, last_turns: 2}", 19, "sections[0].criteria[1].window", "not both"),
])
def test_validation_errors_name_file_line_and_field(tmp_path, old, new, line, field, message):
    assert old in GOOD
    path, err = errors_of(tmp_path, GOOD.replace(old, new, 1))
    match = [e for e in err.errors if e[1] == field]
    assert match, err.message
    ln, fld, msg = match[0]
    assert ln == line, err.message
    assert message in msg
    assert f"{path}, line {line}: {field}: " in err.message


def test_all_problems_are_reported_at_once(tmp_path):
    text = GOOD.replace("method: semantic", "method: vibes").replace("then: bye", "then: nope")
    _, err = errors_of(tmp_path, text)
    assert len(err.errors) >= 2 and "2 problems" in err.message or "problems" in err.message
    assert {e[1] for e in err.errors} >= {"sections[0].criteria[0].method", "sections[0].criteria[2].then"}


def test_bad_regex_and_duplicate_yaml_keys(tmp_path):
    text = GOOD.replace("method: keyword\n        keywords: [bye]", 'method: regex\n        pattern: "(unclosed"')
    _, err = errors_of(tmp_path, text)
    assert "not a valid regular expression" in err.errors[0][2] and err.errors[0][0] == 18
    text = GOOD.replace("        points: 1\n", "        points: 1\n        points: 2\n")
    _, err = errors_of(tmp_path, text)
    assert err.errors[0][2] == "field 'points' is given twice" and err.errors[0][0] == 22


def test_yaml_syntax_error_names_line(tmp_path):
    _, err = errors_of(tmp_path, "id: x\nsections: [\n  - a\n")
    assert err.errors[0][0] is not None and "invalid YAML" in err.message


def test_order_cycle_and_nested_order_are_refused(tmp_path):
    text = GOOD + textwrap.indent(textwrap.dedent("""\
        - id: bye_first
          question: loop
          points: 1
          method: order
          first: hello_first
          then: bye_first
        """), " " * 6)
    _, err = errors_of(tmp_path, text)
    assert any("names the criterion itself" in e[2] for e in err.errors), err.message
    nested = GOOD.replace("method: keyword\n        keywords: [bye]",
                          "method: absent\n        check: {method: order, first: hello, then: bye}")
    _, err = errors_of(tmp_path, nested)
    assert any("cannot be used inside" in e[2] for e in err.errors)


def test_timing_needs_a_limit(tmp_path):
    text = GOOD.replace("method: keyword\n        keywords: [bye]", "method: timing")
    _, err = errors_of(tmp_path, text)
    assert "max_first_response_s" in err.errors[0][2]


def test_tuned_copy_keeps_comments_and_never_touches_the_original(tmp_path):
    src = write(tmp_path, "# my rubric\n" + GOOD)
    before = src.read_text()
    r = load_rubric(src)
    out = write_tuned_copy(r, {"hello": {"threshold": 0.42, "slope": 12.0}}, tmp_path / "tuned.yaml", note="tuned")
    assert src.read_text() == before
    tuned = load_rubric(out)
    assert tuned.criterion("hello").check.threshold == pytest.approx(0.42)
    assert tuned.criterion("hello").check.slope == pytest.approx(12.0)
    assert "# my rubric" in out.read_text() and out.read_text().startswith("# tuned")
    with pytest.raises(Exception, match="overwrite"):
        write_tuned_copy(r, {}, src)


def test_test_rubric_is_valid():
    r = load_rubric(DATA / "qa" / "rubric.yaml")
    assert r.version == 2 and len(r.criteria) == 10
    assert yaml.safe_load((DATA / "qa" / "rubric.yaml").read_text())["id"] == "test-rubric"
