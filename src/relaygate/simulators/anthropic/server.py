"""aiohttp application of the fake Anthropic API.

Pipeline of ``POST /v1/messages``: record -> ``latency_ms`` -> auth (``x-api-key``, or an
``Authorization: Bearer`` token; 401 ``authentication_error``) -> ``anthropic-version`` header
(400 when missing) -> ``hang`` -> injected faults -> JSON parse -> validation (400) -> model
(404 ``not_found_error``) -> the message, whole or streamed. Every response carries a
``request-id`` header; 429 and 529 faults carry ``retry-after`` when the knob is set.
"""

from __future__ import annotations

import asyncio
import copy
import re
from typing import Any

import orjson
from aiohttp import web

from .errors import APIError, error_body, fault, invalid, new_request_id
from .knobs import Knobs
from .replies import plan_message, prompt_tokens
from .runner import STATE, SimState, json_response, new_app
from .streaming import build_events, write_stream
from .validation import validate

VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}$")  # dated versions; the SDKs send their own
CATALOG = ("claude-sonnet-4-5-20250929", "claude-opus-4-1-20250805", "claude-3-5-haiku-20241022")


def create_app(state: SimState) -> web.Application:
    app = new_app(state)
    app.router.add_route("*", "/v1/messages", _messages)
    app.router.add_route("*", "/v1/messages/count_tokens", _count_tokens)
    app.router.add_route("*", "/v1/models", _models)
    app.router.add_route("*", "/{tail:.*}", _not_found)
    return app


def _error(err: APIError, headers: dict[str, str] | None = None) -> web.Response:
    request_id = new_request_id()
    return json_response(err.status, err.body(request_id), {"request-id": request_id, **(headers or {})})


def _check_headers(request: web.Request, state: SimState) -> APIError | None:
    key = request.headers.get("x-api-key", "")
    if not key:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        key = token.strip() if scheme.lower() == "bearer" else ""
        if not key:
            return APIError(401, "x-api-key header is required")
    if not state.accepts_key(key):
        return APIError(401, "invalid x-api-key")
    version = request.headers.get("anthropic-version")
    if not version:
        return invalid("anthropic-version: header is required")
    if not VERSION.match(version):
        return invalid(f"anthropic-version: invalid version {version!r}")
    return None


async def _read_body(request: web.Request, state: SimState, count_only: bool) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        raise invalid("There was an error parsing the body of your request as JSON.") from None
    validate(body, count_only=count_only)
    if not state.accepts_model(body["model"]):
        raise APIError(404, f"model: {body['model']}")
    return body


async def _messages(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    knobs: Knobs = copy.copy(state.knobs)  # type: ignore[assignment]
    if request.method != "POST":
        return _error(APIError(405, "Method Not Allowed", "invalid_request_error"))
    if (err := _check_headers(request, state)) is not None:
        return _error(err)
    stopping = state.stopping or asyncio.Event()
    if knobs.hang:
        await stopping.wait()
        return web.Response(status=503)
    if state.take_fault():
        return _fault(knobs)
    try:
        body = await _read_body(request, state, count_only=False)
    except APIError as exc:
        return _error(exc)
    plan = plan_message(body, knobs)
    request_id = new_request_id()
    if body.get("stream") is True:
        response = web.StreamResponse(status=200, headers={"request-id": request_id, "Cache-Control": "no-cache"})
        response.content_type = "text/event-stream"
        response.charset = "utf-8"
        return await write_stream(request, response, build_events(plan, knobs), knobs, stopping)
    return json_response(200, plan.render(), {"request-id": request_id})


def _fault(knobs: Knobs) -> web.Response:
    status = knobs.fail_status
    headers: dict[str, str] = {}
    if status in (429, 529) and knobs.retry_after is not None:
        headers["retry-after"] = str(knobs.retry_after)
    if knobs.fail_body is not None:
        request_id = new_request_id()
        return json_response(status, knobs.fail_body, {"request-id": request_id, **headers})
    return _error(fault(status), headers)


async def _count_tokens(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    if request.method != "POST":
        return _error(APIError(405, "Method Not Allowed", "invalid_request_error"))
    if (err := _check_headers(request, state)) is not None:
        return _error(err)
    try:
        body = await _read_body(request, state, count_only=True)
    except APIError as exc:
        return _error(exc)
    return json_response(200, {"input_tokens": prompt_tokens(body)}, {"request-id": new_request_id()})


async def _models(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    if (err := _check_headers(request, state)) is not None:
        return _error(err)
    ids = sorted(state.models) if state.models is not None else list(CATALOG)
    data = [{"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"} for m in ids]
    return json_response(200, {"data": data, "has_more": False, "first_id": ids[0] if ids else None,
                               "last_id": ids[-1] if ids else None})


async def _not_found(request: web.Request) -> web.StreamResponse:
    return json_response(404, error_body("not_found_error", "Not Found", new_request_id()))
