"""Transcripts without capitals or punctuation (speech recognisers that give neither, chat typed in
lower case): names are still found and redacted, long unpunctuated turns are read in windows,
hesitation sounds are left out of what the model sees, and a call that greets with the agent's name
and closes politely passes both criteria."""

from __future__ import annotations

import re

import pytest

from kb.config import load_config
from kb.redact import is_caseless, redact_many
from kb.transcript import Transcript, Turn
from qa_rubrics.conversation import WINDOW_WORDS, Conversation, clean_text, is_unpunctuated, spoken_question
from qa_rubrics.score import Scorer
from tests.conftest import rubric_of

CALL = [
    ("agent", "Morning, Brightcart customer service, this is Daniel. Calls are recorded for training and "
              "quality. How can I help?"),
    ("customer", "Hi Daniel, it's Claire Hughes. My parcel says delivered but it isn't here."),
    ("agent", "Sorry to hear that, Claire. Can I take your order number, please?"),
    ("customer", "It's BC-ORD-7720067."),
    ("agent", "Thanks. I can see the courier marked it delivered yesterday at noon. I'll open a trace with "
              "them and if it doesn't turn up in 48 hours we'll send a replacement."),
    ("customer", "OK, that's great, thanks."),
    ("agent", "Lovely. You might get a short survey after the call, it'd be great if you could fill it in. "
              "Thanks for calling Brightcart, have a good day, bye."),
]


def asr(text: str) -> str:
    """What a speech recogniser without punctuation or capitals gives."""
    return re.sub(r"[.,!?;:]", "", text).lower()


def transcript(speech: bool, tid: str = "call") -> Transcript:
    return Transcript(id=tid, agent="Daniel Mensah", customer="Claire Hughes", channel="phone",
                      turns=[Turn(s, asr(t) if speech else t) for s, t in CALL])


@pytest.fixture(scope="module")
def nlp_full(base_config):
    from kb.text import load_spacy

    return load_spacy(base_config.spacy_model, full=True)


def test_caseless_and_unpunctuated_are_told_from_ordinary_text():
    ordinary = [t for _, t in CALL]
    speech = [asr(t) for t in ordinary]
    assert not is_caseless(ordinary) and not is_unpunctuated(ordinary)
    assert is_caseless(speech) and is_unpunctuated(speech)
    assert is_caseless([re.sub(r"\bi\b", "I", t) for t in speech])  # a recogniser that capitalises "I"
    assert not is_caseless(ordinary[:2] + speech[2:])  # a transcript with cased turns is read as cased
    assert not is_caseless(["ok", "thanks"]) and not is_unpunctuated(["ok thanks"])  # too short to tell


@pytest.mark.parametrize("spoken, seen", [
    ("um thanks for calling uh brightcart", "thanks for calling brightcart"),
    ("Hmm, okay. Is there anything else?", "okay. Is there anything else?"),
    ("äh ja, ähm genau", "ja, genau"),
    ("er sagt, das Umtauschrecht gilt", "er sagt, das Umtauschrecht gilt"),  # German "er" is a word
    ("my umbrella broke, hum", "my umbrella broke, hum"),
])
def test_hesitation_sounds_are_not_shown_to_the_model(spoken, seen):
    assert clean_text(spoken) == seen


def test_names_in_lower_case_are_redacted(nlp_full):
    texts = [asr(t) for _, t in CALL]
    out = redact_many(texts, nlp_full, names=["Daniel Mensah", "Claire Hughes"])
    redacted = " ".join(t for t, _ in out)
    for name in ("daniel", "claire", "hughes"):
        assert not re.search(rf"\b{name}\b", redacted), redacted
    assert "[NAME]" in out[0][0] and out[0][0].startswith("morning brightcart customer service this is [NAME]")
    # without the transcript's names, the name lists still find a given name in any case
    alone = redact_many(["hello you're speaking to priya how can i help you with your order today"], nlp_full)
    assert "priya" not in alone[0][0]
    # ordinary text is matched as before: a known name only where it is capitalised
    cased = redact_many(["I will call you back. This is Will."], nlp_full, names=["Will Jones"])
    assert cased[0][0] == "I will call you back. This is [NAME]."


def test_long_unpunctuated_turns_are_read_in_windows(nlp_full):
    speech = Conversation(transcript(True), nlp_full)
    last = len(CALL) - 1
    units = [u for u in speech.units if u.turn == last]
    words = len(speech.turns[last].text.split())
    assert words > 2 * WINDOW_WORDS and len(units) > 2
    windows = [u for u in units if len(u.text.split()) <= WINDOW_WORDS]
    assert windows and any("have a good day" in u.text for u in windows)
    assert all(speech.turns[last].text[u.start:u.end] for u in units)
    assert speech.names[0] and speech.names[1]  # "this is daniel", "hi daniel it's claire hughes"
    # without redaction (no name model), the transcript's names are still found in lower case
    unredacted = Conversation(transcript(True), nlp_full, redact=False)
    assert unredacted.names[:2] == speech.names[:2] and unredacted.redacted[0] == speech.turns[0].text
    ordinary = Conversation(transcript(False), nlp_full)  # punctuated: sentences only, as before
    assert [(u.start, u.end) for u in ordinary.units if u.turn == last and u.kind == "sentence"] == \
        [(a, b) for a, b in ordinary.sentences[last]]


@pytest.mark.parametrize("text,language,question", [
    ("what city would you like the weather for", "en", True),
    ("for how many people", "en", True),
    ("so can i take your order number please", "en", True),
    ("i'll need you to hold while it is there", "en", False),
    ("is there anything else i can help with", "en", True),
    ("anything else today", "en", True),
    ("have a good day bye", "en", False),
    ("will do thanks", "en", False),
    ("the song has started", "en", False),
    ("thanks i've booked it for you", "en", False),
    ("können sie mir die bestellnummer sagen", "de", True),
    ("welche adresse ist hinterlegt", "de", True),
    ("vielen dank ich habe es storniert", "de", False),
    ("sipariş numaranızı alabilir miyim", "tr", True),
    ("hangi adrese gönderelim", "tr", True),
    ("siparişiniz yarın teslim edilecek", "tr", False),
    ("what city would you like?", "en", False),  # it has its question mark already
])
def test_a_spoken_question_without_its_mark(text, language, question):
    assert spoken_question(text, language) is question


def test_unpunctuated_questions_get_their_mark_back(nlp_full):
    """A speech recogniser drops the question mark the classifier reads ("for how many people" scored as a
    statement): in an unpunctuated transcript a span that starts like a question is shown with one, and
    counts as asking. A written transcript is left as it is."""
    speech = Conversation(Transcript(id="asr", channel="phone", turns=[
        Turn("customer", asr("I need a cab to the airport, it's fine if it's shared.")),
        Turn("agent", asr("For how many people?")),
        Turn("customer", asr("Just me, to Terminal 2 please, I'm in a bit of a rush this morning.")),
        Turn("agent", asr("Booking a shared ride for 1 person to Terminal 2. Have a good trip, bye.")),
    ]), nlp_full)
    assert speech.unpunctuated
    asked = [u for u in speech.units if u.turn == 1]
    assert [(u.text, u.ask) for u in asked] == [("for how many people?", True)]
    assert not any(u.text.endswith("?") for u in speech.units if u.turn != 1)  # "have a good trip" asks nothing
    written = Conversation(transcript(False), nlp_full)
    assert not written.unpunctuated
    assert all(u.text.endswith("?") == written.turns[u.turn].text[u.start:u.end].endswith("?") for u in written.units)


CRITERIA = """\
- id: greeting
  question: Did the agent open the call with a welcome to Brightcart and give their own name?
  speaker: agent
  points: 1
  method: semantic
  examples: ["Morning, Brightcart customer care, it's Dan on the line.", "Hello, Brightcart, my name's Leah, how can I help you today?", "Hiya, you've reached Brightcart, this is Jo speaking."]
- id: closing
  question: Did the agent close the call politely, thanking the caller and saying goodbye?
  speaker: agent
  points: 1
  method: semantic
  examples: ["Thank you for ringing Brightcart today, enjoy the rest of your day, goodbye.", "Thank you for your patience today, take care, goodbye.", "Cheers for calling in, all the best, bye bye."]
"""


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    return load_config(data_dir=str(tmp_path_factory.mktemp("qa_caseless")))


def test_a_call_without_capitals_or_punctuation_scores_like_the_written_one(config, embedder):
    scorer = Scorer(rubric_of(CRITERIA), config, embedder)
    written, spoken = scorer.score_many([transcript(False, "written"), transcript(True, "spoken")])
    for card in (written, spoken):
        greeting, closing = card.criteria
        assert greeting.result == "pass", (card.transcript_id, greeting.reason)
        assert closing.result == "pass", (card.transcript_id, closing.reason)
    # the evidence shown for the spoken call is redacted
    shown = " ".join(e["text"] for c in spoken.criteria for e in c.evidence)
    assert "daniel" not in shown and "claire" not in shown
