"""``POST /v1/chat/completions`` (OpenAI mode) and ``/openai/deployments/{d}/chat/completions`` (Azure).

Pipeline (both modes): routing/auth (401/404) -> ``hang`` -> ``fail_next``/``error_rate`` -> JSON
parse (400) -> validation (400) -> model/deployment (404) -> reply (JSON or SSE, with the
stream/malformed/usage knobs). Models produced by a succeeded fine-tuning job are served too.
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web

from . import azure
from .completion import plan_completion, render_response
from .errors import (
    AZURE_BAD_KEY,
    AZURE_DEPLOYMENT_NOT_FOUND,
    AZURE_MISSING_KEY,
    AZURE_NOT_FOUND,
    APIError,
    json_response,
    model_not_found,
)
from .plumbing import (
    BAD_JSON,
    STATE,
    bearer,
    error,
    fault_response,
    headers,
    openai_auth,
    stream_error_body,
    wrong_method,
)
from .state import SimState
from .streaming import build_events, write_stream
from .validation import validate_chat_body


async def openai_chat(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    if request.method != "POST":
        return error(state, wrong_method(request))
    if (auth := openai_auth(request, state)) is not None:
        return error(state, auth)

    def resolve(body: dict[str, Any]) -> str:
        model = body["model"]
        if not state.model_known(model):
            raise model_not_found(model)
        return state.model_aliases.get(model, model)

    return await _chat(request, state, resolve, api_version="")


async def azure_chat(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    api_version = request.query.get("api-version", "")
    if request.method != "POST" or api_version not in state.api_versions:
        return json_response(404, AZURE_NOT_FOUND, headers(state))
    key = request.headers.get("api-key", "") or bearer(request)
    if not key:
        return json_response(401, AZURE_MISSING_KEY, headers(state))
    if not state.accepts_key(key):
        return json_response(401, AZURE_BAD_KEY, headers(state))
    deployment = request.match_info["deployment"]
    if deployment not in state.deployments:
        return json_response(404, AZURE_DEPLOYMENT_NOT_FOUND, headers(state))
    model = state.deployments[deployment]
    return await _chat(request, state, lambda body: model, api_version=api_version)


async def _chat(
    request: web.Request, state: SimState, resolve: Callable[[dict[str, Any]], str], api_version: str
) -> web.StreamResponse:
    """Everything after routing and auth; ``resolve`` maps the body to the reported model name."""
    knobs = copy.copy(state.knobs)  # one consistent view for the whole request
    stopping = state.stopping or asyncio.Event()
    if knobs.hang:
        await stopping.wait()  # ends on client disconnect (handler cancellation) or sim.stop()
        return web.Response(status=503)
    if state.take_fault():
        return fault_response(state, knobs, api_version)
    started = time.monotonic()
    try:
        raw = await request.read()
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise APIError(400, BAD_JSON) from None
        if state.mode == "azure" and isinstance(body, dict):
            body = {**body, "model": resolve(body)}  # the deployment decides the model
        validate_chat_body(body)
        model = resolve(body)
    except APIError as err:
        return error(state, err)
    plan = plan_completion(body, model, knobs.reply_words)
    hdrs = headers(state)
    if "openai-processing-ms" in hdrs:
        hdrs["openai-processing-ms"] = str(max(1, int((time.monotonic() - started) * 1000)))
    if body.get("stream") is True:
        wants_usage = (body.get("stream_options") or {}).get("include_usage") is True
        events = build_events(plan, wants_usage and not knobs.omit_usage, state.mode == "azure")
        response = web.StreamResponse(status=200, headers=hdrs)
        response.content_type = "text/event-stream"
        response.charset = "utf-8"
        response.headers["Cache-Control"] = "no-cache"
        return await write_stream(request, response, events, knobs, stream_error_body(knobs), stopping)
    payload = render_response(plan, include_usage=not knobs.omit_usage)
    if state.mode == "azure":
        azure.decorate_response(payload)
    data = orjson.dumps(payload)
    if knobs.malformed_json:
        data = data[: len(data) // 2]
    return web.Response(status=200, body=data, content_type="application/json", headers=hdrs)
