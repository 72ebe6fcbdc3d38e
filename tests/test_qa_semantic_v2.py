"""semantic.v2 and v3 with the real model: zero-shot verdicts from the examples and the sentence bank, learning
from labelled conversations (cross-validated), the tuned rubric and its classifiers file round-tripping
through `deskbook qa score`, and needs-review marks."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from kb.cli import cli, main
from kb.config import load_config
from qa_rubrics.bank import load_bank
from qa_rubrics.classifier import Sentences, char_grams, learn
from qa_rubrics.criteria import resolve
from qa_rubrics.learning import ADOPT_MARGIN, learn_rubric
from qa_rubrics.rubric import load_rubric
from qa_rubrics.score import Scorer
from qa_rubrics.transcripts import Transcript, Turn, load_inputs
from tests.conftest import CORPUS, rubric_of

LATEST = resolve("semantic").key  # semantic.v8: v3's classifier and the rules where asked (name, signature, read-back, completion, answers)

SOCIAL = CORPUS / "transcripts" / "social"

THANKS = """\
- id: customer_thanks
  question: Did the customer thank the agent?
  speaker: customer
  points: 1
  method: semantic
  examples: ["Many thanks, you have been a great help!", "Thank you, that's really useful.",
             "I appreciate you sorting this out.", "Great, thanks for taking care of it."]
"""
ASK = """\
- id: ask_details
  question: Did the agent ask the customer for information needed to handle the request?
  points: 1
  method: semantic
  examples: ["Could you give me your account number, please?", "What date should I put the appointment down for?",
             "How many passengers should I put on the booking?", "Which address would you like it delivered to?"]
"""


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    return load_config(data_dir=str(tmp_path_factory.mktemp("qa_v2")))


def T(*turns) -> Transcript:
    return Transcript(id="t", turns=[Turn(who, text) for who, text in turns])


def verdict(config, embedder, crit_yaml, transcript):
    card = Scorer(rubric_of(crit_yaml), config, embedder).score(transcript)
    return card.criteria[0]


def test_the_bank_is_grouped_by_act_for_each_language():
    for lang in ("en", "de", "tr"):
        bank = load_bank(lang)
        acts = set(bank.acts)
        assert {"c_thanks", "request_info", "notify_success"} <= acts and len(bank) > 400
        assert set(bank.speakers) == {"agent", "customer"}


@pytest.mark.parametrize("said", ["Thank you very much.", "thx!!", "Cheers, that's brilliant, appreciate it"])
def test_a_short_thanks_passes_the_thanks_criterion(config, embedder, said):
    r = verdict(config, embedder, THANKS, T(("agent", "Your refund is on its way."), ("customer", said)))
    assert r.result == "pass", r.reason
    assert r.detail["model"] == "prior" and "c_thanks" in r.detail["acts"]
    assert r.detail["bank"] == load_bank("en").hash[:12]  # the bank the verdict's classifier was trained on


def test_no_thanks_is_a_fail_with_the_nearest_sentence(config, embedder):
    r = verdict(config, embedder, THANKS, T(("agent", "Your refund is on its way."),
                                            ("customer", "That's all I needed, bye.")))
    assert r.result == "fail" and r.detail["nearest"]["text"]


def test_asking_for_details_is_about_questions(config, embedder):
    asked = verdict(config, embedder, ASK, T(("customer", "I want to book a table."),
                                             ("agent", "Sure, for how many people and at what time?")))
    stated = verdict(config, embedder, ASK, T(("customer", "I want to book a table."),
                                              ("agent", "Your table for four is booked for 8 pm tonight.")))
    assert asked.result == "pass" and stated.result == "fail"
    assert asked.evidence and asked.evidence[0]["text"].startswith("Sure, for how many")


def test_verdicts_carry_confidence_and_a_needs_review_mark(config, embedder):
    card = Scorer(rubric_of(THANKS), config, embedder).score(T(("customer", "Thank you very much.")))
    r = card.criteria[0]
    assert 0.5 <= r.confidence <= 1.0
    assert r.needs_review == (r.confidence < config.qa_review_confidence)
    assert card.to_dict()["criteria"][0]["needs_review"] == r.needs_review


def test_examples_and_counter_examples_are_respected(config, embedder):
    crit = THANKS.replace("  method: semantic", "  method: semantic\n  counter_examples: [\"thanks for nothing\"]")
    near = verdict(config, embedder, crit, T(("customer", "Many thanks, you have been a great help!")))
    sarcastic = verdict(config, embedder, crit, T(("customer", "thanks for nothing")))
    assert near.result == "pass" and sarcastic.result == "fail"
    assert sarcastic.detail["nearest"]["closer_to_counter_example"] == "thanks for nothing"


# -- learning -------------------------------------------------------------------------------------
def _social():
    labels = {json.loads(line)["transcript_id"]: json.loads(line)["criteria"]
              for line in (SOCIAL / "labels.jsonl").read_text(encoding="utf-8").splitlines()}
    transcripts = [t for t in load_inputs([SOCIAL / "transcripts.jsonl"]) if isinstance(t, Transcript)]
    return transcripts, labels


def test_learning_raises_cross_validated_agreement(config, embedder):
    transcripts, labels = _social()
    scorer = Scorer(load_rubric(SOCIAL / "rubric.yaml"), config, embedder)
    res = learn_rubric(scorer, transcripts[:40], labels)
    assert len(res.criteria) == 7 and res.transcripts == 40
    adopted = [c for c in res.criteria if c.adopted]
    assert adopted, [c.to_dict() for c in res.criteria]
    for c in res.criteria:  # kept unless cross-validation says learning is worse by more than the margin
        assert c.adopted == (c.kappa_after >= c.kappa_before - ADOPT_MARGIN - 1e-9), c.to_dict()
        assert c.reason.startswith("learned" if c.adopted else "kept")
    before = np.mean([c.kappa_before or 0.0 for c in res.criteria])
    after = np.mean([(c.kappa_after if c.adopted else c.kappa_before) or 0.0 for c in res.criteria])
    assert after > before
    blob = res.learned.to_bytes()
    again = type(res.learned).from_bytes(blob)
    X = Sentences(np.random.default_rng(0).normal(size=(3, embedder.dim)).astype(np.float32),
                  char_grams(["Thanks so much!", "DM us your order number", "^JS"]))
    for cid, m in res.learned.models.items():
        assert m.uses_grams and again.models[cid].uses_grams  # semantic (v3) reads character n-grams too
        assert np.allclose(again.models[cid].decision(X), m.decision(X), atol=1e-5)


def test_tune_writes_a_versioned_rubric_with_its_classifiers_and_score_uses_them(tmp_path, capsys):
    rubric = tmp_path / "social.yaml"
    shutil.copy(SOCIAL / "rubric.yaml", rubric)
    original = rubric.read_bytes()
    lines = (SOCIAL / "transcripts.jsonl").read_text(encoding="utf-8").splitlines()
    learn_from, to_score = tmp_path / "learn.jsonl", tmp_path / "score.jsonl"
    learn_from.write_text("\n".join(lines[:30]) + "\n", encoding="utf-8")
    to_score.write_text("\n".join(lines[50:]) + "\n", encoding="utf-8")
    out = tmp_path / "tuned" / "social-tuned.yaml"
    res = CliRunner().invoke(cli, ["qa", "eval", "--rubric", str(rubric), "--labels", str(SOCIAL / "labels.jsonl"),
                                   str(learn_from), "--tune", str(out), "--no-progress",
                                   "--db", str(tmp_path / "none.db")], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "learned (cv)" in res.output and "classifiers written to" in res.output
    assert rubric.read_bytes() == original  # the rubric given is never changed
    tuned = load_rubric(out)
    assert tuned.version == 2 and tuned.learned["model"] == "all-MiniLM-L6-v2"
    npz = out.with_name("social-tuned.learned.npz")
    assert tuned.learned["sha256"] == hashlib.sha256(npz.read_bytes()).hexdigest()
    scored = CliRunner().invoke(cli, ["qa", "score", "--rubric", str(out), str(to_score),
                                      "--json", "--no-progress", "--no-store", "--db", str(tmp_path / "none.db")],
                                catch_exceptions=False)
    assert scored.exit_code == 0, scored.output
    cards = json.loads(scored.stdout)
    assert len(cards) == 10 and all(c["rubric_version"] == 2 for c in cards)
    models = {c["id"]: c["detail"]["model"] for c in cards[0]["criteria"] if c["method"] == LATEST}
    assert "learned" in models.values()
    # a learned file that was changed is refused, with the fix
    npz.write_bytes(npz.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(SystemExit) as exc:
        main(["qa", "score", "--rubric", str(out), str(to_score), "--no-progress", "--no-store",
              "--db", str(tmp_path / "none.db")])
    err = capsys.readouterr().err
    assert exc.value.code != 0 and "does not match learned.sha256" in err and "re-run `deskbook qa eval --tune`" in err
    assert "Traceback" not in err


SIGN_OFF = """\
- id: sign_off
  question: Did the agent sign the reply with their initials?
  points: 1
  method: {method}
  examples: ["Have a lovely day! ^JS", "Any questions, just shout. -Mo", "Speak soon, ^KT"]
"""


def _signature_threads(signed: bool, n: int) -> list[tuple[Transcript, str]]:
    """Short care threads; the signed ones end with initials after a caret, as social-media teams sign."""
    asks = ["My parcel never came", "Card charged twice", "Can't log in to the app", "Refund still missing",
            "Wrong size delivered", "Order stuck in transit", "Voucher code rejected", "Driver left it outside"]
    out = []
    for i in range(n):
        initials = ["AB", "RM", "PL", "DW", "NH", "TC", "GE", "SY"][i % 8]
        reply = "Sorry about that, we have sent you a DM to sort it out"
        reply += f" ^{initials}" if signed else "."
        out.append((Transcript(id=f"{'s' if signed else 'u'}{i}", turns=[
            Turn("customer", asks[i % len(asks)]), Turn("agent", reply)]), "pass" if signed else "fail"))
    return out


def test_v3_learns_a_surface_cue_and_v2_stays_on_the_embedding(config, embedder):
    data = _signature_threads(True, 8) + _signature_threads(False, 8)
    labels = {t.id: {"sign_off": y} for t, y in data}
    v3 = Scorer(rubric_of(SIGN_OFF.format(method="semantic")), config, embedder)
    res = learn_rubric(v3, [t for t, _ in data], labels)
    model = res.learned.models["sign_off"]
    assert model.uses_grams and model.gram_coef.shape == (2 ** 15,)
    scorer = Scorer(rubric_of(SIGN_OFF.format(method="semantic")), config, embedder, learned=res.learned)
    new_signed = T(("customer", "Still waiting on my exchange"),
                   ("agent", "Sorry about that, we have sent you a DM to sort it out ^QF"))
    unsigned = T(("customer", "Still waiting on my exchange"),
                 ("agent", "Sorry about that, we have sent you a DM to sort it out."))
    assert scorer.score(new_signed).criteria[0].result == "pass"
    assert scorer.score(unsigned).criteria[0].result == "fail"
    # semantic.v2 pinned: embeddings only, learned and zero-shot
    v2 = Scorer(rubric_of(SIGN_OFF.format(method="semantic.v2")), config, embedder)
    assert not v2.criterion_model(v2.rubric.criteria[0].check).uses_grams
    assert not learn_rubric(v2, [t for t, _ in data], labels).learned.models["sign_off"].uses_grams


def test_a_grams_prior_needs_the_labelled_sentences_grams(config, embedder):
    scorer = Scorer(rubric_of(THANKS), config, embedder)
    prior = scorer.prior_training(scorer.rubric.criteria[0].check)
    assert prior.Xp.grams is not None and prior.Xp.grams.shape == (len(prior.Xp), 2 ** 15)
    X = embedder.encode_documents(["Thanks a lot!"])
    with pytest.raises(ValueError, match="grams"):
        learn(prior, [(X, "pass")] * 6)
    model = learn(prior, [(Sentences(X, char_grams(["Thanks a lot!"])), "pass")] * 6)
    assert model.source == "learned" and model.uses_grams


def test_a_classifier_learned_before_v3_still_scores(config, embedder):
    """A learned file written by v2 (embedding weights only) keeps working under `method: semantic` (v3)."""
    from qa_rubrics.classifier import TrainingSet, fit
    from qa_rubrics.learned import LearnedModels

    rubric = rubric_of(THANKS)
    scorer = Scorer(rubric, config, embedder)
    prior = scorer.prior_training(rubric.criteria[0].check)
    old = fit(TrainingSet(Sentences(prior.Xp.vectors), prior.wp, Sentences(prior.Xn.vectors), prior.wn,
                          info=dict(prior.info), center=prior.center))
    old.source = "learned"
    blob = LearnedModels({"customer_thanks": old}, {"embedding_model": embedder.name}).to_bytes()
    learned = LearnedModels.from_bytes(blob)
    assert not learned.models["customer_thanks"].uses_grams
    r = Scorer(rubric, config, embedder, learned=learned).score(
        T(("agent", "Your refund is on its way."), ("customer", "Thank you very much."))).criteria[0]
    assert r.result == "pass" and r.detail["model"] == "learned" and r.method == LATEST
