"""Qianfan v1 SSE -> OpenAI ``chat.completion.chunk`` SSE (protocol notes §2.3).

Every ``data:`` event holds the next piece of text in ``result`` (incremental) and a ``usage``
that is only final on the last event, the one with ``is_end: true``. There is no ``[DONE]``: the
relay ends the stream itself after ``is_end`` (finish chunk, the usage chunk when the caller
asked for it, ``[DONE]``). A ``function_call`` in an event becomes one whole tool-call delta. An
error object in the stream (``error_code``, with or without SSE framing) becomes OpenAI's
in-stream error object followed by ``[DONE]``.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from relaygate.providers.anthropic.sse import EventBuffer, data_of
from relaygate.providers.baidu.errors import baidu_error, error_code
from relaygate.providers.baidu.response import finish_reason, tool_call
from relaygate.providers.base import UpstreamError, Usage
from relaygate.providers.openai.chunks import openai_usage, sse_chunk
from relaygate.providers.openai.usage import usage_from_openai

DONE = b"data: [DONE]\n\n"


class BaiduStreamRelay:
    __slots__ = ("_buffer", "_called", "_created", "_id", "_legacy", "_model", "_parts", "_started", "done",
                 "error", "usage", "wants_usage")

    def __init__(self, model: str, legacy: bool, wants_usage: bool) -> None:
        self.usage: Usage | None = None
        self.done = False
        self.error: UpstreamError | None = None
        self.wants_usage = wants_usage
        self._buffer = EventBuffer()
        self._model = model
        self._legacy = legacy
        self._id = ""
        self._created = int(time.time())
        self._started = False
        self._called = False
        self._parts: list[str] = []

    def feed(self, data: bytes) -> bytes:
        out: list[bytes] = []
        for event in self._buffer.complete(data):
            if self.done or self.error is not None:
                break
            payload = data_of(event)
            if payload is None and event.lstrip().startswith(b"{"):
                payload = event.strip()  # an error object sent without SSE framing
            if not payload:
                continue
            try:
                obj = orjson.loads(payload)
            except orjson.JSONDecodeError:
                continue
            if isinstance(obj, dict):
                self._on_event(obj, out)
        pending = self._buffer.pending.strip()
        if pending.startswith(b"{") and pending.endswith(b"}") and not self.done and self.error is None:
            self._bare_error(pending, out)  # an error object sent bare, with no blank line after it
        return b"".join(out)

    def _bare_error(self, pending: bytes, out: list[bytes]) -> None:
        try:
            obj = orjson.loads(pending)
        except orjson.JSONDecodeError:
            return
        if error_code(obj) is not None:
            self._on_event(obj, out)

    def completion_text(self) -> str:
        return "".join(self._parts)

    def _on_event(self, obj: dict[str, Any], out: list[bytes]) -> None:
        code = error_code(obj)
        if code is not None:
            self.error = baidu_error(code, str(obj.get("error_msg") or ""))
            out.append(b"data: " + orjson.dumps({"error": {"message": self.error.message, "type": self.error.type,
                                                           "param": None, "code": self.error.code}}) + b"\n\n")
            out.append(DONE)
            return
        self._id = self._id or str(obj.get("id") or "")
        if isinstance(obj.get("created"), int):
            self._created = obj["created"]
        if not self._started:
            self._started = True
            out.append(self._chunk({"role": "assistant", "content": ""}))
        text = obj.get("result")
        if isinstance(text, str) and text:
            self._parts.append(text)
            out.append(self._chunk({"content": text}))
        fc = obj.get("function_call")
        if isinstance(fc, dict) and not self._called:
            self._called = True
            call = tool_call(fc)
            self._parts.append(call["function"]["name"] + call["function"]["arguments"])
            delta = {"function_call": call["function"]} if self._legacy else {"tool_calls": [{"index": 0, **call}]}
            out.append(self._chunk(delta))
        usage = usage_from_openai(obj.get("usage"))
        if usage is not None:
            self.usage = usage
        if obj.get("is_end") is True:
            out.append(self._chunk({}, finish_reason(obj, self._called, self._legacy)))
            if self.wants_usage and self.usage is not None:
                out.append(self._chunk(None, usage=openai_usage(self.usage)))
            out.append(DONE)
            self.done = True

    def _chunk(self, delta: dict[str, Any] | None, finish: str | None = None,
               usage: dict[str, Any] | None = None) -> bytes:
        return sse_chunk(self._id, self._created, self._model, delta, 0, finish, usage)
