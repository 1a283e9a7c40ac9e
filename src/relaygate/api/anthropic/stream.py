"""Canonical (OpenAI) chunk SSE -> Anthropic's Messages event stream, as the chunks arrive.

Emitted sequence, as the real API does: ``message_start`` (on the first chunk; ``input_tokens``
is the local estimate, since OpenAI reports usage only at the end; the real counts follow in
``message_delta``, which Anthropic defines as cumulative), then for each run of text, of
reasoning and for each tool call a ``content_block_start`` / ``content_block_delta``... /
``content_block_stop`` triple (a new block starts whenever the kind of delta changes), then
``message_delta`` with the stop reason and usage, and ``message_stop`` at ``[DONE]``. An
in-stream ``{"error": ...}`` becomes an ``event: error``.
"""

from __future__ import annotations

import os
from typing import Any

import orjson

from relaygate.api.anthropic.errors import error_event, error_type
from relaygate.api.anthropic.response import STOP_REASONS, anthropic_usage, message_id
from relaygate.billing.estimate import count_prompt_tokens
from relaygate.providers.anthropic.sse import EventBuffer, data_of
from relaygate.providers.base import ChatRequest
from relaygate.providers.openai.usage import usage_from_openai

TEXT, THINKING, TOOL = "text", "thinking", "tool"


def event(payload: dict[str, Any]) -> bytes:
    return b"event: " + payload["type"].encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


class AnthropicEvents:
    """Feed it canonical SSE bytes (whole events), get Anthropic SSE bytes."""

    __slots__ = ("_block", "_buffer", "_finish", "_index", "_model", "_req", "_started", "_stopped", "_tools",
                 "_usage")

    def __init__(self, req: ChatRequest) -> None:
        self._req = req
        self._model = req.model
        self._buffer = EventBuffer()
        self._started = False
        self._stopped = False
        self._index = -1  # Anthropic content block index
        self._block: tuple[str, int] | None = None  # open block: (kind, tool call index)
        self._tools: set[int] = set()
        self._finish: str | None = None
        self._usage: dict[str, Any] | None = None

    def feed(self, data: bytes) -> bytes:
        out: list[bytes] = []
        for raw in self._buffer.complete(data):
            payload = data_of(raw)
            if payload is None or self._stopped:
                continue
            if payload == b"[DONE]":
                self._stop(out)
                continue
            try:
                chunk = orjson.loads(payload)
            except orjson.JSONDecodeError:
                continue
            if isinstance(chunk, dict):
                self._on_chunk(chunk, out)
        return b"".join(out)

    def _on_chunk(self, chunk: dict[str, Any], out: list[bytes]) -> None:
        err = chunk.get("error")
        if isinstance(err, dict):
            self._stopped = True
            status = 529 if err.get("code") in ("overloaded", "server_is_overloaded") else 500
            out.append(error_event(str(err.get("message") or "upstream error"), error_type(status)))
            return
        if not self._started:
            self._started = True
            estimate = count_prompt_tokens(self._req.body, self._req.model)
            out.append(event({"type": "message_start", "message": {
                "id": message_id(chunk.get("id")), "type": "message", "role": "assistant", "model": self._model,
                "content": [], "stop_reason": None, "stop_sequence": None,
                "usage": {"input_tokens": estimate, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                          "output_tokens": 1}}}))
        if isinstance(chunk.get("usage"), dict):
            self._usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") if isinstance(choice.get("delta"), dict) else {}
            self._on_delta(delta, out)
            if choice.get("finish_reason"):
                self._finish = choice["finish_reason"]

    def _on_delta(self, delta: dict[str, Any], out: list[bytes]) -> None:
        reasoning = delta.get("reasoning_content")
        if isinstance(reasoning, str) and reasoning:
            self._open(THINKING, 0, {"type": "thinking", "thinking": "", "signature": ""}, out)
            out.append(self._delta({"type": "thinking_delta", "thinking": reasoning}))
        for key in ("content", "refusal"):
            text = delta.get(key)
            if isinstance(text, str) and text:
                self._open(TEXT, 0, {"type": "text", "text": ""}, out)
                out.append(self._delta({"type": "text_delta", "text": text}))
        calls = list(delta["tool_calls"]) if isinstance(delta.get("tool_calls"), list) else []
        if isinstance(delta.get("function_call"), dict):
            fn = delta["function_call"]
            calls.append({"index": 0, "id": "toolu_fn_" + os.urandom(8).hex() if fn.get("name") else None,
                          "function": fn})
        for call in calls:
            if not isinstance(call, dict):
                continue
            k = call.get("index", 0)
            if not isinstance(k, int):
                continue
            fn = call.get("function") if isinstance(call.get("function"), dict) else {}
            if k not in self._tools:
                self._tools.add(k)
                self._close(out)
                self._open(TOOL, k, {"type": "tool_use", "id": str(call.get("id") or "toolu_" + os.urandom(12).hex()),
                                     "name": str(fn.get("name") or ""), "input": {}}, out)
            args = fn.get("arguments")
            if isinstance(args, str) and args and self._block == (TOOL, k):
                out.append(self._delta({"type": "input_json_delta", "partial_json": args}))

    def _open(self, kind: str, k: int, block: dict[str, Any], out: list[bytes]) -> None:
        if self._block == (kind, k):
            return
        self._close(out)
        self._index += 1
        self._block = (kind, k)
        out.append(event({"type": "content_block_start", "index": self._index, "content_block": block}))

    def _close(self, out: list[bytes]) -> None:
        if self._block is not None:
            out.append(event({"type": "content_block_stop", "index": self._index}))
            self._block = None

    def _delta(self, delta: dict[str, Any]) -> bytes:
        return event({"type": "content_block_delta", "index": self._index, "delta": delta})

    def _stop(self, out: list[bytes]) -> None:
        self._stopped = True
        if not self._started:
            return
        self._close(out)
        usage = usage_from_openai(self._usage)
        out.append(event({"type": "message_delta",
                          "delta": {"stop_reason": STOP_REASONS.get(self._finish or "stop", "end_turn"),
                                    "stop_sequence": None},
                          "usage": anthropic_usage(usage) if usage is not None else {"output_tokens": 0}}))
        out.append(event({"type": "message_stop"}))
