"""Anthropic Messages SSE -> OpenAI ``chat.completion.chunk`` SSE, event by event.

Each upstream read is converted as a whole: every complete Anthropic event in it becomes zero or
more OpenAI chunks, returned together, so nothing is held back beyond an incomplete event.

* ``message_start``: the role chunk; its usage (input and cache tokens) is remembered.
* ``content_block_start`` ``tool_use``: a tool call head with ``index`` = the running count of
  tool calls (not Anthropic's block index, which also counts text and thinking blocks).
* ``text_delta`` -> ``content``, ``thinking_delta`` -> ``reasoning_content``, ``input_json_delta``
  -> the call's ``arguments`` (or ``content`` for the JSON-mode tool, ``function_call`` for
  legacy callers).
* ``message_delta``: the finish chunk; its usage is cumulative and replaces what was known.
* ``message_stop``: the usage chunk when the caller asked for it, then ``[DONE]``.
* ``ping`` and unknown events are ignored; an ``error`` event becomes OpenAI's in-stream error
  object followed by ``[DONE]``, so the caller's SDK raises a clean APIError and the stream ends.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from relaygate.providers.anthropic.errors import stream_error
from relaygate.providers.anthropic.response import finish_reason, json_answer
from relaygate.providers.anthropic.sse import EventBuffer, data_of
from relaygate.providers.anthropic.tools import ReplyShape
from relaygate.providers.anthropic.usage import openai_usage, usage_from_anthropic
from relaygate.providers.base import UpstreamError, Usage
from relaygate.providers.openai.chunks import sse_chunk

DONE = b"data: [DONE]\n\n"

# block kinds
TEXT, THINKING, TOOL, JSON_ANSWER, LEGACY, OTHER = range(6)


class AnthropicStreamRelay:
    __slots__ = ("_blocks", "_buffer", "_created", "_finished", "_id", "_json", "_model", "_parts", "_shape",
                 "_tools", "done", "error", "usage", "wants_usage")

    def __init__(self, shape: ReplyShape, wants_usage: bool) -> None:
        self._shape = shape
        self.wants_usage = wants_usage
        self.usage: Usage | None = None
        self.done = False
        self.error: UpstreamError | None = None
        self._buffer = EventBuffer()
        self._id = ""
        self._model = ""
        self._created = int(time.time())
        self._blocks: dict[int, tuple[int, int]] = {}  # Anthropic block index -> (kind, tool call index)
        self._tools = 0
        self._finished = False
        self._parts: list[str] = []  # generated text, for a local count if the stream breaks
        self._json: list[str] = []  # a wrapped JSON-mode answer, unwrapped when its block ends

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
            if isinstance(obj, dict):
                self._on_event(obj, out)
        return b"".join(out)

    def completion_text(self) -> str:
        return "".join(self._parts)

    # --- events ---------------------------------------------------------------------------------

    def _on_event(self, obj: dict[str, Any], out: list[bytes]) -> None:
        kind = obj.get("type")
        if kind == "content_block_delta":
            self._on_delta(obj, out)
        elif kind == "content_block_start":
            self._on_block_start(obj, out)
        elif kind == "content_block_stop":
            if self._json:
                value = orjson.loads("".join(self._json) or "{}") if _valid("".join(self._json)) else {}
                self._json.clear()
                out.append(self._chunk({"content": json_answer(value, self._shape)}))
        elif kind == "message_start":
            msg = obj.get("message") if isinstance(obj.get("message"), dict) else {}
            self._id = str(msg.get("id") or "")
            self._model = str(msg.get("model") or "")
            self.usage = usage_from_anthropic(msg.get("usage"), self.usage)
            out.append(self._chunk({"role": "assistant", "content": ""}))
        elif kind == "message_delta":
            delta = obj.get("delta") if isinstance(obj.get("delta"), dict) else {}
            self.usage = usage_from_anthropic(obj.get("usage"), self.usage)
            if delta.get("stop_reason") is not None and not self._finished:
                self._finish(delta.get("stop_reason"), out)
        elif kind == "message_stop":
            if not self._finished:
                self._finish("end_turn", out)
            if self.wants_usage and self.usage is not None:
                out.append(self._chunk(None, usage=openai_usage(self.usage)))
            out.append(DONE)
            self.done = True
        elif kind == "error":
            self.error = stream_error(obj.get("error"))
            out.append(b"data: " + orjson.dumps({"error": {"message": self.error.message, "type": self.error.type,
                                                           "param": None, "code": self.error.code}}) + b"\n\n")
            out.append(DONE)

    def _on_block_start(self, obj: dict[str, Any], out: list[bytes]) -> None:
        block = obj.get("content_block") if isinstance(obj.get("content_block"), dict) else {}
        index = obj.get("index")
        if not isinstance(index, int):
            return
        btype = block.get("type")
        if btype == "text":
            self._blocks[index] = (TEXT, 0)
            if block.get("text"):
                self._emit_text(block["text"], out)
        elif btype == "thinking":
            self._blocks[index] = (THINKING, 0)
        elif btype == "tool_use":
            name = str(block.get("name") or "")
            self._parts.append(name)
            if self._shape.json_tool is not None and name == self._shape.json_tool:
                self._blocks[index] = (JSON_ANSWER, 0)
            elif self._shape.legacy:
                self._blocks[index] = (LEGACY, 0)
                if self._tools == 0:
                    out.append(self._chunk({"function_call": {"name": name, "arguments": ""}}))
                self._tools += 1
            else:
                k = self._tools
                self._tools += 1
                self._blocks[index] = (TOOL, k)
                out.append(self._chunk({"tool_calls": [{"index": k, "id": str(block.get("id") or ""),
                                                        "type": "function",
                                                        "function": {"name": name, "arguments": ""}}]}))
        else:
            self._blocks[index] = (OTHER, 0)

    def _on_delta(self, obj: dict[str, Any], out: list[bytes]) -> None:
        delta = obj.get("delta") if isinstance(obj.get("delta"), dict) else {}
        index = obj.get("index")
        kind, k = self._blocks.get(index, (OTHER, 0)) if isinstance(index, int) else (OTHER, 0)
        dtype = delta.get("type")
        if dtype == "text_delta" and isinstance(delta.get("text"), str):
            self._emit_text(delta["text"], out)
        elif dtype == "thinking_delta" and isinstance(delta.get("thinking"), str):
            self._parts.append(delta["thinking"])
            out.append(self._chunk({"reasoning_content": delta["thinking"]}))
        elif dtype == "input_json_delta" and isinstance(delta.get("partial_json"), str):
            fragment = delta["partial_json"]
            self._parts.append(fragment)
            if not fragment:
                return
            if kind == TOOL:
                out.append(self._chunk({"tool_calls": [{"index": k, "function": {"arguments": fragment}}]}))
            elif kind == JSON_ANSWER and self._shape.wrapped:
                self._json.append(fragment)  # the caller's root is the "value" inside: wait for all of it
            elif kind == JSON_ANSWER:
                out.append(self._chunk({"content": fragment}))
            elif kind == LEGACY and k == 0:
                out.append(self._chunk({"function_call": {"arguments": fragment}}))

    def _emit_text(self, text: str, out: list[bytes]) -> None:
        self._parts.append(text)
        out.append(self._chunk({"content": text}))

    def _finish(self, stop_reason: Any, out: list[bytes]) -> None:
        self._finished = True
        out.append(self._chunk({}, finish_reason(stop_reason, self._tools > 0, self._shape)))

    def _chunk(self, delta: dict[str, Any] | None, finish: str | None = None,
               usage: dict[str, Any] | None = None) -> bytes:
        return sse_chunk(self._id, self._created, self._model, delta, 0, finish, usage)


def _valid(text: str) -> bool:
    try:
        orjson.loads(text or "{}")
    except orjson.JSONDecodeError:
        return False
    return True
