"""semantic.v6: a criterion that asks the agent to read the details back passes on a read-back (details
already given, repeated for the customer to confirm), however tersely it is worded; an offer, which
brings details of its own, does not."""

from __future__ import annotations

import pytest

from kb.config import load_config
from kb.transcript import Transcript, Turn
from qa_rubrics.criteria import resolve
from qa_rubrics.learning import _rule_verdict
from qa_rubrics.readback import answers_yes_or_no, asks_for_read_back
from qa_rubrics.rubric import RubricError
from qa_rubrics.score import Scorer
from tests.conftest import rubric_of


@pytest.mark.parametrize("question", [
    "Did the agent read the details back and ask the customer to confirm them before acting?",
    "Did the agent read back the order before placing it?",
    "Was there a read-back of the payment details?",
    "Did the agent repeat the booking back to the customer?",
    "Did the agent confirm the details with the customer before booking?",
    "Hat der Agent die Angaben noch einmal wiederholt?",
    "Hat der Agent die Bestellung vorgelesen?",
    "Temsilci bilgileri tekrar etti mi?",
])
def test_questions_that_ask_for_a_read_back(question):
    assert asks_for_read_back(question)


@pytest.mark.parametrize("question", [
    "Did the agent find the order or account and confirm what it shows (status, dates, amounts, items)?",
    "Did the agent verify the caller's identity (name, account email and two security details)?",
    "Did the customer have to repeat themselves?",
    "Hat der Kunde wiederholt angerufen?",
    "Temsilci müşterinin kimliğini doğruladı mı?",
    "Did the agent ask for the details needed to handle the request?",
])
def test_questions_that_do_not(question):
    assert not asks_for_read_back(question)


@pytest.mark.parametrize("reply,answers", [
    ("Yes, that's right.", True), ("yep", True), ("No, the 7th not the 6th.", True), ("That's correct.", True),
    ("Ja, genau.", True), ("Evet, doğru.", True), ("What time do they close?", False),
    ("I'd like it for three people.", False),
])
def test_a_yes_or_no_answer(reply, answers):
    assert answers_yes_or_no(reply) is answers


CONFIRM = """\
- id: confirm_details
  question: Did the agent read the details back and ask the customer to confirm them before acting?
  points: 1
  method: {method}
  examples: ["Just to check, that's two tickets for Friday at 7 pm, correct?", "Let me read that back: a table for four at 8 o'clock under the name Patel. Is that right?"]
"""


def booking(agent_line: str, reply: str, tid: str) -> Transcript:
    return Transcript(id=tid, channel="chat", turns=[
        Turn("customer", "I need a table at Fort McKinley Restaurant for 3 people on March 6th."),
        Turn("agent", "Sure. What time would you like?"),
        Turn("customer", "12:30 pm please."),
        Turn("agent", agent_line),
        Turn("customer", reply),
        Turn("agent", "Done, have a good day.")])


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    return load_config(data_dir=str(tmp_path_factory.mktemp("qa_v6")))


def test_a_terse_read_back_passes_and_an_offer_does_not(config, embedder):
    scorer = Scorer(rubric_of(CONFIRM.format(method="semantic")), config, embedder)
    terse, offer, info = scorer.score_many([
        booking("Booking a table for 3 at Fort McKinley Restaurant on March 6th at 12:30 pm.", "Yes, that's right.", "a"),
        booking("How about Bella Napoli on Castro Street instead, they have a table at 1 pm?", "Sure.", "b"),
        booking("The restaurant is at 101 Brentwood Drive and their phone number is 650-871-2222.", "Thanks.", "c")])
    ok = terse.criteria[0]
    assert ok.method == resolve("semantic").key == "semantic.v8" and ok.result == "pass", ok.reason
    assert "turn 4 reads back" in ok.reason and "which the question counts as enough" in ok.reason
    assert ok.detail["accepts"] == {"from": "question", "read_back": True}
    assert [(e["turn"], e["text"]) for e in ok.evidence] == [
        (3, "Booking a table for 3 at Fort McKinley Restaurant on March 6th at 12:30 pm.")]
    assert ok.confidence >= 0.8 and not ok.needs_review
    for card in (offer, info):  # new details: an offer or information, not a read-back
        c = card.criteria[0]
        assert c.detail["accepts"]["read_back"] is False and "reads back" not in c.reason, c.reason
    # v5, pinned, does not read read-backs, nor does v6 with `accepts: []`
    v5 = Scorer(rubric_of(CONFIRM.format(method="semantic.v5")), config, embedder)
    off = Scorer(rubric_of(CONFIRM.format(method="semantic").replace("  examples:", "  accepts: []\n  examples:")),
                 config, embedder)
    for s in (v5, off):
        alone = s.score(booking("Booking a table for 3 at Fort McKinley Restaurant on March 6th at 12:30 pm.",
                                "Yes, that's right.", "a")).criteria[0]
        assert "reads back" not in alone.reason and "read_back" not in alone.detail.get("accepts", {})


def test_a_read_back_needs_the_customers_confirmation_or_a_question(config, embedder):
    scorer = Scorer(rubric_of(CONFIRM.format(method="semantic")), config, embedder)
    line = "A table for 3 at Fort McKinley Restaurant on March 6th at 12:30 pm."
    asked, unanswered = scorer.score_many([booking(line[:-1] + "?", "Can you also tell me if they have parking?", "q"),
                                           booking(line, "Can you also tell me if they have parking?", "s")])
    assert asked.criteria[0].detail["accepts"]["read_back"] is True
    assert unanswered.criteria[0].detail["accepts"]["read_back"] is False


def test_a_read_back_can_be_the_rubrics_choice_and_is_checked(config, embedder):
    """`accepts: [read_back]` turns it on for any question; a value the method does not know is an error."""
    text = CONFIRM.format(method="semantic").replace(
        "Did the agent read the details back and ask the customer to confirm them before acting?",
        "Did the agent make sure the booking was what the customer wanted?").replace(
        "  examples:", "  accepts: [read_back]\n  examples:")
    scorer = Scorer(rubric_of(text), config, embedder)
    t = booking("Booking a table for 3 at Fort McKinley Restaurant on March 6th at 12:30 pm.", "Yes.", "a")
    c = scorer.score(t).criteria[0]
    assert c.result == "pass" and c.detail["accepts"] == {"from": "rubric", "read_back": True}
    assert "which the rubric counts as enough" in c.reason
    assert _rule_verdict(scorer.rubric.criterion("confirm_details").check, scorer.conversation(t)) == "pass"
    with pytest.raises(RubricError) as exc:
        rubric_of(text.replace("[read_back]", "[read_forward]"))
    assert "read_back" in str(exc.value) and "agent_signature" in str(exc.value)


def test_learning_is_taught_the_read_backs_it_passes(config, embedder):
    """A conversation passed by its read-back is still taught to the classifier (its read-back is what the
    examples say, unlike a signature), and the agreement before and after counts the rule's verdicts."""
    from qa_rubrics.learning import learn_rubric

    scorer = Scorer(rubric_of(CONFIRM.format(method="semantic")), config, embedder)
    terse = [booking(line, "Yes.", f"r{i}") for i, line in enumerate((
        "Booking a table for 3 at Fort McKinley Restaurant on March 6th at 12:30 pm.",
        "A table for 3 at Fort McKinley Restaurant, March 6th, 12:30 pm?",
        "Reserving Fort McKinley Restaurant for 3 on March 6th at 12:30 pm.",
        "Fort McKinley Restaurant, 3 people, March 6th at 12:30 pm, yes?"))]
    worded = [booking(line, "Yes, that's right.", f"w{i}") for i, line in enumerate((
        "Just to check, that's a table for three on the 6th at half twelve, correct?",
        "Let me read that back: three people, the 6th of March, half past twelve. Is that right?",
        "So you'd like me to book three seats for lunch on the sixth, shall I go ahead?"))]
    none = [booking(line, "Great.", f"n{i}") for i, line in enumerate((
        "They have live music on Fridays.", "The restaurant is very popular at lunchtime.",
        "Parking is available behind the building."))]
    labels = {t.id: {"confirm_details": "pass"} for t in terse + worded} | {t.id: {"confirm_details": "fail"}
                                                                              for t in none}
    check = scorer.rubric.criterion("confirm_details").check
    assert [_rule_verdict(check, scorer.conversation(t)) for t in (terse[0], worded[0], none[0])] == \
        ["pass", None, None]
    res = learn_rubric(scorer, terse + worded + none, labels)
    (c,) = res.criteria
    assert (c.support, c.passes, c.fails) == (10, 7, 3)
    assert c.adopted and res.learned.models["confirm_details"].info["support"] == 10  # every one taught
