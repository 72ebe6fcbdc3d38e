"""semantic.v5: a criterion that counts the agent's signature as a sign-off passes on one ("^JS" at the
end of a reply), beside what its classifier judges (the friendly goodbye)."""

from __future__ import annotations

import pytest

from kb.config import load_config
from kb.transcript import Transcript, Turn
from qa_rubrics.introductions import asks_for_signature, signature
from qa_rubrics.learning import _rule_verdict, learn_rubric
from qa_rubrics.rubric import RubricError
from qa_rubrics.score import Scorer
from tests.conftest import rubric_of


@pytest.mark.parametrize("question", [
    "Did the agent close with a sign-off, such as a name or initials signature or a friendly goodbye?",
    "Did the agent sign the reply with their name or initials?",
    "Did the agent sign off with their name?",
    "Hat der Agent die Antwort mit Namen oder Kürzel unterschrieben?",
    "Temsilci yanıtı imzaladı mı?",
])
def test_questions_that_count_a_signature(question):
    assert asks_for_signature(question)


@pytest.mark.parametrize("question", [
    "Did the agent say goodbye?",
    "Did the agent check the customer's signature on the form?",
    "Did the agent verify the customer initials?",
    "Müşterinin imzası alındı mı?",
    "Did the agent greet the customer and give their own name?",
])
def test_questions_that_do_not(question):
    assert not asks_for_signature(question)


def test_a_signature_ends_a_reply():
    texts = ["Hi, sorry to hear that! Can you DM us your order number? ^JS", "We'll look into it -Mia",
             "Your refund is on its way - OK?", "Thanks for that, speak soon"]
    assert signature(texts, [2, 3]) is None
    turn, a, b = signature(texts, [0, 1])
    assert (turn, texts[turn][a:b]) == (0, "JS")
    assert signature(texts, [1])[0] == 1  # only the turns asked about count


SIGN_OFF = """\
- id: sign_off
  question: Did the agent close with a sign-off, such as a name or initials signature or a friendly goodbye?
  points: 1
  method: {method}
  examples: ["^JS", "-Mia", "Have a great day!", "Take care, Tom"]
"""


def thread(last: str, tid: str = "t") -> Transcript:
    return Transcript(id=tid, channel="social", turns=[
        Turn("customer", "@Brand my parcel still hasn't arrived, 2 weeks now!!"),
        Turn("agent", "Hi, sorry about that! Could you send us a DM with your order number?"),
        Turn("customer", "done"),
        Turn("agent", last)])


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    return load_config(data_dir=str(tmp_path_factory.mktemp("qa_v5")))


def test_a_signed_reply_passes_a_sign_off_that_counts_signatures(config, embedder):
    scorer = Scorer(rubric_of(SIGN_OFF.format(method="semantic")), config, embedder)
    signed, unsigned, goodbye = scorer.score_many([
        thread("Thanks, we've found it and a replacement is being sent today. ^KM", "a"),
        thread("Thanks, we've found it and a replacement is being sent today.", "b"),
        thread("Thanks, a replacement is being sent today. Have a lovely weekend!", "c")])
    ok, no, bye = signed.criteria[0], unsigned.criteria[0], goodbye.criteria[0]
    assert ok.method == "semantic.v8" and ok.result == "pass", ok.reason
    assert "ends with the agent's signature, which the question counts as enough" in ok.reason
    assert ok.detail["accepts"] == {"agent_signature": True, "from": "question"}
    assert (3, "KM") in [(e["turn"], e["text"]) for e in ok.evidence] and ok.confidence >= 0.85 and not ok.needs_review
    assert no.result == "fail" and no.detail["accepts"]["agent_signature"] is False, no.reason
    assert bye.result == "pass" and "signature" not in bye.reason  # the goodbye, by the classifier
    # v4, pinned, does not read signatures, nor does v5 with `accepts: []`: the classifier alone is
    # unsure of "^KM" (the examples' "^JS" shares a character or two with it)
    v4 = Scorer(rubric_of(SIGN_OFF.format(method="semantic.v4")), config, embedder)
    off = Scorer(rubric_of(SIGN_OFF.format(method="semantic").replace("  examples:", "  accepts: []\n  examples:")),
                 config, embedder)
    for s in (v4, off):
        alone = s.score(thread("Thanks, we've found it and a replacement is being sent today. ^KM", "a")).criteria[0]
        assert "accepts" not in alone.detail and "signature" not in alone.reason
        assert alone.result == "fail" or alone.needs_review, alone.reason


def test_accepts_is_checked_when_the_rubric_is_read():
    bad = SIGN_OFF.format(method="semantic").replace("  examples:", "  accepts: [customer_signature]\n  examples:")
    with pytest.raises(RubricError) as exc:
        rubric_of(bad)
    assert "'accepts' cannot hold 'customer_signature'" in str(exc.value) and "agent_signature" in str(exc.value)
    # a method that does not take it says so
    with pytest.raises(RubricError):
        rubric_of(SIGN_OFF.format(method="semantic.v4").replace("  examples:", "  accepts: []\n  examples:"))


def test_learning_leaves_signed_replies_to_the_signature(config, embedder):
    """A signed thread is passed by its signature: its sentences are not taught to the classifier as
    what a sign-off says, and the agreement before and after counts the signature."""
    scorer = Scorer(rubric_of(SIGN_OFF.format(method="semantic")), config, embedder)
    signed = [thread(f"A replacement is on its way to you now. {s}", f"s{i}")
              for i, s in enumerate(("^JS", "-Mia", "^KM", "/DB"))]
    goodbyes = [thread(f"A replacement is on its way to you now. {g}", f"g{i}")
                for i, g in enumerate(("Have a great day!", "Take care!", "Enjoy your evening!", "Speak soon, bye!",
                                       "All the best!"))]
    plain = [thread(f"A replacement is on its way to you now. {p}", f"p{i}")
             for i, p in enumerate(("It should arrive tomorrow.", "Tracking will follow by email.",
                                    "The courier collects before noon."))]
    labels = ({t.id: {"sign_off": "pass"} for t in signed + goodbyes}
              | {t.id: {"sign_off": "fail"} for t in plain})
    res = learn_rubric(scorer, signed + goodbyes + plain, labels)
    (c,) = res.criteria
    assert (c.support, c.passes, c.fails) == (12, 9, 3)
    assert c.accuracy_before >= 11 / 12, c  # the signed threads count as passed
    assert c.adopted and res.learned.models["sign_off"].info["support"] == 8  # the unsigned threads only
    check = scorer.rubric.criterion("sign_off").check
    assert [_rule_verdict(check, scorer.conversation(t)) for t in (signed[0], goodbyes[0], plain[0])] == \
        ["pass", None, None]
