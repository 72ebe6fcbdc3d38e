"""The generative engine against a small local server that speaks the chat-completions protocol."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from kb.answers import Answerer, get_answerer
from kb.errors import ConfigError
from kb.llm import ChatClient, GenerativeAnswerer, LLMError, build_messages, cited_numbers

QUESTION = "forgot my password"


class FakeLLM(BaseHTTPRequestHandler):
    """Behaviour set per test through the class attributes `mode` and `reply`."""

    mode = "cite"
    reply = ""
    requests: list[dict] = []

    def do_POST(self):  # noqa: N802 - http.server's naming
        length = int(self.headers.get("Content-Length", 0))
        body = json.loads(self.rfile.read(length))
        FakeLLM.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
        if FakeLLM.mode == "slow":
            time.sleep(2.0)
        if FakeLLM.mode == "error":
            self.send_response(500)
            self.end_headers()
            self.wfile.write(b'{"error": "model not loaded"}')
            return
        payload = {"choices": [{"message": {"role": "assistant", "content": FakeLLM.reply}}]}
        if FakeLLM.mode == "bad_shape":
            payload = {"result": "?"}
        data = json.dumps(payload).encode()
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
            pass

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeLLM)
    httpd.daemon_threads = True
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture()
def llm(server, corpus_searcher, corpus_kb):
    config, _ = corpus_kb
    cfg = config.with_overrides(answer_engine="llm", llm_base_url=server, llm_model="tiny-test-model",
                                llm_api_key="sk-test", llm_timeout=0.5)
    FakeLLM.requests = []
    FakeLLM.mode = "cite"
    return get_answerer(corpus_searcher, cfg)


def test_an_answer_that_cites_is_used(llm):
    FakeLLM.reply = "Ask the customer to use Forgotten password? on the sign-in page [1]. Links last 30 minutes [1][3]."
    ans = llm.answer(QUESTION)
    assert isinstance(llm, GenerativeAnswerer)
    assert ans.engine.startswith("llm") and ans.fallback is None and not ans.abstained
    assert ans.answer == FakeLLM.reply
    assert ans.citations[0].id == "sop-password-reset" and len(ans.citations) == 2
    assert 0 <= ans.confidence <= 1
    req = FakeLLM.requests[-1]
    assert req["path"] == "/v1/chat/completions" and req["auth"] == "Bearer sk-test"
    assert req["body"]["model"] == "tiny-test-model"
    user = req["body"]["messages"][-1]["content"]
    assert "[1] SOP sop-password-reset" in user and QUESTION in user
    assert ans.evidence["passages"][0] == "sop-password-reset"


def test_an_answer_without_citations_falls_back(llm):
    FakeLLM.reply = "Just reset it for them."
    ans = llm.answer(QUESTION)
    assert ans.engine.startswith("extractive") and "cited no passage" in ans.fallback
    assert ans.sentences and ans.citations[0].id == "sop-password-reset"


def test_citations_of_missing_passages_do_not_count(llm):
    FakeLLM.reply = "Reset the password [9]."
    assert llm.answer(QUESTION).engine.startswith("extractive")
    FakeLLM.reply = "Send the link [1]. Then call the police [12]."
    ans = llm.answer(QUESTION)
    assert ans.engine.startswith("llm") and any("[12]" in w for w in ans.warnings)


def test_no_answer_reply_falls_back(llm):
    FakeLLM.reply = "NO ANSWER"
    ans = llm.answer(QUESTION)
    assert ans.engine.startswith("extractive") and "no answer" in ans.fallback


def test_a_slow_server_times_out_and_falls_back(llm):
    FakeLLM.mode = "slow"
    FakeLLM.reply = "Too late [1]."
    ans = llm.answer(QUESTION)
    assert ans.engine.startswith("extractive") and "within" in ans.fallback
    assert ans.sentences


@pytest.mark.parametrize("mode", ["error", "bad_shape"])
def test_server_errors_fall_back(llm, mode):
    FakeLLM.mode = mode
    FakeLLM.reply = "x [1]"
    ans = llm.answer(QUESTION)
    assert ans.engine.startswith("extractive") and ans.fallback and "LLM failed" in ans.fallback


def test_not_confident_means_the_model_is_not_asked(llm):
    ans = llm.answer("will it rain in manchester tomorrow")
    assert ans.abstained and "not confident" in ans.fallback
    assert FakeLLM.requests == []


def test_unreachable_server_is_an_llm_error():
    client = ChatClient("http://127.0.0.1:9/v1", "m", timeout=0.5)
    with pytest.raises(LLMError):
        client.complete([{"role": "user", "content": "hi"}])


def test_llm_engine_needs_url_and_model(corpus_searcher, corpus_kb):
    config, _ = corpus_kb
    with pytest.raises(ConfigError):
        get_answerer(corpus_searcher, config.with_overrides(answer_engine="llm"))
    with pytest.raises(ConfigError):
        get_answerer(corpus_searcher, config.with_overrides(answer_engine="oracle"))
    assert isinstance(get_answerer(corpus_searcher, config), Answerer)


def test_cited_numbers_and_messages():
    assert cited_numbers("a [2]. b [1, 3] c [2]") == [2, 1, 3]
    assert cited_numbers("no citations (1) here") == []
    from kb.answers import Passage

    msgs = build_messages("q?", [Passage(1, "sop-a", "sop", "A", "A > Steps", "Do it.")])
    assert msgs[0]["role"] == "system" and "[1] SOP sop-a: A > Steps\nDo it." in msgs[1]["content"]
