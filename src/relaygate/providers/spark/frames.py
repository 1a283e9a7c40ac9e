"""Spark response frames -> OpenAI chat completions and chunks (protocol notes §5, §7).

Each frame's ``payload.choices.text[0].content`` is the next piece of text; a ``function_call``
item (``content_type: function_call``) is a whole call and becomes one tool call. The frame with
``header.status == 2`` is the last and the only one with ``payload.usage.text`` (numbers, or
strings from older API versions). An error frame (``header.code`` != 0) ends the answer: 10014
(the output failed moderation) as ``finish_reason: content_filter``, anything else as an error.
The stream relay reads one whole frame per ``feed`` (what :mod:`.transport` yields).
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from relaygate.providers.baidu.response import call_id
from relaygate.providers.base import UpstreamError, Usage
from relaygate.providers.openai.chunks import openai_usage, sse_chunk
from relaygate.providers.spark.errors import OUTPUT_FILTERED, frame_code, frame_message, spark_error

DONE = b"data: [DONE]\n\n"


def _int(value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return 0
    return max(0, number)


def usage_of(frame: dict[str, Any]) -> Usage | None:
    payload = frame.get("payload") if isinstance(frame.get("payload"), dict) else {}
    usage = payload.get("usage") if isinstance(payload.get("usage"), dict) else None
    text = usage.get("text") if usage is not None else None
    if not isinstance(text, dict):
        return None
    return Usage(prompt_tokens=_int(text.get("prompt_tokens")), completion_tokens=_int(text.get("completion_tokens")))


def items_of(frame: dict[str, Any]) -> list[dict[str, Any]]:
    payload = frame.get("payload") if isinstance(frame.get("payload"), dict) else {}
    choices = payload.get("choices") if isinstance(payload.get("choices"), dict) else {}
    text = choices.get("text")
    return [t for t in text if isinstance(t, dict)] if isinstance(text, list) else []


def is_last(frame: dict[str, Any]) -> bool:
    header = frame.get("header") if isinstance(frame.get("header"), dict) else {}
    return header.get("status") == 2 or frame_code(frame) != 0


def _call(item: dict[str, Any]) -> dict[str, Any] | None:
    fc = item.get("function_call")
    if not isinstance(fc, dict):
        return None
    args = fc.get("arguments")
    return {"id": call_id(), "type": "function",
            "function": {"name": str(fc.get("name") or ""),
                         "arguments": args if isinstance(args, str) else orjson.dumps(args or {}).decode()}}


def _sid(frame: dict[str, Any]) -> str:
    header = frame.get("header") if isinstance(frame.get("header"), dict) else {}
    return str(header.get("sid") or "")


def to_openai(frames: list[dict[str, Any]], model: str, legacy: bool) -> tuple[dict[str, Any], Usage | None]:
    """A whole answer from all its frames; the last one is an error frame only for 10014."""
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    usage: Usage | None = None
    filtered = False
    for frame in frames:
        if frame_code(frame) == OUTPUT_FILTERED:
            filtered = True
            break
        for item in items_of(frame):
            call = _call(item)
            if call is not None:
                calls.append(call)
            elif isinstance(item.get("content"), str):
                texts.append(item["content"])
        usage = usage_of(frame) or usage
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts or not calls else None,
                               "refusal": None}
    if calls and legacy:
        message["function_call"] = calls[0]["function"]
    elif calls:
        message["tool_calls"] = calls
    finish = "content_filter" if filtered else ("function_call" if legacy else "tool_calls") if calls else "stop"
    out: dict[str, Any] = {"id": "chatcmpl-" + (_sid(frames[0]) if frames else call_id()),
                           "object": "chat.completion", "created": int(time.time()), "model": model,
                           "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}]}
    if usage is not None:
        out["usage"] = openai_usage(usage)
    return out, usage


def answer_text(frames: list[dict[str, Any]]) -> str:
    parts = []
    for frame in frames:
        for item in items_of(frame):
            fc = item.get("function_call")
            parts.append(str(item.get("content") or "") if not isinstance(fc, dict)
                         else str(fc.get("name") or "") + str(fc.get("arguments") or ""))
    return "".join(parts)


class SparkStreamRelay:
    __slots__ = ("_calls", "_created", "_id", "_legacy", "_model", "_parts", "_started", "done", "error", "usage",
                 "wants_usage")

    def __init__(self, model: str, legacy: bool, wants_usage: bool) -> None:
        self.usage: Usage | None = None
        self.done = False
        self.error: UpstreamError | None = None
        self.wants_usage = wants_usage
        self._model = model
        self._legacy = legacy
        self._id = ""
        self._created = int(time.time())
        self._started = False
        self._calls = 0
        self._parts: list[str] = []

    def feed(self, data: bytes) -> bytes:
        if self.done or self.error is not None or not data.strip():
            return b""
        try:
            frame = orjson.loads(data)
        except orjson.JSONDecodeError:
            return b""
        if not isinstance(frame, dict):
            return b""
        out: list[bytes] = []
        self._on_frame(frame, out)
        return b"".join(out)

    def completion_text(self) -> str:
        return "".join(self._parts)

    def _on_frame(self, frame: dict[str, Any], out: list[bytes]) -> None:
        self._id = self._id or "chatcmpl-" + _sid(frame)
        code = frame_code(frame)
        if code == OUTPUT_FILTERED:
            self._start(out)
            self._finish("content_filter", out)
            return
        if code != 0:
            self.error = spark_error(code, frame_message(frame))
            out.append(b"data: " + orjson.dumps({"error": {"message": self.error.message, "type": self.error.type,
                                                           "param": None, "code": self.error.code}}) + b"\n\n")
            out.append(DONE)
            return
        self._start(out)
        for item in items_of(frame):
            call = _call(item)
            if call is not None:
                fn = call["function"]
                self._parts.append(fn["name"] + fn["arguments"])
                if self._legacy:
                    if self._calls == 0:
                        out.append(self._chunk({"function_call": fn}))
                else:
                    out.append(self._chunk({"tool_calls": [{"index": self._calls, **call}]}))
                self._calls += 1
            elif isinstance(item.get("content"), str) and item["content"]:
                self._parts.append(item["content"])
                out.append(self._chunk({"content": item["content"]}))
        self.usage = usage_of(frame) or self.usage
        if is_last(frame):
            self._finish(("function_call" if self._legacy else "tool_calls") if self._calls else "stop", out)

    def _start(self, out: list[bytes]) -> None:
        if not self._started:
            self._started = True
            out.append(self._chunk({"role": "assistant", "content": ""}))

    def _finish(self, reason: str, out: list[bytes]) -> None:
        out.append(self._chunk({}, reason))
        if self.wants_usage and self.usage is not None:
            out.append(self._chunk(None, usage=openai_usage(self.usage)))
        out.append(DONE)
        self.done = True

    def _chunk(self, delta: dict[str, Any] | None, finish: str | None = None,
               usage: dict[str, Any] | None = None) -> bytes:
        return sse_chunk(self._id, self._created, self._model, delta, 0, finish, usage)
