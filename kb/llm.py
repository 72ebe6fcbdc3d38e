"""The optional generative engine: any OpenAI-compatible chat-completions server.

A local Ollama (`http://localhost:11434/v1`), vLLM, llama.cpp server or a hosted API: the
settings `llm_base_url`, `llm_model`, `llm_api_key` and `llm_timeout` say which (off unless
`answer_engine = "llm"`). The model receives the numbered source passages behind the extractive
answer and must cite them as [1], [2]. Deskbook falls back to the extractive answer, and says why
in `Answer.fallback`, when the extractive engine itself is not confident (the model is not asked),
when the server fails or times out, and when the reply cites no passage it was given.

Only the standard library is used (urllib), so nothing is installed for it.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

from kb.answers import Answer, Answerer, Citation, Passage
from kb.errors import ConfigError, DeskbookError
from kb.models import AGENT_STATUSES

ENGINE = "llm.v1"
NO_ANSWER = "NO ANSWER"
_CITE = re.compile(r"\[(\d{1,2}(?:\s*,\s*\d{1,2})*)\]")

SYSTEM_PROMPT = (
    "You help a contact-centre agent answer a customer, using only the numbered passages from the company's "
    "procedures (SOPs) and past cases. Rules: use only facts stated in the passages; after each sentence or "
    "step, cite the passage(s) it comes from as [1] or [1][3]; prefer the SOP passages over past cases; be "
    "short: two to five sentences, or the numbered steps the agent should follow. If the passages do not answer "
    f"the question, reply exactly: {NO_ANSWER}"
)


class LLMError(DeskbookError):
    """The chat-completions server failed, timed out or answered in an unexpected shape."""

    code = "llm_error"
    http_status = 502


class ChatClient:
    """A minimal client for POST {base_url}/chat/completions."""

    def __init__(self, base_url: str, model: str, *, api_key: str = "", timeout: float = 20.0):
        if not base_url or not model:
            raise ConfigError("The llm answer engine needs llm_base_url and llm_model",
                              hint="e.g. DESKBOOK_LLM_BASE_URL=http://localhost:11434/v1 DESKBOOK_LLM_MODEL=llama3.1:8b",
                              field="llm_base_url" if not base_url else "llm_model")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.api_key = api_key
        self.timeout = float(timeout)

    def complete(self, messages: list[dict[str, str]], *, max_tokens: int = 500, temperature: float = 0.1) -> str:
        body = json.dumps({"model": self.model, "messages": messages, "max_tokens": max_tokens,
                           "temperature": temperature, "stream": False}).encode("utf-8")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        req = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 - a configured URL
                data = json.loads(resp.read().decode("utf-8"))
        except TimeoutError:
            raise LLMError(f"no reply from {self.url} within {self.timeout:g} s",
                           hint="raise llm_timeout or use a smaller model") from None
        except urllib.error.HTTPError as exc:
            raise LLMError(f"{self.url} answered HTTP {exc.code}: {_short(exc.read())}") from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise LLMError(f"no reply from {self.url} within {self.timeout:g} s",
                               hint="raise llm_timeout or use a smaller model") from None
            raise LLMError(f"cannot reach {self.url}: {exc.reason}", hint="is the LLM server running?") from None
        except (OSError, ValueError) as exc:
            raise LLMError(f"bad reply from {self.url}: {exc}") from None
        try:
            content = data["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise LLMError(f"{self.url} did not answer in the chat-completions shape: {_short(data)}") from None
        if not isinstance(content, str):
            raise LLMError(f"{self.url} returned no text")
        return content


def _short(x: Any) -> str:
    text = x.decode("utf-8", "replace") if isinstance(x, bytes) else json.dumps(x) if not isinstance(x, str) else x
    return text[:200]


def build_messages(question: str, passages: list[Passage]) -> list[dict[str, str]]:
    parts = []
    for p in passages:
        kind = "SOP" if p.type == "sop" else "Past case"
        head = f"{p.title} > {p.heading.split(' > ')[-1]}" if p.heading and p.heading != p.title else p.title
        parts.append(f"[{p.n}] {kind} {p.id}: {head}\n{p.text}")
    user = "Passages:\n\n" + "\n\n".join(parts) + f"\n\nCustomer's question: {question}\n\nAnswer for the agent:"
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


def cited_numbers(text: str) -> list[int]:
    """Passage numbers cited as [n] or [n, m], in order of first appearance."""
    out: list[int] = []
    for m in _CITE.finditer(text):
        for n in m.group(1).split(","):
            k = int(n)
            if k not in out:
                out.append(k)
    return out


class GenerativeAnswerer:
    """Answers with an LLM over the extractive engine's passages; falls back to the extractive answer."""

    def __init__(self, answerer: Answerer, config=None, client: ChatClient | None = None):
        self.answerer = answerer
        self.config = config or answerer.config
        self.client = client or ChatClient(self.config.llm_base_url, self.config.llm_model,
                                           api_key=self.config.llm_api_key, timeout=self.config.llm_timeout)
        self.searcher = answerer.searcher

    def warm(self) -> int:
        return self.answerer.warm()

    def answer(self, question: str, *, qvec=None, prefer: str | None = None,
               statuses: Sequence[str] | None = AGENT_STATUSES, threshold: float | None = None) -> Answer:
        from kb.search import parse_query

        t0 = time.perf_counter()
        if qvec is None:
            qvec = self.searcher.encode_query(parse_query(question).text)
        ext = self.answerer.answer(question, qvec=qvec, prefer=prefer, statuses=statuses, threshold=threshold)
        if ext.abstained:
            ext.fallback = "not confident enough to ask the LLM; showing the closest procedures"
            return self._done(ext, t0)
        passages = self.answerer.passages(ext, qvec)
        try:
            reply = self.client.complete(build_messages(question, passages)).strip()
        except LLMError as exc:
            ext.fallback = f"LLM failed ({exc.message}); showing the extractive answer"
            return self._done(ext, t0)
        numbers = cited_numbers(reply)
        valid = [n for n in numbers if 1 <= n <= len(passages)]
        if reply.upper().startswith(NO_ANSWER) or not valid:
            why = "the LLM found no answer in the passages" if reply.upper().startswith(NO_ANSWER) else \
                "the LLM's answer cited no passage"
            ext.fallback = f"{why}; showing the extractive answer"
            return self._done(ext, t0)
        by_n = {p.n: p for p in passages}
        citations = [Citation(by_n[n].id, by_n[n].type, by_n[n].title, by_n[n].heading) for n in valid]
        warnings = list(ext.warnings)
        bad = [n for n in numbers if n not in by_n]
        if bad:
            warnings.append(f"The LLM cited passages that do not exist: {', '.join(f'[{n}]' for n in bad)}.")
        ans = Answer(question=question, answer=reply, confidence=ext.confidence, abstained=False,
                     citations=citations, sources=ext.sources, sentences=[],
                     engine=f"{ENGINE}:{self.client.model}", warnings=warnings,
                     evidence={**ext.evidence, "passages": [p.id for p in passages]},
                     say=ext.say, checklist=ext.checklist, statuses=ext.statuses)  # read-out words stay verbatim
        return self._done(ans, t0)

    @staticmethod
    def _done(ans: Answer, t0: float) -> Answer:
        ans.latency_ms = round((time.perf_counter() - t0) * 1000, 2)
        return ans
