"""The Messages API event stream for a plan, with the stream fault knobs.

Order (protocol notes §4): ``message_start`` (usage with input/cache counts, ``output_tokens``
1), then per block ``content_block_start`` / deltas / ``content_block_stop`` (a ``ping`` after
the first block start), ``message_delta`` (stop reason, cumulative usage), ``message_stop``. No
``[DONE]``. Text is streamed word by word, thinking likewise plus a ``signature_delta``, tool
input as ``input_json_delta`` fragments starting with an empty one. The fault knobs count
``content_block_delta`` events: after N, ``stream_error_after`` sends ``event: error`` and ends
the response; ``stream_cut_after`` drops the connection.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from aiohttp import web

from relaygate.simulators.openai import replies

from .errors import DEFAULT_MESSAGES, error_body
from .knobs import Knobs
from .replies import Block, MessagePlan
from .runner import abort, end_stream, pause


def sse(payload: dict[str, Any]) -> bytes:
    return b"event: " + payload["type"].encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


def build_events(plan: MessagePlan, knobs: Knobs) -> list[dict[str, Any]]:
    start = plan.render()
    start["content"], start["stop_reason"], start["stop_sequence"] = [], None, None
    start["usage"] = plan.usage(output=1)
    events: list[dict[str, Any]] = [{"type": "message_start", "message": start}]
    for i, block in enumerate(plan.blocks):
        events.append({"type": "content_block_start", "index": i, "content_block": _empty(block)})
        if i == 0:
            events.append({"type": "ping"})
        events.extend({"type": "content_block_delta", "index": i, "delta": d} for d in _deltas(block))
        events.append({"type": "content_block_stop", "index": i})
    usage: dict[str, Any] = {"output_tokens": plan.output_tokens}
    if knobs.delta_usage_full:
        usage = {"input_tokens": plan.input_tokens, "cache_creation_input_tokens": plan.cache_write,
                 "cache_read_input_tokens": plan.cache_read, **usage}
    events.append({"type": "message_delta", "delta": {"stop_reason": plan.stop_reason,
                                                      "stop_sequence": plan.stop_sequence}, "usage": usage})
    events.append({"type": "message_stop"})
    return events


def _empty(block: Block) -> dict[str, Any]:
    if block.type == "text":
        return {"type": "text", "text": ""}
    if block.type == "thinking":
        return {"type": "thinking", "thinking": "", "signature": ""}
    return {"type": "tool_use", "id": block.id, "name": block.name, "input": {}}


def _deltas(block: Block) -> list[dict[str, Any]]:
    if block.type == "text":
        return [{"type": "text_delta", "text": p} for p in replies.stream_pieces(block.text)]
    if block.type == "thinking":
        return [*({"type": "thinking_delta", "thinking": p} for p in replies.stream_pieces(block.text)),
                {"type": "signature_delta", "signature": block.signature}]
    text = orjson.dumps(block.input).decode()
    return [{"type": "input_json_delta", "partial_json": ""},
            *({"type": "input_json_delta", "partial_json": text[i:i + 8]} for i in range(0, len(text), 8))]


async def write_stream(request: web.Request, response: web.StreamResponse, events: list[dict[str, Any]],
                       knobs: Knobs, stopping: asyncio.Event) -> web.StreamResponse:
    await response.prepare(request)
    deltas = 0
    for position, event in enumerate(events):
        if event["type"] == "content_block_delta" or event["type"] == "message_delta":
            if knobs.stream_cut_after is not None and deltas >= knobs.stream_cut_after:
                abort(request)
                return response
            if knobs.stream_error_after is not None and deltas >= knobs.stream_error_after:
                kind = knobs.stream_error_type
                message = DEFAULT_MESSAGES.get(529 if kind == "overloaded_error" else 500, "Internal server error")
                await response.write(sse(error_body(kind, message)))
                await end_stream(response, knobs, stopping)
                return response
        if position and knobs.trickle_ms:
            await pause(knobs.trickle_ms, stopping)
            if stopping.is_set():
                abort(request)
                return response
        await response.write(sse(event))
        deltas += event["type"] == "content_block_delta"
    await end_stream(response, knobs, stopping)
    return response
