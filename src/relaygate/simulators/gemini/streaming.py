"""``streamGenerateContent`` chunks for a plan: SSE (``alt=sse``) or one JSON array.

Chunks: thoughts first, then the text a few words at a time, function calls whole in one chunk,
and the last chunk carries ``finishReason``. Every chunk has ``usageMetadata`` (output counts
cumulative), ``modelVersion`` and ``responseId``; SSE events end with ``\\r\\n\\r\\n`` and there
is no terminator. ``stream_error_after`` N chunks sends ``data: {"error": ...}`` (503
UNAVAILABLE) and ends; ``stream_cut_after`` drops the connection.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from aiohttp import web

from relaygate.simulators.anthropic.runner import abort, end_stream, pause
from relaygate.simulators.openai import replies

from .errors import DEFAULT_MESSAGES, error_body
from .knobs import Knobs
from .replies import Plan


def build_chunks(plan: Plan, knobs: Knobs) -> list[dict[str, Any]]:
    if plan.blocked:
        return [plan.render()]
    rows: list[list[dict[str, Any]]] = []  # per candidate: its chunk payloads
    for cand in plan.candidates:
        parts: list[list[dict[str, Any]]] = []
        if cand.thought:
            parts.append([{"text": cand.thought, "thought": True}])
        words = replies.stream_pieces(cand.text)
        size = max(1, knobs.words_per_chunk)
        parts.extend([{"text": "".join(words[i:i + size])}] for i in range(0, len(words), size))
        if cand.calls:
            parts.append([{"functionCall": c} for c in cand.calls])
        if not parts:
            parts.append([])
        row = []
        for k, chunk_parts in enumerate(parts):
            cand_out: dict[str, Any] = {"content": {"parts": chunk_parts, "role": "model"}, "index": cand.index}
            if k == len(parts) - 1:
                cand_out["finishReason"] = cand.finish
            row.append(cand_out)
        rows.append(row)
    length = max(len(r) for r in rows)
    chunks = []
    for k in range(length):
        cands = [r[k] for r in rows if k < len(r)]
        chunks.append({"candidates": cands, "usageMetadata": plan.usage((k + 1) / length),
                       "modelVersion": plan.model, "responseId": plan.response_id})
    return chunks


async def write_sse(request: web.Request, response: web.StreamResponse, chunks: list[dict[str, Any]], knobs: Knobs,
                    stopping: asyncio.Event) -> web.StreamResponse:
    await response.prepare(request)
    for position, chunk in enumerate(chunks):
        if knobs.stream_cut_after is not None and position >= knobs.stream_cut_after:
            abort(request)
            return response
        if knobs.stream_error_after is not None and position >= knobs.stream_error_after:
            await response.write(b"data: " + orjson.dumps(error_body(503, DEFAULT_MESSAGES[503])) + b"\r\n\r\n")
            await end_stream(response, knobs, stopping)
            return response
        if position and knobs.trickle_ms:
            await pause(knobs.trickle_ms, stopping)
            if stopping.is_set():
                abort(request)
                return response
        await response.write(b"data: " + orjson.dumps(chunk) + b"\r\n\r\n")
    await end_stream(response, knobs, stopping)
    return response


async def write_array(request: web.Request, response: web.StreamResponse,
                      chunks: list[dict[str, Any]]) -> web.StreamResponse:
    """Without ``alt=sse`` the endpoint streams one JSON array, element by element."""
    await response.prepare(request)
    for position, chunk in enumerate(chunks):
        await response.write((b"[" if position == 0 else b",\r\n") + orjson.dumps(chunk))
    await response.write(b"]")
    await response.write_eof()
    return response
