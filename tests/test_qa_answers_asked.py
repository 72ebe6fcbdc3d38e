"""semantic.v8: where the question asks whether the agent said the request could not be completed, an answer
to the customer's own question about a fact ("Does it have wifi?" "They do not have wifi.") is set aside;
a failed attempt, or a refusal of what the customer asked for, still counts."""

from __future__ import annotations

import pytest

from kb.config import load_config
from kb.transcript import Transcript, Turn
from qa_rubrics.answers_asked import asks_for_failure, fact_questions
from qa_rubrics.criteria import resolve
from qa_rubrics.rubric import RubricError
from qa_rubrics.score import Scorer
from tests.conftest import rubric_of


@pytest.mark.parametrize("question", [
    "Did the agent tell the customer that the request could not be completed?",
    "Did the agent let the customer know the payment failed?",
    "Did the agent explain that the booking wasn't possible?",
    "Hat der Agent mitgeteilt, dass die Buchung nicht möglich war?",
    "Temsilci talebin tamamlanamadığını söyledi mi?",
])
def test_questions_that_ask_for_a_failure_notice(question):
    assert asks_for_failure(question)


@pytest.mark.parametrize("question", [
    "Did the agent tell the customer that the request was completed successfully?",
    "Did the agent explain what was not covered by the warranty?",
    "Was the failed delivery logged?",
    "Did the agent apologise for the problem?",
])
def test_questions_that_do_not(question):
    assert not asks_for_failure(question)


@pytest.mark.parametrize("turn,questions", [
    ("Does it have wifi? What is the number?", ["Does it have wifi?", "What is the number?"]),
    ("Yes is good.Wifi is available in the hotel?", ["Wifi is available in the hotel?"]),
    ("Can you book it for me? Is there parking?", ["Is there parking?"]),  # a request is no fact question
    ("@TillburysHelp will you price match the Oakden lamp?", []),
    ("Can I bring a guitar on board?", []),
    ("Please check the order. Thanks.", []),
])
def test_fact_questions_of_a_customer_turn(turn, questions):
    assert fact_questions(turn) == questions


FAILURE = """\
- id: failure_notice
  question: Did the agent tell the customer that the request could not be completed?
  points: 1
  method: {method}
  examples: ["I'm sorry, I wasn't able to complete that booking for you.", "Unfortunately the transfer didn't go through.", "That time slot has just been taken, so the reservation could not be made.", "I'm afraid your payment was declined."]
"""


def hotel(question: str, answer: str, tid: str = "h") -> Transcript:
    return Transcript(id=tid, channel="chat", turns=[
        Turn("customer", "I'd like a room at the Kip Hotel in London for two nights from March 4th."),
        Turn("agent", "Booking 1 room at the Kip Hotel in London for 2 nights from March 4th, is that right?"),
        Turn("customer", "Yes."),
        Turn("agent", "Your room is booked."),
        Turn("customer", question),
        Turn("agent", answer),
        Turn("customer", "OK, thanks."),
        Turn("agent", "Have a great stay!")])


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    return load_config(data_dir=str(tmp_path_factory.mktemp("qa_v8")))


def test_an_answer_to_the_customers_question_is_set_aside(config, embedder):
    latest = Scorer(rubric_of(FAILURE.format(method="semantic")), config, embedder)
    v7 = Scorer(rubric_of(FAILURE.format(method="semantic.v7")), config, embedder)
    t = hotel("Does the hotel have wifi?", "I'm sorry, the hotel does not have wifi, and it is not available nearby.")
    before = v7.score(t).criteria[0]
    assert before.result == "pass", before.reason  # reads like a failure notice to the classifier
    c = latest.score(t).criteria[0]
    assert c.method == resolve("semantic").key == "semantic.v8" and c.result == "fail", c.reason
    assert "set aside: turn 6 answers the customer's own question" in c.reason
    assert c.detail["set_aside"][0]["turn"] == 5 and c.detail["set_aside"][0]["probability"] >= 0.5
    # `ignores: []` keeps every sentence
    off = Scorer(rubric_of(FAILURE.format(method="semantic").replace("  examples:", "  ignores: []\n  examples:")),
                 config, embedder)
    assert off.score(t).criteria[0].result == "pass"


@pytest.mark.parametrize("question,answer", [
    ("Is the 7 pm slot for the spa still free?", "No, the 7 pm spa slot has gone, so I couldn't book it for you."),
    ("Can you book the spa for 7 pm as well?", "I'm sorry, the spa is fully booked at 7 pm, so I wasn't able to add it."),
])
def test_a_failed_attempt_or_a_refused_request_still_counts(config, embedder, question, answer):
    scorer = Scorer(rubric_of(FAILURE.format(method="semantic")), config, embedder)
    c = scorer.score(hotel(question, answer)).criteria[0]
    assert c.result == "pass" and "set_aside" not in c.detail, c.reason


def test_setting_aside_can_be_the_rubrics_choice_and_is_checked(config, embedder):
    text = FAILURE.format(method="semantic").replace(
        "Did the agent tell the customer that the request could not be completed?",
        "Did the agent say something negative?").replace("  examples:", "  ignores: [answers]\n  examples:")
    scorer = Scorer(rubric_of(text), config, embedder)
    c = scorer.score(hotel("Does the hotel have wifi?", "I'm sorry, the hotel does not have wifi, and it is not "
                                                         "available nearby.")).criteria[0]
    assert c.result == "fail" and c.detail["set_aside"][0]["turn"] == 5, c.reason
    with pytest.raises(RubricError) as exc:
        rubric_of(text.replace("[answers]", "[questions]"))
    assert "answers" in str(exc.value)


def test_a_field_of_a_later_version_says_which_version_takes_it():
    text = FAILURE.format(method="semantic.v7").replace("  examples:", "  ignores: [answers]\n  examples:")
    with pytest.raises(RubricError) as exc:
        rubric_of(text)
    assert "unknown field 'ignores'" in str(exc.value) and "semantic.v8 and later do" in str(exc.value)


@pytest.mark.parametrize("language,question,answer,aside", [
    ("de", "Hat das Hotel WLAN?", "Nein, das Hotel hat leider kein WLAN.", True),
    ("de", "Können Sie mir ein Zimmer mit WLAN buchen?", "Nein, das Hotel hat leider kein WLAN.", False),  # a request
    ("de", "Ist der Tisch um 19 Uhr noch frei?", "Nein, der Tisch war weg, die Buchung konnte ich nicht machen.", False),
    ("tr", "Otelde kablosuz internet var mı?", "Maalesef otelde kablosuz internet yok.", True),
    ("tr", "Kablosuz internetli bir oda ayırabilir misiniz?", "Maalesef otelde kablosuz internet yok.", False),
])
def test_answers_in_german_and_turkish(config, embedder, language, question, answer, aside):
    import textwrap

    from qa_rubrics.answers_asked import answers_asked
    from qa_rubrics.rubric import parse_rubric

    rubric = parse_rubric(f"id: r\nversion: 1\nlanguage: {language}\npass_mark: 80\nsections:\n  - id: s\n"
                          "    criteria:\n" + textwrap.indent(FAILURE.format(method="semantic"), " " * 6), "x.yaml")
    conv = Scorer(rubric, config, embedder).conversation(
        Transcript(id=language, channel="phone", turns=[Turn("customer", question), Turn("agent", answer)]))
    units = conv.unit_indices([1])
    assert units and any(answers_asked(conv, u) for u in units) is aside
