"""The `llm` QA method against a local server that speaks the chat-completions protocol: a verdict with
a verbatim quote becomes the evidence; an invented quote, an error, a timeout or a reply without JSON
falls back to the semantic method and says so; nothing is sent without a configured server."""

from __future__ import annotations

import json
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from kb.config import load_config
from qa_rubrics.criteria.llm import find_quote, parse_reply, to_original
from qa_rubrics.rubric import parse_rubric
from qa_rubrics.score import Scorer
from qa_rubrics.transcripts import Transcript, Turn

CRITERION = """\
- id: more_help
  question: Did the agent ask whether the customer needs anything else?
  points: 1
  method: llm
  examples: ["Is there anything else I can help you with today?", "Can I help with anything else?"]
"""
CALL = Transcript(id="c1", turns=[
    Turn("customer", "Hi, my name is Joanne Pritchard and my parcel never came."),
    Turn("agent", "Sorry Joanne, I've sent a replacement today. Is there anything else I can do for you?"),
    Turn("customer", "No, that's all, thanks."),
])


class FakeLLM(BaseHTTPRequestHandler):
    reply = ""
    mode = "ok"
    requests: list[dict] = []

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        FakeLLM.requests.append(body)
        if FakeLLM.mode == "slow":
            time.sleep(2.0)
        if FakeLLM.mode == "error":
            self.send_response(500)
            self.end_headers()
            return
        data = json.dumps({"choices": [{"message": {"role": "assistant", "content": FakeLLM.reply}}]}).encode()
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeLLM)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()


def score(embedder, tmp_path, server_url, *, reply="", mode="ok", timeout=5.0):
    FakeLLM.reply, FakeLLM.mode = reply, mode
    FakeLLM.requests.clear()
    config = load_config(data_dir=str(tmp_path), llm_base_url=server_url or "", llm_model="judge-1",
                         llm_timeout=timeout)
    text = "id: r\nversion: 1\npass_mark: 50\nsections:\n  - id: s\n    criteria:\n" + textwrap.indent(CRITERION, " " * 6)
    card = Scorer(parse_rubric(text, "llm.yaml"), config, embedder).score(CALL)
    return card.criteria[0]


def test_a_verdict_with_a_verbatim_quote_is_the_evidence(embedder, tmp_path, server):
    r = score(embedder, tmp_path, server, reply='Sure: {"verdict": "pass", "turn": 2, '
                                                '"quote": "Is there anything else I can do for you?", "reason": "asked"}')
    assert r.result == "pass" and "LLM judge (judge-1)" in r.reason
    ev = r.evidence[0]
    assert ev["turn"] == 1 and ev["text"] == "Is there anything else I can do for you?"
    assert r.confidence == 0.9  # the semantic method agrees
    sent = FakeLLM.requests[0]["messages"][1]["content"]
    assert "Pritchard" not in sent and "[NAME]" in sent  # the model sees the redacted transcript
    assert "[2] agent:" in sent  # turns numbered from 1


def test_an_invented_quote_falls_back_to_the_semantic_method(embedder, tmp_path, server):
    r = score(embedder, tmp_path, server, reply='{"verdict": "pass", "quote": "Anything else I can help with?"}')
    assert "LLM judge not used" in r.reason and "quote is not in what the agent said" in r.reason
    assert r.detail["llm_fallback"] and r.result == "pass"  # the semantic verdict


@pytest.mark.parametrize("mode,reply,why", [("error", "", "LLM error"), ("slow", "", "LLM error"),
                                            ("ok", "I think the agent did well.", "unusable LLM reply"),
                                            ("ok", '{"verdict": "maybe"}', "unusable LLM reply")])
def test_errors_timeouts_and_bad_replies_fall_back(embedder, tmp_path, server, mode, reply, why):
    r = score(embedder, tmp_path, server, reply=reply, mode=mode, timeout=0.5)
    assert why in r.reason and r.result in ("pass", "fail")


def test_without_a_server_nothing_is_sent(embedder, tmp_path, server):
    r = score(embedder, tmp_path, None)
    assert "no LLM server configured" in r.reason and not FakeLLM.requests


def test_quote_matching_and_offsets():
    assert find_quote("anything ELSE  I can do", ["Hi", "Is there anything else I can do for you?"], [1]) == (1, 9, 31)
    assert find_quote("I can do for you.", ["Is there anything else I can do for you?"], [0]) == (0, 23, 39)
    assert find_quote("not there", ["Is there anything else?"], [0]) is None
    assert parse_reply('```json\n{"verdict": "No", "quote": ""}\n```')["verdict"] == "fail"

    class Conv:  # a redaction of "Joanne Pritchard" (16 chars) into "[NAME]" (6) at 0
        class M:
            from kb.redact import Redaction
            items = [Redaction("name", 0, 16)]
        maps = [M]
    assert to_original(Conv, 0, 8, 13) == (18, 23)  # after the placeholder: shifted back by 10
    assert to_original(Conv, 0, 2, 4) == (0, 16)  # inside it: the whole name
