"""aiohttp application of the fake OpenAI / Azure OpenAI upstream.

Chat request pipeline (both modes): record -> ``latency_ms`` -> routing/auth (401/404) -> ``hang``
-> ``fail_next``/``error_rate`` -> JSON parse (400) -> validation (400) -> model/deployment (404)
-> reply (JSON or SSE, with the stream/malformed/usage knobs). So a bad key is always a 401 and an
injected fault never depends on the body. ``latency_ms`` also delays ``/v1/models``; the fault
knobs apply to chat completions only (health checks on the model list do not consume
``fail_next``). ``/__sim/*`` control routes need no auth and are not recorded.
"""

from __future__ import annotations

import asyncio
import copy
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from . import azure, control
from .completion import plan_completion, render_response
from .errors import (
    AZURE_BAD_KEY,
    AZURE_DEPLOYMENT_NOT_FOUND,
    AZURE_MISSING_KEY,
    AZURE_NOT_FOUND,
    APIError,
    azure_rate_limit_body,
    default_fault_body,
    json_response,
    missing_key_error,
    model_not_found,
    wrong_key_error,
)
from .knobs import Knobs
from .state import RecordedRequest, SimState
from .streaming import build_events, write_stream
from .validation import validate_chat_body

STATE = web.AppKey("relaygate_openai_sim_state", SimState)
MAX_BODY = 64 * 1024 * 1024
_BAD_JSON = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your "
    "HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid "
    "JSON. If you have trouble figuring out how to fix this, please contact us through our help "
    "center at help.openai.com.)"
)
DEFAULT_CATALOG: dict[str, int] = {
    "gpt-4o": 1715367049, "gpt-4o-mini": 1721172741, "gpt-4.1": 1744316542, "gpt-4.1-mini": 1744318173,
    "gpt-3.5-turbo": 1677610602, "o3-mini": 1737146383, "text-embedding-3-small": 1705948997,
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def create_app(state: SimState) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY, middlewares=[_record_and_delay])
    app[STATE] = state
    control.add_routes(app, state)
    if state.mode == "azure":
        app.router.add_route("*", "/openai/deployments/{deployment}/chat/completions", _azure_chat)
    else:
        app.router.add_route("*", "/v1/chat/completions", _openai_chat)
        app.router.add_route("*", "/v1/models", _list_models)
        app.router.add_route("*", "/v1/models/{model}", _get_model)
    app.router.add_route("*", "/{tail:.*}", _unknown_route)
    return app


@web.middleware
async def _record_and_delay(request: web.Request, handler: Handler) -> web.StreamResponse:
    state = request.app[STATE]
    if request.path.startswith("/__sim/"):
        return await handler(request)
    state.requests.append(await RecordedRequest.capture(request))
    if state.knobs.latency_ms > 0:
        await asyncio.sleep(state.knobs.latency_ms / 1000)
    return await handler(request)


def _headers(state: SimState) -> dict[str, str]:
    request_id = "req_" + uuid.uuid4().hex
    if state.mode == "azure":
        return {"apim-request-id": str(uuid.uuid4()), "x-request-id": request_id,
                "x-ms-region": "Simulated Region"}
    return {
        "x-request-id": request_id,
        "openai-version": "2020-10-01",
        "openai-organization": "user-simulated",
        "openai-processing-ms": "1",
        "x-ratelimit-limit-requests": "10000",
        "x-ratelimit-remaining-requests": "9999",
        "x-ratelimit-reset-requests": "6ms",
        "x-ratelimit-limit-tokens": "30000000",
        "x-ratelimit-remaining-tokens": "29999000",
        "x-ratelimit-reset-tokens": "0s",
    }


def _error(state: SimState, error: APIError) -> web.Response:
    return json_response(error.status, error.body(), _headers(state))


# --- OpenAI mode -----------------------------------------------------------------------------


def _bearer(request: web.Request) -> str:
    value = request.headers.get("Authorization", "")
    scheme, _, token = value.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _openai_auth(request: web.Request, state: SimState) -> APIError | None:
    key = _bearer(request)
    if not key:
        return missing_key_error()
    return None if state.accepts_key(key) else wrong_key_error(key)


def _wrong_method(request: web.Request) -> APIError:
    return APIError(405, f"Invalid method for URL ({request.method} {request.path})")


async def _openai_chat(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    if request.method != "POST":
        return _error(state, _wrong_method(request))
    if (auth := _openai_auth(request, state)) is not None:
        return _error(state, auth)

    def resolve(body: dict[str, Any]) -> str:
        model = body["model"]
        if state.models is not None and model not in state.models:
            raise model_not_found(model)
        return state.model_aliases.get(model, model)

    return await _chat(request, state, resolve, api_version="")


async def _list_models(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    if request.method != "GET":
        return _error(state, _wrong_method(request))
    if (auth := _openai_auth(request, state)) is not None:
        return _error(state, auth)
    ids = sorted(state.models) if state.models is not None else list(DEFAULT_CATALOG)
    return json_response(200, {"object": "list", "data": [_model_object(m) for m in ids]}, _headers(state))


async def _get_model(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    if request.method != "GET":
        return _error(state, _wrong_method(request))
    if (auth := _openai_auth(request, state)) is not None:
        return _error(state, auth)
    model = request.match_info["model"]
    if state.models is not None and model not in state.models:
        return _error(state, APIError(404, f"The model '{model}' does not exist", param="model",
                                      code="model_not_found"))
    return json_response(200, _model_object(model), _headers(state))


def _model_object(model: str) -> dict[str, Any]:
    created = DEFAULT_CATALOG.get(model, 1700000000)
    return {"id": model, "object": "model", "created": created, "owned_by": "system"}


async def _unknown_route(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    if state.mode == "azure":
        return json_response(404, AZURE_NOT_FOUND, _headers(state))
    return _error(state, APIError(404, f"Invalid URL ({request.method} {request.path})"))


# --- Azure mode ------------------------------------------------------------------------------


async def _azure_chat(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    api_version = request.query.get("api-version", "")
    if request.method != "POST" or api_version not in state.api_versions:
        return json_response(404, AZURE_NOT_FOUND, _headers(state))
    key = request.headers.get("api-key", "") or _bearer(request)
    if not key:
        return json_response(401, AZURE_MISSING_KEY, _headers(state))
    if not state.accepts_key(key):
        return json_response(401, AZURE_BAD_KEY, _headers(state))
    deployment = request.match_info["deployment"]
    if deployment not in state.deployments:
        return json_response(404, AZURE_DEPLOYMENT_NOT_FOUND, _headers(state))
    model = state.deployments[deployment]
    return await _chat(request, state, lambda body: model, api_version=api_version)


# --- shared chat pipeline --------------------------------------------------------------------


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
        return _fault_response(state, knobs, api_version)
    started = time.monotonic()
    try:
        raw = await request.read()
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise APIError(400, _BAD_JSON) from None
        if state.mode == "azure" and isinstance(body, dict):
            body = {**body, "model": resolve(body)}  # the deployment decides the model
        validate_chat_body(body)
        model = resolve(body)
    except APIError as error:
        return _error(state, error)
    plan = plan_completion(body, model, knobs.reply_words)
    headers = _headers(state)
    if "openai-processing-ms" in headers:
        headers["openai-processing-ms"] = str(max(1, int((time.monotonic() - started) * 1000)))
    if body.get("stream") is True:
        wants_usage = (body.get("stream_options") or {}).get("include_usage") is True
        events = build_events(plan, wants_usage and not knobs.omit_usage, state.mode == "azure")
        response = web.StreamResponse(status=200, headers=headers)
        response.content_type = "text/event-stream"
        response.charset = "utf-8"
        response.headers["Cache-Control"] = "no-cache"
        error_body = _stream_error_body(knobs)
        return await write_stream(request, response, events, knobs, error_body, stopping)
    payload = render_response(plan, include_usage=not knobs.omit_usage)
    if state.mode == "azure":
        azure.decorate_response(payload)
    data = orjson.dumps(payload)
    if knobs.malformed_json:
        data = data[: len(data) // 2]
    return web.Response(status=200, body=data, content_type="application/json", headers=headers)


def _fault_response(state: SimState, knobs: Knobs, api_version: str) -> web.Response:
    status = knobs.fail_status
    headers = _headers(state)
    if status == 429 and knobs.retry_after is not None:
        headers["Retry-After"] = str(knobs.retry_after)
        if state.mode == "azure":
            headers["retry-after-ms"] = str(knobs.retry_after * 1000)
    if knobs.fail_body is not None:
        body = knobs.fail_body
    elif state.mode == "azure" and status == 429:
        body = azure_rate_limit_body(api_version, knobs.retry_after)
    else:
        body = default_fault_body(status)
    return json_response(status, body, headers)


def _stream_error_body(knobs: Knobs) -> dict[str, Any]:
    """Mid-stream error event: ``fail_body`` when it is an ``{"error": ...}`` object, else the default."""
    if knobs.fail_body is not None and "error" in knobs.fail_body:
        return knobs.fail_body
    return default_fault_body(knobs.fail_status)
