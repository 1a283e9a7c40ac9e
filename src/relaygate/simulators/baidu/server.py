"""aiohttp application of the fake Qianfan v1 API (protocol notes §1-§2).

Routes: ``POST|GET /oauth/2.0/token`` (client_credentials with API key + secret key -> access
token) and ``POST /rpc/2.0/ai_custom/v1/wenxinworkshop/chat/{endpoint}?access_token=...``.
Chat errors come back as Qianfan's: HTTP 200 with ``{"error_code", "error_msg"}`` -- a missing or
unknown token 110, an expired one 111, an unknown endpoint 3, bad parameters 336003. Order:
token, endpoint, ``hang``, injected faults, JSON and validation, then the answer (whole, or an
event stream whose last event has ``is_end: true``; no ``[DONE]``).
"""

from __future__ import annotations

import asyncio
import copy
import os
from typing import Any

import orjson
from aiohttp import web

from relaygate.simulators.anthropic.runner import STATE, abort, json_response, new_app, pause
from relaygate.simulators.openai import replies as words

from .knobs import Knobs
from .replies import Answer, BaiduError, plan, validate
from .state import BaiduState

CHAT_PREFIX = "/rpc/2.0/ai_custom/v1/wenxinworkshop/chat/"
ENDPOINTS = frozenset({
    "completions", "completions_pro", "eb-instant", "ernie_bot_8k", "ernie_speed", "ernie-speed-128k",
    "ernie-lite-8k", "ernie-tiny-8k", "ernie-3.5-8k-0205", "ernie-3.5-8k-1222", "ernie-3.5-4k-0205",
    "ernie-4.0-turbo-8k", "ernie-4.0-turbo-128k", "ernie-4.0-8k-latest", "ernie-3.5-128k", "bloomz_7b1",
    "completions_pro_preemptible", "qianfan-dynamic-8k",
})
STATUS_MESSAGES = {1: "Unknown error", 2: "Service temporarily unavailable", 4: "Open api request limit reached",
                   17: "Open api daily request limit reached", 18: "Open api qps request limit reached",
                   19: "Open api total request limit reached", 110: "Access token invalid or no longer valid",
                   111: "Access token expired", 336000: "Internal error", 336100: "Try again"}


def create_app(state: BaiduState) -> web.Application:
    app = new_app(state)
    app.router.add_route("*", "/oauth/2.0/token", _token)
    app.router.add_post(CHAT_PREFIX + "{endpoint}", _chat)

    async def expire(_: web.Request) -> web.Response:
        state.expire_tokens()
        return json_response(200, {"ok": True})

    app.router.add_post("/__sim/expire_tokens", expire)
    return app


def _error(code: int, message: str | None = None) -> web.Response:
    return json_response(200, {"error_code": code, "error_msg": message or STATUS_MESSAGES.get(code, "error")})


async def _token(request: web.Request) -> web.Response:
    state: BaiduState = request.app[STATE]  # type: ignore[assignment]
    knobs: Knobs = state.knobs  # type: ignore[assignment]
    if knobs.token_latency_ms:
        await asyncio.sleep(knobs.token_latency_ms / 1000)
    query = request.query
    if query.get("grant_type") != "client_credentials":
        return json_response(400, {"error": "unsupported_grant_type",
                                   "error_description": "The authorization grant type is not supported"})
    client_id, secret = query.get("client_id", ""), query.get("client_secret", "")
    if not client_id or (state.credentials is not None and client_id not in state.credentials):
        return json_response(401, {"error": "invalid_client", "error_description": "unknown client id"})
    if state.credentials is not None and state.credentials[client_id] != secret:
        return json_response(401, {"error": "invalid_client", "error_description": "Client authentication failed"})
    token = state.issue_token(client_id, knobs.token_ttl_s)
    return json_response(200, {"access_token": token, "expires_in": knobs.token_ttl_s,
                                "refresh_token": "25." + os.urandom(16).hex(),
                                "scope": "public brain_all_scope ai_custom_qianfan_bloomz_7b1",
                                "session_key": os.urandom(8).hex(), "session_secret": os.urandom(8).hex()})


async def _chat(request: web.Request) -> web.StreamResponse:
    state: BaiduState = request.app[STATE]  # type: ignore[assignment]
    knobs: Knobs = copy.copy(state.knobs)  # type: ignore[assignment]
    code = state.check_token(request.query.get("access_token", ""))
    if code:
        return _error(code)
    endpoint = request.match_info["endpoint"]
    if endpoint not in (state.models if state.models is not None else ENDPOINTS):
        return _error(3, "Unsupported openapi method")
    if knobs.hang:
        await (state.stopping or asyncio.Event()).wait()
        return web.Response(status=503)
    if state.take_fault():
        if knobs.fail_code:
            return _error(knobs.fail_code)
        return json_response(knobs.fail_status, knobs.fail_body or {"error_code": 336000,
                                                                    "error_msg": "Internal error"})
    try:
        try:
            body = validate(orjson.loads(await request.read()))
        except orjson.JSONDecodeError:
            raise BaiduError(336002, "Invalid JSON") from None
    except BaiduError as exc:
        return json_response(200, exc.body())
    answer = plan(body, knobs.reply_words)
    if body.get("stream") is True:
        return await _stream(request, answer, knobs, state.stopping or asyncio.Event())
    return json_response(200, _whole(answer, knobs))


def _flags(knobs: Knobs) -> dict[str, Any]:
    out: dict[str, Any] = {"is_truncated": knobs.is_truncated, "need_clear_history": knobs.need_clear_history}
    if knobs.need_clear_history:
        out["ban_round"] = -1
    return out


def _whole(answer: Answer, knobs: Knobs) -> dict[str, Any]:
    out: dict[str, Any] = {"id": answer.id, "object": "chat.completion", "created": answer.created,
                           "result": answer.text, **_flags(knobs), "usage": answer.usage()}
    if answer.function_call is not None:
        out["function_call"] = answer.function_call
    return out


def _events(answer: Answer, knobs: Knobs) -> list[dict[str, Any]]:
    pieces = words.stream_pieces(answer.text)
    size = max(1, knobs.words_per_event)
    texts = ["".join(pieces[i:i + size]) for i in range(0, len(pieces), size)] or [""]
    events = []
    for i, text in enumerate(texts):
        last = i == len(texts) - 1
        event: dict[str, Any] = {"id": answer.id, "object": "chat.completion", "created": answer.created,
                                 "sentence_id": i, "is_end": last, "is_truncated": False, "result": text,
                                 "need_clear_history": False, "usage": answer.usage(final=last)}
        if last:
            event.update(_flags(knobs))
            if answer.function_call is not None:
                event["function_call"] = answer.function_call
        events.append(event)
    return events


async def _stream(request: web.Request, answer: Answer, knobs: Knobs, stopping: asyncio.Event) -> web.StreamResponse:
    response = web.StreamResponse(status=200, headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    for position, event in enumerate(_events(answer, knobs)):
        if knobs.stream_cut_after is not None and position >= knobs.stream_cut_after:
            abort(request)
            return response
        if knobs.stream_error_after is not None and position >= knobs.stream_error_after:
            # an error in the middle of a stream is a bare JSON object, not an SSE event
            await response.write(orjson.dumps({"error_code": 336100, "error_msg": "Try again"}))
            await response.write_eof()
            return response
        if position and knobs.trickle_ms:
            await pause(knobs.trickle_ms, stopping)
            if stopping.is_set():
                abort(request)
                return response
        await response.write(b"data: " + orjson.dumps(event) + b"\n\n")
    await response.write_eof()
    return response


