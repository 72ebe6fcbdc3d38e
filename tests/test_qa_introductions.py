"""semantic.v4: a criterion that asks for the agent's own name needs it, beside what its classifier
judges ("Hello, customer services." greets, but gives no name)."""

from __future__ import annotations

import pytest

from kb.config import load_config
from kb.transcript import Transcript, Turn
from qa_rubrics.introductions import asks_for_agent_name, self_introduction
from qa_rubrics.learning import learn_rubric
from qa_rubrics.rubric import RubricError
from qa_rubrics.score import Scorer
from tests.conftest import rubric_of


@pytest.mark.parametrize("question", [
    "Did the agent open the call with a welcome to Brightcart and give their own name?",
    "Did the agent greet the customer and introduce themselves?",
    "Did the agent state his or her name at the start?",
    "Hat die Mitarbeiterin oder der Mitarbeiter mit Brightcart begrüßt und den eigenen Namen genannt?",
    "Hat sich der Mitarbeiter zu Beginn mit Namen vorgestellt?",
    "Temsilci görüşmeyi Brightcart adıyla karşılayıp kendi adını söyledi mi?",
    "Did the agent identify themselves at the start of the call?",
    "Hat die Mitarbeiterin ihren Namen genannt?",
    "Temsilci adını söyledi mi?",
])
def test_questions_that_ask_for_the_agents_own_name(question):
    assert asks_for_agent_name(question)


@pytest.mark.parametrize("question", [
    "Did the agent open the reply with a warm greeting?",
    "Did the agent use the customer's name?",
    "Did the agent address the customer by their name?",
    "Did the agent ask for the customer's name and email address?",
    "Wurde die Identität geprüft (Name, E-Mail-Adresse und zwei Merkmale)?",
    "Temsilci müşterinin kimliğini doğruladı mı (ad soyad, e-posta)?",
    "Temsilci müşterinin adını söyledi mi?",
    "Did the agent verify the caller's identity?",
])
def test_questions_that_do_not(question):
    assert not asks_for_agent_name(question)


def spans(text: str, *names: str) -> list[tuple[int, int]]:
    return [(text.index(n), text.index(n) + len(n)) for n in names]


@pytest.mark.parametrize("text, name", [
    ("Hello, customer services, Sam speaking.", "Sam"),
    ("Hi there, thanks for getting in touch, I'm Priya from Brightcart!", "Priya"),
    ("Hello and welcome to Brightcart chat, you're talking to Sophie :)", "Sophie"),
    ("Guten Tag, Kundenservice von Brightcart, am Apparat ist Lena Wagner.", "Lena Wagner"),
    ("Brightcart, Sie sprechen mit Tobias, guten Tag!", "Tobias"),
    ("İyi günler, Brightcart müşteri hizmetleri, ben Elif Yılmaz.", "Elif Yılmaz"),
    ("Merhaba, Brightcart, adım Can, nasıl yardımcı olabilirim?", "Can"),
    ("Sorry about the wait, we'll DM you now -Mia", "Mia"),
])
def test_a_name_given_as_ones_own_is_an_introduction(text, name):
    assert self_introduction([text], [spans(text, name)], [0]) == (0, *spans(text, name)[0])


@pytest.mark.parametrize("text, initials", [
    ("@jo_pearce Sorry to hear that, please DM us your order number ^JS", "JS"),
    ("So sorry about this! We've sent you a DM -Mia 😊", "Mia"),
    ("Thanks for waiting, all sorted now ~RK", "RK"),
])
def test_a_social_media_signature_names_the_agent(text, initials):
    start = text.rindex(initials)
    assert self_introduction([text], [[]], [0]) == (0, start, start + len(initials))


@pytest.mark.parametrize("text", ["Your refund is on its way - OK?", "Call us on 0800 123 456 - UK only",
                                  "We'll sort it, no worries :-)"])
def test_an_ending_that_is_not_a_signature(text):
    assert self_introduction([text], [[]], [0]) is None


def test_a_name_said_to_the_customer_is_not():
    text = "Thanks, Tomasz! Could you also give me your postcode?"
    assert self_introduction([text], [spans(text, "Tomasz")], [0]) is None
    # ... unless it is the agent's own name from the transcript's header
    text = "Brightcart Kundenservice, Kevin Schmitz, guten Tag."
    assert self_introduction([text], [spans(text, "Kevin Schmitz")], [0]) is None
    assert self_introduction([text], [spans(text, "Kevin Schmitz")], [0], agent="Kevin Schmitz") is not None
    # only the turns asked about count
    assert self_introduction(["x", "I'm Sam."], [[], spans("I'm Sam.", "Sam")], [0]) is None


GREETING = """\
- id: greeting
  question: Did the agent open the call with a welcome to Brightcart and give their own name?
  points: 1
  method: {method}
  window: {{first_turns: 2}}
  examples: ["Morning, Brightcart customer care, it's Dan on the line.",
             "Hello, Brightcart, my name's Leah, how can I help you today?",
             "Hiya, you've reached Brightcart, this is Jo speaking."]
"""


def call(first: str, agent: str = "") -> Transcript:
    return Transcript(id=first[:20], agent=agent, turns=[
        Turn("agent", first), Turn("customer", "Hi, my parcel never arrived."),
        Turn("agent", "I'm sorry to hear that, let me have a look for you."),
        Turn("customer", "Thanks."), Turn("agent", "Is there anything else I can help with?")])


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    return load_config(data_dir=str(tmp_path_factory.mktemp("qa_v4")))


def test_a_greeting_without_the_agents_name_fails_when_the_question_asks_for_it(config, embedder):
    scorer = Scorer(rubric_of(GREETING.format(method="semantic")), config, embedder)
    named, unnamed = scorer.score_many([call("Hello, Brightcart customer service, Amara speaking, how can I help?"),
                                        call("Hello, Brightcart customer service, how can I help?")])
    ok, missing = named.criteria[0], unnamed.criteria[0]
    assert ok.method == "semantic.v8" and ok.result == "pass", ok.reason
    assert ok.detail["requires"] == {"agent_name": True, "from": "question"}
    assert missing.result == "fail" and "did not give their own name" in missing.reason
    assert "the question asks for it" in missing.reason and missing.detail["requires"]["agent_name"] is False
    assert missing.confidence >= 0.85 and not missing.needs_review  # no name anywhere: a sure fail
    # v3, pinned, judges the greeting alone: both pass
    v3 = Scorer(rubric_of(GREETING.format(method="semantic.v3")), config, embedder)
    assert [c.criteria[0].result for c in v3.score_many([call("Hello, Brightcart customer service, how can I "
                                                                "help?")])] == ["pass"]


def test_the_header_names_the_agent_and_a_rubric_can_turn_the_requirement_off(config, embedder):
    scorer = Scorer(rubric_of(GREETING.format(method="semantic")), config, embedder)
    card = scorer.score(call("Brightcart customer service, Kevin Schmitz, good afternoon.", agent="Kevin Schmitz"))
    assert card.criteria[0].result == "pass", card.criteria[0].reason
    off = GREETING.format(method="semantic").replace("  window:", "  requires: []\n  window:")
    card = Scorer(rubric_of(off), config, embedder).score(call("Hello, Brightcart customer service, how can I help?"))
    assert card.criteria[0].result == "pass" and "requires" not in card.criteria[0].detail


def test_requires_is_checked_when_the_rubric_is_read():
    bad = GREETING.format(method="semantic").replace("  window:", "  requires: [customer_name]\n  window:")
    with pytest.raises(RubricError) as exc:
        rubric_of(bad)
    assert "'requires' cannot hold 'customer_name'" in str(exc.value) and "agent_name" in str(exc.value)


def test_learning_leaves_the_name_to_the_requirement(config, embedder):
    """A conversation failed for a missing name is failed by the requirement: its greeting is not
    taught to the classifier as a bad one, and the agreement before and after counts the requirement."""
    scorer = Scorer(rubric_of(GREETING.format(method="semantic")), config, embedder)
    named = [call(f"Hello, Brightcart, {n} speaking, how can I help?")
             for n in ("Amara", "Dan", "Leah", "Jo", "Ravi", "Marcus")]
    unnamed = [call(g) for g in ("Hello, Brightcart, how can I help?", "Brightcart, hello.",
                                 "Good morning, Brightcart customer service.", "Hi, Brightcart support here.")]
    for i, t in enumerate(named + unnamed):
        t.id = f"c{i}"
    labels = {t.id: {"greeting": "pass"} for t in named} | {t.id: {"greeting": "fail"} for t in unnamed}
    res = learn_rubric(scorer, named + unnamed, labels)
    (g,) = res.criteria
    assert (g.support, g.passes, g.fails) == (10, 6, 4)
    assert g.kappa_before == pytest.approx(1.0) and g.kappa_after == pytest.approx(1.0) and g.adopted
    assert res.learned.models["greeting"].info["support"] == 6  # trained on the named calls only
