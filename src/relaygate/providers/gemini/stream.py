"""Gemini ``streamGenerateContent?alt=sse`` -> OpenAI chunk SSE.

Every ``data:`` event is a whole GenerateContentResponse holding the *new* parts: text becomes
``content`` (thought parts ``reasoning_content``), each ``functionCall`` part one complete tool
call delta, a ``finishReason`` the finish chunk of that candidate. ``usageMetadata`` is
cumulative; the last one counts. Gemini sends no terminator, so once every candidate has
finished the relay itself ends the stream (usage chunk when asked, then ``[DONE]``). An
``{"error": ...}`` event becomes OpenAI's in-stream error object and ``[DONE]``.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from relaygate.providers.anthropic.sse import EventBuffer, data_of
from relaygate.providers.base import UpstreamError, Usage
from relaygate.providers.gemini.errors import stream_error
from relaygate.providers.gemini.response import finish_reason, openai_usage, split_parts, tool_call, usage_from_gemini
from relaygate.providers.openai.chunks import sse_chunk

DONE = b"data: [DONE]\n\n"


class GeminiStreamRelay:
    __slots__ = ("_buffer", "_calls", "_created", "_expected", "_finished", "_id", "_legacy", "_meta", "_model",
                 "_parts", "_started", "done", "error", "usage", "wants_usage")

    def __init__(self, model: str, candidates: int, legacy: bool, wants_usage: bool) -> None:
        self.usage: Usage | None = None
        self.done = False
        self.error: UpstreamError | None = None
        self.wants_usage = wants_usage
        self._buffer = EventBuffer()
        self._id = ""
        self._model = model
        self._created = int(time.time())
        self._expected = max(1, candidates)
        self._legacy = legacy
        self._started: set[int] = set()
        self._finished: set[int] = set()
        self._calls: dict[int, int] = {}  # candidate -> tool calls so far
        self._meta: dict[str, Any] = {}
        self._parts: list[str] = []

    def feed(self, data: bytes) -> bytes:
        out: list[bytes] = []
        for event in self._buffer.complete(data):
            payload = data_of(event)
            if not payload or self.done or self.error is not None:
                continue
            try:
                obj = orjson.loads(payload)
            except orjson.JSONDecodeError:
                continue
            if isinstance(obj, list):  # a JSON-array framed chunk: treat each element alike
                for item in obj:
                    if isinstance(item, dict):
                        self._on_response(item, out)
            elif isinstance(obj, dict):
                self._on_response(obj, out)
        return b"".join(out)

    def completion_text(self) -> str:
        return "".join(self._parts)

    def _on_response(self, obj: dict[str, Any], out: list[bytes]) -> None:
        if isinstance(obj.get("error"), dict):
            self.error = stream_error(obj["error"])
            out.append(b"data: " + orjson.dumps({"error": {"message": self.error.message, "type": self.error.type,
                                                           "param": None, "code": self.error.code}}) + b"\n\n")
            out.append(DONE)
            return
        self._id = self._id or "chatcmpl-" + str(obj.get("responseId") or "")
        self._model = str(obj.get("modelVersion") or self._model)
        if isinstance(obj.get("usageMetadata"), dict):
            self._meta = obj["usageMetadata"]
            self.usage = usage_from_gemini(self._meta)
        candidates = obj.get("candidates") if isinstance(obj.get("candidates"), list) else []
        if not candidates and isinstance(obj.get("promptFeedback"), dict) and obj["promptFeedback"].get("blockReason"):
            self._start(0, out)
            self._finish(0, "SAFETY", out)
        for position, cand in enumerate(candidates):
            if isinstance(cand, dict):
                self._on_candidate(cand, position, out)
        if len(self._finished) >= self._expected:
            if self.wants_usage and self.usage is not None:
                out.append(self._chunk(None, 0, usage=openai_usage(self.usage, self._meta)))
            out.append(DONE)
            self.done = True

    def _on_candidate(self, cand: dict[str, Any], position: int, out: list[bytes]) -> None:
        index = cand["index"] if isinstance(cand.get("index"), int) else position
        if index in self._finished:
            return
        self._start(index, out)
        content = cand.get("content") if isinstance(cand.get("content"), dict) else {}
        texts, thoughts, calls = split_parts(content.get("parts"))
        for thought in thoughts:
            self._parts.append(thought)
            out.append(self._chunk({"reasoning_content": thought}, index))
        for text in texts:
            self._parts.append(text)
            out.append(self._chunk({"content": text}, index))
        for call in calls:
            converted = tool_call(call)
            fn = converted["function"]
            self._parts.append(fn["name"] + fn["arguments"])
            k = self._calls.get(index, 0)
            self._calls[index] = k + 1
            if self._legacy:
                if k == 0:
                    out.append(self._chunk({"function_call": fn}, index))
            else:
                out.append(self._chunk({"tool_calls": [{"index": k, **converted}]}, index))
        if cand.get("finishReason"):
            self._finish(index, cand["finishReason"], out)

    def _start(self, index: int, out: list[bytes]) -> None:
        if index not in self._started:
            self._started.add(index)
            out.append(self._chunk({"role": "assistant", "content": ""}, index))

    def _finish(self, index: int, reason: Any, out: list[bytes]) -> None:
        self._finished.add(index)
        out.append(self._chunk({}, index, finish_reason(reason, bool(self._calls.get(index)), self._legacy)))

    def _chunk(self, delta: dict[str, Any] | None, index: int, finish: str | None = None,
               usage: dict[str, Any] | None = None) -> bytes:
        return sse_chunk(self._id, self._created, self._model, delta, index, finish, usage)
