"""Server-sent-event rendering of a :class:`CompletionPlan`, with the stream fault knobs.

Event order per choice: a role chunk, "content" chunks (text words or tool-call fragments, as in
§1.4 of the protocol notes), a finish chunk with an empty delta. With ``n > 1`` the choices are
interleaved round-robin. Then, only when ``stream_options.include_usage`` is true, one chunk with
``choices: []`` and the usage (all other chunks then carry ``"usage": null``), then
``data: [DONE]``.

Every chunk is written (and so handed to the socket) as soon as it is produced. The cut/error knobs
count *content* chunks: once N were sent, the next non-role event is replaced by the fault — so
a cut always happens, even if the reply has fewer than N content chunks.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from itertools import zip_longest
from typing import Any

import orjson
from aiohttp import web

from . import azure, replies
from .completion import ChoicePlan, CompletionPlan, token_logprobs
from .knobs import Knobs

DONE = b"data: [DONE]\n\n"


@dataclass(frozen=True)
class Event:
    payload: dict[str, Any]
    kind: str  # "prelude" | "role" | "content" | "finish" | "usage"


def sse(payload: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def build_events(plan: CompletionPlan, include_usage: bool, is_azure: bool) -> list[Event]:
    """All chunks of the stream in order (the ``[DONE]`` line is not an event)."""

    def envelope(choice: dict[str, Any] | None, kind: str) -> Event:
        chunk: dict[str, Any] = {
            "id": plan.id,
            "object": "chat.completion.chunk",
            "created": plan.created,
            "model": plan.model,
            "service_tier": plan.service_tier,
            "system_fingerprint": plan.system_fingerprint,
            "choices": [choice] if choice is not None else [],
        }
        if include_usage:
            chunk["usage"] = plan.usage() if kind == "usage" else None
        if is_azure:
            azure.decorate_chunk(chunk, kind == "content")
        return Event(chunk, kind)

    per_choice = [
        [envelope(choice, kind) for choice, kind in _choice_deltas(c, plan)] for c in plan.choices
    ]
    events = [Event(azure.prompt_filter_chunk(), "prelude")] if is_azure else []
    for row in zip_longest(*per_choice):
        events.extend(e for e in row if e is not None)
    if include_usage:
        events.append(envelope(None, "usage"))
    return events


def _choice_deltas(choice: ChoicePlan, plan: CompletionPlan) -> list[tuple[dict[str, Any], str]]:
    def item(delta: dict[str, Any], kind: str = "content", logprobs: Any = None,
             finish: str | None = None) -> tuple[dict[str, Any], str]:
        return {"index": choice.index, "delta": delta, "logprobs": logprobs, "finish_reason": finish}, kind

    out: list[tuple[dict[str, Any], str]] = []
    role: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None}
    if choice.tool_calls:
        for k, call in enumerate(choice.tool_calls):
            head = {"index": k, "id": call.id, "type": "function",
                    "function": {"name": call.name, "arguments": ""}}
            out.append(item({**role, "tool_calls": [head]}, "role") if k == 0
                       else item({"tool_calls": [head]}))
            out.extend(item({"tool_calls": [{"index": k, "function": {"arguments": frag}}]})
                       for frag in replies.argument_fragments(call.arguments))
    elif choice.function_call is not None:
        call = choice.function_call
        out.append(item({**role, "function_call": {"name": call.name, "arguments": ""}}, "role"))
        out.extend(item({"function_call": {"arguments": frag}})
                   for frag in replies.argument_fragments(call.arguments))
    else:
        out.append(item({**role, "content": ""}, "role"))
        for piece in replies.stream_pieces(choice.content or ""):
            logprobs = ({"content": token_logprobs(piece, plan.top_logprobs), "refusal": None}
                        if plan.logprobs else None)
            out.append(item({"content": piece}, logprobs=logprobs))
    out.append(item({}, "finish", finish=choice.finish_reason))
    return out


async def write_stream(
    request: web.Request,
    response: web.StreamResponse,
    events: list[Event],
    knobs: Knobs,
    error_body: dict[str, Any],
    stopping: asyncio.Event,
) -> web.StreamResponse:
    """Send ``events`` one write per chunk, applying trickle/cut/error/malformed knobs."""
    await response.prepare(request)
    sent_content = 0
    for position, event in enumerate(events):
        if event.kind not in ("prelude", "role"):
            if knobs.stream_cut_after is not None and sent_content >= knobs.stream_cut_after:
                abort(request)
                return response
            if knobs.stream_error_after is not None and sent_content >= knobs.stream_error_after:
                await response.write(sse(error_body))
                await response.write_eof()
                return response
        if position and knobs.trickle_ms:
            await _pause(knobs.trickle_ms, stopping)
            if stopping.is_set():
                abort(request)
                return response
        await response.write(sse(event.payload))
        sent_content += event.kind == "content"
        if position == 0 and knobs.malformed_json:
            await response.write(b'data: {"id": "' + event.payload["id"].encode() + b'", "object": "chat.comp\n\n')
    await response.write(DONE)
    await response.write_eof()
    return response


async def _pause(ms: int, stopping: asyncio.Event) -> None:
    try:
        await asyncio.wait_for(stopping.wait(), ms / 1000)
    except TimeoutError:
        pass


def abort(request: web.Request) -> None:
    """Drop the TCP connection mid-body: the client sees a chunked stream that never terminates."""
    transport = request.transport
    if transport is not None:
        transport.abort()
