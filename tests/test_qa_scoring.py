"""Scoring with the real model and spaCy: each method (pass, fail, N/A), windows, critical failures,
N/A arithmetic, evidence offsets into the redacted text, SOP steps from a small knowledge base."""

from __future__ import annotations

import pytest

from kb.config import load_config
from qa_rubrics.rubric import load_rubric
from qa_rubrics.score import Scorer
from qa_rubrics.transcripts import Transcript, Turn, load_transcript
from tests.conftest import DATA, rubric_of

QA = DATA / "qa"


@pytest.fixture(scope="module")
def qa_kb(tmp_path_factory, embedder):
    """(config, store) with the two test SOPs indexed."""
    from indexer.pipeline import index_paths
    from kb.storage import open_store

    d = tmp_path_factory.mktemp("qa_kb")
    config = load_config(data_dir=str(d), db=str(d / "kb.db"))
    store = open_store(config.database)
    index_paths(store, embedder, config, [QA / "sops"], progress=False)
    return config, store


@pytest.fixture(scope="module")
def scorer(qa_kb, embedder):
    config, store = qa_kb
    return Scorer(load_rubric(QA / "rubric.yaml"), config, embedder, store=store)


@pytest.fixture(scope="module")
def cards(scorer):
    return {name: scorer.score(load_transcript(QA / "transcripts" / name))
            for name in ("good.json", "rude.txt", "call.vtt")}


def T(*turns, times=None, agent="") -> Transcript:
    """A transcript from ('agent'|'customer', text) pairs; `times`: start seconds per turn."""
    out = []
    for i, (who, text) in enumerate(turns):
        out.append(Turn(who, text, None if times is None else float(times[i])))
    return Transcript(id="t", turns=out, agent=agent)


def one(scorer_like, crit_yaml, transcript, cid=None):
    r = rubric_of(crit_yaml)
    s = Scorer(r, scorer_like.config, scorer_like.embedder, store=scorer_like.store, nlp=scorer_like.nlp)
    card = s.score(transcript)
    return card.criterion(cid or r.criteria[0].id), card


# -- whole rubric ---------------------------------------------------------------------------------
def test_good_call_passes_everything(cards):
    card = cards["good.json"]
    assert card.results() == {c: "pass" for c in card.results()}
    assert card.score == 100.0 and card.verdict == "pass"
    assert [s["score"] for s in card.sections] == [100.0, 100.0, 100.0]


def test_critical_failure_fails_the_rubric_with_reason_and_total_shown(cards):
    card = cards["rude.txt"]
    assert card.criterion("no_rudeness").result == "fail"
    assert card.verdict == "fail" and "no_rudeness" in card.reason and "critical" in card.reason
    assert card.score is not None and card.score > 0
    ev = card.criterion("no_rudeness").evidence[0]
    assert ev["text"] == "stupid" and ev["speaker"] == "agent"


def test_na_criteria_leave_the_total(cards):
    card = cards["rude.txt"]
    na = {c.id for c in card.criteria if c.result == "na"}
    assert na == {"empathy", "quick_reply"}  # no upset customer; no turn times
    applicable = [c for c in card.criteria if c.result != "na"]
    assert card.available == sum(c.points for c in applicable)
    assert card.earned == sum(c.points for c in applicable if c.result == "pass")
    assert card.score == pytest.approx(round(100 * card.earned / card.available, 1))
    for sec in card.sections:
        crits = [c for c in applicable if c.section == sec["id"]]
        assert sec["available"] == sum(c.points for c in crits)


def test_evidence_offsets_point_into_the_redacted_turn_text(cards):
    n = 0
    for card in cards.values():
        for c in card.criteria:
            for e in c.evidence:
                turn_text = card.turns[e["turn"]]["text"]
                assert turn_text[e["start"]:e["end"]] == e["text"], (c.id, e)
                assert card.turns[e["turn"]]["speaker"] == e["speaker"]
                n += 1
    assert n > 10
    good = cards["good.json"]
    kw = good.criterion("verify").evidence[0]
    assert kw["text"].lower() == kw["matched"] == "postcode"


def test_pii_is_redacted_in_stored_turns_and_evidence(cards):
    good = cards["good.json"]
    all_text = " ".join(t["text"] for t in good.turns) + str(good.to_dict())
    assert "jo.bloggs@example.com" not in all_text and "[EMAIL]" in all_text
    assert "Sam" not in " ".join(t["text"] for t in good.turns)  # the agent's own name too
    assert good.original_turns is None


def test_original_text_is_kept_only_when_the_setting_says_so(scorer):
    config = scorer.config.with_overrides(store_original_text=True, redact_pii=False)
    s = Scorer(scorer.rubric, config, scorer.embedder, store=scorer.store, nlp=scorer.nlp)
    card = s.score(T(("agent", "Hello, my email is a.b@example.com"), ("customer", "hi")))
    assert card.turns[0]["text"] == "Hello, my email is a.b@example.com"
    assert card.original_turns[0]["text"] == "Hello, my email is a.b@example.com"


def test_json_shape(cards):
    d = cards["good.json"].to_dict()
    for key in ("transcript_id", "rubric_id", "rubric_version", "score", "verdict", "criteria"):
        assert key in d
    assert d["rubric_version"] == 2
    c = d["criteria"][0]
    for key in ("id", "result", "confidence", "evidence"):
        assert key in c
    assert set(c["evidence"][0]) >= {"turn", "speaker", "start", "end", "text", "matched"}


# -- methods ----------------------------------------------------------------------------------------
KEYWORD = """\
- id: kw
  question: Did the agent mention a refund or a hold?
  points: 1
  method: keyword
  keywords: [refund, hold, money back]
"""


def test_keyword_is_whole_word_case_insensitive_and_lemma_aware(scorer):
    r, _ = one(scorer, KEYWORD, T(("agent", "Your REFUNDS were sent."), ("customer", "ok")))
    assert r.result == "pass" and r.evidence[0]["text"] == "REFUNDS"
    r, _ = one(scorer, KEYWORD, T(("agent", "Thanks for holding."), ("customer", "ok")))
    assert r.result == "pass" and r.evidence[0]["text"] == "holding"
    r, _ = one(scorer, KEYWORD, T(("agent", "You'll get your money back."), ("customer", "ok")))
    assert r.result == "pass" and r.evidence[0]["text"] == "money back"
    r, _ = one(scorer, KEYWORD, T(("agent", "That item is non-refundable, the household rules."),
                                  ("customer", "I want a refund")))  # customer's words do not count
    assert r.result == "fail"


def test_regex_default_ignores_case_and_flags_override(scorer):
    crit = """\
    - id: rx
      question: Recorded?
      points: 1
      method: regex
      pattern: "calls are recorded"
    """
    r, _ = one(scorer, crit, T(("agent", "CALLS ARE RECORDED for training."), ("customer", "ok")))
    assert r.result == "pass" and r.evidence[0]["text"] == "CALLS ARE RECORDED"
    r, _ = one(scorer, crit + '  flags: ""\n', T(("agent", "CALLS ARE RECORDED."), ("customer", "ok")))
    assert r.result == "fail"


SEMANTIC = """\
- id: closing
  question: Did the agent ask whether there was anything else they could help with?
  points: 1
  method: semantic
  examples: ["Is there anything else I can help you with today?"]
  counter_examples: ["There's nothing else I can do for you."]
  threshold: 0.55
"""


def test_semantic_pass_fail_and_sentence_level_evidence(scorer):
    t = T(("agent", "Right, that's all sorted for you now. Was there anything more I can help you with? "
                    "The parcel should arrive on Friday."), ("customer", "No, thanks."))
    r, card = one(scorer, SEMANTIC, t)
    assert r.result == "pass" and 0.5 < r.confidence <= 1.0 and r.score > 0.5
    assert card.turns[0]["text"][r.evidence[0]["start"]:r.evidence[0]["end"]] == \
        "Was there anything more I can help you with?"
    r, _ = one(scorer, SEMANTIC, T(("agent", "The parcel was dispatched with DPD this morning."), ("customer", "ok")))
    assert r.result == "fail" and r.evidence == [] and r.detail["nearest"]["text"]


def test_semantic_counter_examples_and_negation_push_down(scorer):
    r, _ = one(scorer, SEMANTIC, T(("agent", "There's nothing else I can do for you."), ("customer", "ok")))
    assert r.result == "fail"
    assert "closer_to_counter_example" in r.detail["nearest"]


def test_window_first_and_last_turns(scorer):
    crit = """\
    - id: greet
      question: Did the agent greet the customer?
      points: 1
      method: keyword
      keywords: [hello]
      window: {first_turns: 2}
    """
    late = T(("agent", "Yes?"), ("customer", "hi"), ("agent", "What?"), ("customer", "hm"), ("agent", "Hello!"))
    assert one(scorer, crit, late)[0].result == "fail"  # the agent's 3rd turn is outside the window
    early = T(("customer", "hi"), ("customer", "anyone?"), ("agent", "Yes?"), ("agent", "Hello!"))
    assert one(scorer, crit, early)[0].result == "pass"  # the agent's 2nd turn, whatever the customer sent
    last = crit.replace("first_turns", "last_turns")
    assert one(scorer, last, late)[0].result == "pass"
    assert one(scorer, last, T(("agent", "Hello!"), ("agent", "a"), ("agent", "b")))[0].result == "fail"


def test_absent_order_timing_and_applies_when(scorer):
    crits = """\
    - id: asked_postcode
      question: q
      points: 1
      method: keyword
      keywords: [postcode]
    - id: said_refund
      question: q
      points: 1
      method: keyword
      keywords: [refund]
    - id: postcode_first
      question: q
      points: 1
      method: order
      first: asked_postcode
      then: said_refund
    - id: no_swearing
      question: q
      points: 1
      critical: true
      method: absent
      check: {method: keyword, keywords: [damn]}
    - id: fast
      question: q
      speaker: any
      points: 1
      method: timing
      max_first_response_s: 30
      max_silence_s: 60
    - id: calm_down
      question: q
      points: 1
      method: keyword
      keywords: [sorry]
      applies_when: {speaker: customer, method: keyword, keywords: [angry]}
    """
    r = rubric_of(crits)
    s = Scorer(r, scorer.config, scorer.embedder, store=scorer.store, nlp=scorer.nlp)
    good = s.score(T(("customer", "Hi, I'm angry about my refund."), ("agent", "Sorry! What's your postcode?"),
                     ("customer", "M1 1AA"), ("agent", "Thanks, the refund is done."), times=[0, 20, 30, 50]))
    assert good.results() == {"asked_postcode": "pass", "said_refund": "pass", "postcode_first": "pass",
                              "no_swearing": "pass", "fast": "pass", "calm_down": "pass"}
    bad = s.score(T(("customer", "Where is my refund?"), ("agent", "Damn, the refund failed. Postcode?"),
                    ("customer", "M1 1AA"), times=[0, 45, 200]))
    assert bad.criterion("postcode_first").result == "fail"
    assert bad.criterion("no_swearing").result == "fail" and bad.verdict == "fail"
    fast = bad.criterion("fast")
    assert fast.result == "fail" and len(fast.evidence) == 2  # slow first reply, long silence
    assert bad.criterion("calm_down").result == "na"  # applies_when found nothing
    none = s.score(T(("customer", "Hello"), ("agent", "Hi, what's your postcode?")))
    assert none.criterion("postcode_first").result == "na"  # no refund talk: nothing to order
    assert none.criterion("fast").result == "na"  # no turn times


def test_sop_steps_named_sop_found_and_missing_steps(cards):
    good = cards["good.json"].criterion("refund_steps")
    assert good.result == "pass"
    d = good.detail
    assert d["sop"] == "sop-test-refund" and d["sop_version"] >= 1 and d["found_by"] == "rubric"
    assert [s["found"] for s in d["steps"] if s["counted"]] == [True, True, True, True]
    assert [s["counted"] for s in d["steps"]] == [True, True, True, True, False]  # "Add a note": back office
    assert all(e["matched"].startswith("step ") for e in good.evidence)
    vtt = cards["call.vtt"].criterion("refund_steps")
    assert vtt.result == "fail" and any(not s["found"] for s in vtt.detail["steps"])


def test_sop_steps_found_by_search_or_na(scorer):
    crit = """\
    - id: proc
      question: Did the agent follow the procedure?
      points: 1
      method: sop_steps
      min_fraction: 0.5
    """
    t = T(("customer", "Hi, I forgot my password and the reset email never arrives in my inbox."),
          ("agent", "Which email address do you type on the sign-in page?"),
          ("customer", "a@b.com"),
          ("agent", "Please look in your spam or junk folder. I've sent a password reset link from your record now, "
                    "and the link expires after 30 minutes."))
    r, _ = one(scorer, crit, t)
    assert r.result == "pass" and r.detail["sop"] == "sop-test-password" and r.detail["found_by"] == "search"
    off_topic = T(("customer", "What lovely sunny weather we are having in Leeds today, isn't it?"),
                  ("agent", "Yes, it is lovely."))
    r, _ = one(scorer, crit, off_topic)
    assert r.result == "na" and "no procedure identified" in r.reason and "no SOP clearly applies" in r.reason
    assert r.evidence == []
    # the customer's words point at an SOP, but the agent said nothing of its steps: N/A, never a fail
    unrelated = T(("customer", "Hi, I forgot my password and the reset email never arrives in my inbox."),
                  ("agent", "Our opening hours are nine to five on weekdays."),
                  ("customer", "Oh, ok then."))
    r, _ = one(scorer, crit, unrelated)
    assert r.result == "na" and r.reason.startswith("no procedure identified: the closest SOP is")
    assert r.evidence == [] and r.detail["closest_sop"] == "sop-test-password"


def test_sop_steps_without_a_knowledge_base_is_na(scorer):
    s = Scorer(scorer.rubric, scorer.config, scorer.embedder, store=None, nlp=scorer.nlp)
    card = s.score(load_transcript(QA / "transcripts" / "good.json"))
    assert card.criterion("refund_steps").result == "na"


def test_batches_score_as_one_at_a_time_in_input_order(scorer, cards):
    """`score_many` parses the next batch on a side thread while it embeds and judges this one: the
    scorecards are those of `score`, in input order, with unreadable files passed through in place."""
    from qa_rubrics.transcripts import LoadFailure

    names = ["good.json", "rude.txt", "call.vtt"] * 3
    items = [load_transcript(QA / "transcripts" / n) for n in names]
    items.insert(4, LoadFailure("broken.json", "not JSON"))
    fresh = Scorer(scorer.rubric, scorer.config, scorer.embedder, store=scorer.store, nlp=scorer.nlp)
    got = list(fresh.score_many(items, batch=2))
    assert got[4] == items[4]
    got = got[:4] + got[5:]
    assert [c.transcript_id for c in got] == [cards[n].transcript_id for n in names]
    for n, card in zip(names, got, strict=True):
        want = cards[n]
        assert (card.score, card.verdict, card.results()) == (want.score, want.verdict, want.results())
        # the same evidence; its similarity within what batching changes (padding, bfloat16 sums)
        strip = [[{k: v for k, v in e.items() if k != "similarity"} for e in r.evidence] for r in card.criteria]
        assert strip == [[{k: v for k, v in e.items() if k != "similarity"} for e in r.evidence] for r in want.criteria]
        sims = [e.get("similarity") or 0 for r in card.criteria for e in r.evidence]
        assert sims == pytest.approx([e.get("similarity") or 0 for r in want.criteria for e in r.evidence], abs=0.02)
