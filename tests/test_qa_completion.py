"""semantic.v7: a criterion that asks whether the agent told the customer the request was done passes on
the agent's plain statement right after the customer's yes to a read-back ("The song has started."), not on
a failure, an apology, a hold, a question, or a reply to a customer who changed or asked something."""

from __future__ import annotations

import pytest

from kb.config import load_config
from kb.transcript import Transcript, Turn
from qa_rubrics.completion import asks_for_completion, consents
from qa_rubrics.criteria import resolve
from qa_rubrics.learning import _rule_verdict
from qa_rubrics.rubric import RubricError
from qa_rubrics.score import Scorer
from tests.conftest import rubric_of


@pytest.mark.parametrize("question", [
    "Did the agent tell the customer that the request was completed successfully?",
    "Did the agent confirm that the order was placed?",
    "Did the agent let the customer know the payment went through?",
    "Did the agent inform the caller that the change is done?",
    "Hat der Agent dem Kunden mitgeteilt, dass die Anfrage erfolgreich abgeschlossen wurde?",
    "Temsilci müşteriye talebin başarıyla tamamlandığını söyledi mi?",
])
def test_questions_that_ask_whether_the_agent_said_it_was_done(question):
    assert asks_for_completion(question)


@pytest.mark.parametrize("question", [
    "Did the agent tell the customer that the request could not be completed?",
    "Was identity verification completed before the agent discussed the order or account?",
    "Did the agent complete verification before sharing any order or account details?",
    "Did the agent invite the customer to rate the chat or complete the feedback survey?",
    "Did the agent read the details back and ask the customer to confirm them before acting?",
    "Hat der Agent gesagt, dass die Buchung nicht erfolgreich abgeschlossen wurde?",
])
def test_questions_that_do_not(question):
    assert not asks_for_completion(question)


@pytest.mark.parametrize("reply,yes", [
    ("Yes, please go ahead.", True), ("That is correct.", True), ("Yeah", True), ("yes perfect", True),
    ("Ja, genau.", True), ("Evet, doğru.", True), ("No, the 7th.", False),
    ("Yes. Who is the director of it?", False), ("Yes, but make it four people.", False),
    ("Hmm, let me think.", False),
])
def test_a_plain_yes(reply, yes):
    assert consents(reply) is yes


NOTICE = """\
- id: success_notice
  question: Did the agent tell the customer that the request was completed successfully?
  points: 1
  method: {method}
  examples: ["All done, your booking is now confirmed.", "Your payment has gone through without a problem.", "The reservation is complete and a confirmation email is on its way to you."]
"""


def song(report: str, reply: str = "Yes, please go ahead.", tid: str = "t") -> Transcript:
    return Transcript(id=tid, channel="chat", turns=[
        Turn("customer", "Can you find me some pop songs from The Bright Side album by Lenka?"),
        Turn("agent", "How about Blue Skies by Lenka from The Bright Side album?"),
        Turn("customer", "That sounds great. Play Blue Skies on the kitchen speaker."),
        Turn("agent", "Play Blue Skies by Lenka on the kitchen speaker?"),
        Turn("customer", reply),
        Turn("agent", report),
        Turn("customer", "Thanks, that's all."),
        Turn("agent", "Have a good day!")])


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    return load_config(data_dir=str(tmp_path_factory.mktemp("qa_v7")))


def test_the_reply_to_a_confirmed_read_back_passes(config, embedder):
    scorer = Scorer(rubric_of(NOTICE.format(method="semantic")), config, embedder)
    card = scorer.score(song("The song has started. Enjoy!"))
    ok = card.criteria[0]
    assert ok.method == resolve("semantic").key == "semantic.v8" and ok.result == "pass", ok.reason
    assert "turn 6 reports the outcome of the request read back in turn 4" in ok.reason
    assert "which the question counts as enough" in ok.reason
    assert ok.detail["accepts"] == {"from": "question", "completion": True}
    assert [(e["turn"], e["text"]) for e in ok.evidence] == [(5, "The song has started.")]
    assert ok.confidence >= 0.75
    # v6, pinned, does not read completions, nor does the latest version with `accepts: []`
    v6 = Scorer(rubric_of(NOTICE.format(method="semantic.v6")), config, embedder)
    off = Scorer(rubric_of(NOTICE.format(method="semantic").replace("  examples:", "  accepts: []\n  examples:")),
                 config, embedder)
    for s in (v6, off):
        alone = s.score(song("The song has started. Enjoy!")).criteria[0]
        assert "reports the outcome" not in alone.reason and "completion" not in alone.detail.get("accepts", {})


@pytest.mark.parametrize("report,reply", [
    ("I'm sorry, I was unable to play the song on that speaker.", "Yes, please go ahead."),  # a failure
    ("Unfortunately that speaker is offline.", "Yes, please go ahead."),
    ("The request didn't go through.", "Yes, please go ahead."),  # failures said without an apology
    ("Playing the song was unsuccessful.", "Yes, please go ahead."),
    ("One moment, let me connect to the speaker.", "Yes, please go ahead."),  # a hold
    ("Which volume would you like?", "Yes, please go ahead."),  # a question
    ("It is a pop song from 2008.", "Yes. What genre is it?"),  # answers the customer's question
    ("The song is four minutes long.", "Yes, but on the bedroom speaker."),  # the customer changed it
    ("The song has started.", "No, the bedroom speaker."),
])
def test_what_is_not_a_completion(config, embedder, report, reply):
    scorer = Scorer(rubric_of(NOTICE.format(method="semantic")), config, embedder)
    c = scorer.score(song(report, reply)).criteria[0]
    assert c.detail["accepts"]["completion"] is False and "reports the outcome" not in c.reason, c.reason


def test_no_read_back_no_completion(config, embedder):
    """A plain question answered yes ("Would you like to hear it now?") reads nothing back: what follows
    is not taken for the outcome."""
    scorer = Scorer(rubric_of(NOTICE.format(method="semantic")), config, embedder)
    t = Transcript(id="n", channel="chat", turns=[
        Turn("customer", "Can you find me some pop songs?"),
        Turn("agent", "How about Blue Skies by Lenka?"),
        Turn("customer", "Sounds good."),
        Turn("agent", "Would you like to hear it now?"),
        Turn("customer", "Yes."),
        Turn("agent", "It is from 2008.")])
    c = scorer.score(t).criteria[0]
    assert c.detail["accepts"]["completion"] is False


def test_a_completion_can_be_the_rubrics_choice_and_is_checked(config, embedder):
    """`accepts: [completion]` turns it on for any question (and the rule's verdict is what learning uses);
    a value the method does not know is an error that names the ones it does."""
    text = NOTICE.format(method="semantic").replace(
        "Did the agent tell the customer that the request was completed successfully?",
        "Did the agent close the loop with the customer?").replace("  examples:", "  accepts: [completion]\n  examples:")
    scorer = Scorer(rubric_of(text), config, embedder)
    t = song("Here you go.")
    c = scorer.score(t).criteria[0]
    assert c.result == "pass" and c.detail["accepts"] == {"from": "rubric", "completion": True}
    assert "which the rubric counts as enough" in c.reason
    assert _rule_verdict(scorer.rubric.criterion("success_notice").check, scorer.conversation(t)) == "pass"
    with pytest.raises(RubricError) as exc:
        rubric_of(text.replace("[completion]", "[completed]"))
    assert "completion" in str(exc.value) and "read_back" in str(exc.value)


def language_rubric(criterion: str, language: str):
    import textwrap

    from qa_rubrics.rubric import parse_rubric

    return parse_rubric(f"id: r\nversion: 1\nlanguage: {language}\npass_mark: 80\nsections:\n  - id: s\n"
                        "    criteria:\n" + textwrap.indent(textwrap.dedent(criterion), " " * 6), "inline.yaml")


@pytest.mark.parametrize("language,question,examples,turns", [
    ("de", "Hat der Agent dem Kunden mitgeteilt, dass die Anfrage erfolgreich abgeschlossen wurde?",
     '["Alles erledigt, Ihre Buchung ist bestätigt.", "Die Zahlung ist erfolgreich durchgegangen."]',
     ["Ich brauche einen Tisch im Ristorante Bellavista für 4 Personen am Freitag um 19 Uhr.",
      "Gerne. Auf welchen Namen?", "Auf Brandt, bitte.",
      "Ristorante Bellavista, 4 Personen, Freitag 19 Uhr, auf den Namen Brandt?", "Ja, genau.",
      "Steht, Sie sind eingetragen.", "Danke schön.", "Gern geschehen, schönen Abend."]),
    ("tr", "Temsilci müşteriye talebin başarıyla tamamlandığını söyledi mi?",
     '["Tamamdır, rezervasyonunuz onaylandı.", "Ödemeniz sorunsuz gerçekleşti."]',
     ["Cuma akşamı saat 19'da Bellavista restoranında 4 kişilik masa istiyorum.", "Tabii. Hangi isimle?",
      "Yılmaz adına lütfen.", "Bellavista restoranı, 4 kişi, cuma 19, Yılmaz adına, doğru mu?", "Evet, doğru.",
      "Yerinizi ayırdım, iyi eğlenceler.", "Teşekkürler.", "Rica ederim, iyi akşamlar."]),
])
def test_a_completion_in_german_and_turkish(config, embedder, language, question, examples, turns):
    """The read-back, the customer's yes and the cue in the question work in the rubric's language."""
    rubric = language_rubric(f"- id: done\n  question: {question}\n  points: 1\n  method: semantic\n"
                             f"  examples: {examples}\n", language)
    t = Transcript(id=language, channel="phone",
                   turns=[Turn("customer" if i % 2 == 0 else "agent", text) for i, text in enumerate(turns)])
    c = Scorer(rubric, config, embedder).score(t).criteria[0]
    assert c.result == "pass" and c.detail["accepts"] == {"from": "question", "completion": True}, c.reason
    assert "turn 6 reports the outcome of the request read back in turn 4" in c.reason
