"""Two speakers that no label names ("Speaker 1", "spk_0": a speech recogniser's diarisation) are told
apart by what the agent says in the first turns; when that does not settle it, the file is an error
that says how to declare them, as before."""

from __future__ import annotations

import json

import pytest

from kb.transcript import SpeakerMap, TranscriptError, agent_by_wording
from qa_rubrics.batch import score_inputs
from qa_rubrics.formats import parse_file

CALL = """\
Speaker 2: hello
Speaker 1: thanks for calling brightcart this is daniel how can i help
Speaker 2: hi my parcel says delivered but it is not here
Speaker 1: sorry to hear that can i take your order number please
Speaker 2: its bc 40512230
"""


def test_the_agent_is_the_speaker_who_says_what_agents_say():
    labels = ["spk_1", "spk_0", "spk_1", "spk_0"]
    texts = ["Guten Tag, Brightcart, Sie sprechen mit Jana, wie kann ich Ihnen helfen?", "Hallo, mein Paket fehlt.",
             "Das tut mir leid.", "Es sollte gestern kommen."]
    assert agent_by_wording(labels, texts) == ("spk_1", "Sie sprechen mit")
    roles = SpeakerMap().resolve(labels, texts=texts, inferred=(seen := {}))
    assert roles == {"spk_1": "agent", "spk_0": "customer"}
    assert seen == {"spk_1": "agent, by 'Sie sprechen mit'", "spk_0": "customer, the other speaker"}
    tr = ["Merhaba, Brightcart, size nasıl yardımcı olabilirim?", "Merhaba, kargom gelmedi."]
    assert agent_by_wording(["A1", "B1"], tr) == ("A1", "size nasıl yardımcı olabilirim")
    # the agent's own name, when the import gives it
    named = ["morning it's daniel", "hi there my order is late"]
    assert agent_by_wording(["S1", "S2"], named) is None
    assert agent_by_wording(["S1", "S2"], named, agent_name="Daniel Mensah") == ("S1", "it's daniel")


def test_without_an_opening_cue_what_only_agents_say_later_settles_it():
    # a task dialogue: the customer opens, the agent never greets, but offers more help at the end
    labels = ["A", "B", "A", "B", "A", "B"]
    texts = ["I need a table for two tonight", "Which restaurant would you like?", "Sushi Ko at 7 pm",
             "Your reservation is confirmed.", "Thanks, that's all", "Is there anything else I can help with?"]
    assert agent_by_wording(labels, texts) == ("B", "Your reservation is confirmed")
    # a social-media thread: the brand asks for a direct message
    thread = ["@brand my parcel never came", "So sorry about that! Please DM us your order number.", "done"]
    assert agent_by_wording(["u1", "u2", "u1"], thread) == ("u2", "DM us")
    de = ["Mein Vertrag läuft aus.", "Ich verlängere ihn. Kann ich sonst noch etwas für Sie tun?", "Nein, danke."]
    assert agent_by_wording(["x", "y", "x"], de) == ("y", "Kann ich sonst noch etwas")
    # an opening cue decides; a later one is not asked
    opened = ["thanks for calling, how can I help?", "is there anything else I can help you with at my end"]
    assert agent_by_wording(["S1", "S2"], opened) == ("S1", "thanks for calling")
    # both say it later: no guess
    both = ["anything else I can help you with?", "no, anything else I can do for you? ha"]
    assert agent_by_wording(["S1", "S2"], both) is None


@pytest.mark.parametrize("texts", [
    ["hello", "hi my order is late", "ok", "can you check"],  # neither says it
    ["thanks for calling, how can I help?", "how can I help you, I'm calling about my order"],  # both do
])
def test_no_guess_when_the_words_do_not_settle_it(texts):
    labels = ["Speaker 1", "Speaker 2"] * (len(texts) // 2)
    with pytest.raises(TranscriptError) as exc:
        SpeakerMap().resolve(labels, texts=texts, where="call.txt")
    assert "cannot tell whether speaker 'Speaker 1' is the agent or the customer" in str(exc.value)
    assert "Speaker 1=agent" in exc.value.hint


def test_three_unnamed_speakers_are_not_guessed():
    with pytest.raises(TranscriptError):
        SpeakerMap().resolve(["S1", "S2", "S3"], texts=["how can I help?", "hi", "hello"])


def test_text_json_and_webvtt_files(tmp_path):
    (tmp_path / "call.txt").write_text(CALL, encoding="utf-8")
    turns = [{"speaker": lab, "text": txt} for lab, txt in
             (line.split(": ", 1) for line in CALL.splitlines())]
    (tmp_path / "call.json").write_text(json.dumps({"id": "c", "turns": turns}), encoding="utf-8")
    vtt = "WEBVTT\n\n" + "".join(f"00:00:0{i}.000 --> 00:00:0{i}.900\n<v {t['speaker']}>{t['text']}\n\n"
                                 for i, t in enumerate(turns))
    (tmp_path / "call.vtt").write_text(vtt, encoding="utf-8")
    for name in ("call.txt", "call.json", "call.vtt"):
        (t,) = list(parse_file(tmp_path / name))
        assert [x.speaker for x in t.turns] == ["customer", "agent", "customer", "agent", "customer"], name
        assert t.metadata["speakers_inferred"]["Speaker 1"] == "agent, by 'thanks for calling'", name


def test_the_batch_says_how_the_speakers_were_told_apart(tmp_path, base_config):
    (tmp_path / "call.txt").write_text(CALL, encoding="utf-8")
    rubric = tmp_path / "r.yaml"
    rubric.write_text("id: r\nversion: 1\npass_mark: 50\nsections:\n  - id: s\n    criteria:\n"
                      "      - id: order\n        question: Did the agent ask for the order number?\n"
                      "        points: 1\n        method: keyword\n        speaker: agent\n"
                      "        keywords: [order number]\n", encoding="utf-8")
    res = score_inputs(rubric, [tmp_path / "call.txt"], base_config)
    assert [c.criterion("order").result for c in res.cards] == ["pass"]
    assert any("speakers told apart by what they say (Speaker 1 = agent, by 'thanks for calling'" in w
               for w in res.warnings), res.warnings
