"""aiohttp application of the fake Gemini API (Generative Language API, AI Studio keys).

Routes: ``POST /{v1beta|v1}/models/{model}:generateContent``, ``:streamGenerateContent``
(``?alt=sse`` for SSE, otherwise a JSON array), ``:countTokens``; ``GET /{version}/models``.
Auth is ``x-goog-api-key`` or ``?key=``: none -> 403 PERMISSION_DENIED, a wrong one -> 400
INVALID_ARGUMENT with reason API_KEY_INVALID (as Google does). Then ``hang``, injected faults,
JSON parse, validation (400), unknown model (404), and the answer.
"""

from __future__ import annotations

import asyncio
import copy

import orjson
from aiohttp import web

from relaygate.simulators.anthropic.runner import STATE, SimState, json_response, new_app

from .errors import MISSING_KEY, APIError, bad_key, error_body, fault, invalid
from .knobs import Knobs
from .replies import plan, prompt_tokens
from .streaming import build_chunks, write_array, write_sse
from .validation import validate

VERSIONS = ("v1beta", "v1")
CATALOG = ("gemini-2.5-flash", "gemini-2.5-pro", "gemini-2.0-flash")


def create_app(state: SimState) -> web.Application:
    app = new_app(state)
    for version in VERSIONS:
        app.router.add_route("*", f"/{version}/models/{{target}}", _model_call)
        app.router.add_route("GET", f"/{version}/models", _list_models)
    app.router.add_route("*", "/{tail:.*}", _not_found)
    return app


def _error(err: APIError) -> web.Response:
    return json_response(err.status, err.body())


def _auth(request: web.Request, state: SimState) -> APIError | None:
    key = request.headers.get("x-goog-api-key") or request.query.get("key") or ""
    if not key:
        return APIError(403, MISSING_KEY)
    return None if state.accepts_key(key) else bad_key()


async def _model_call(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    knobs: Knobs = copy.copy(state.knobs)  # type: ignore[assignment]
    target = request.match_info["target"]
    model, _, method = target.rpartition(":")
    version = request.path.split("/")[1]
    if request.method != "POST" or method not in ("generateContent", "streamGenerateContent", "countTokens"):
        return json_response(404, error_body(404, f"Method not found: {request.method} {request.path}"))
    if (err := _auth(request, state)) is not None:
        return _error(err)
    if method != "countTokens":
        stopping = state.stopping or asyncio.Event()
        if knobs.hang:
            await stopping.wait()
            return web.Response(status=503)
        if state.take_fault():
            return _error(fault(knobs.fail_status, knobs.retry_after)) if knobs.fail_body is None \
                else json_response(knobs.fail_status, knobs.fail_body)
    try:
        try:
            raw = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            raise invalid("Invalid JSON payload received. Unexpected token.") from None
        if method == "countTokens" and isinstance(raw, dict) and "generateContentRequest" in raw:
            raw = raw["generateContentRequest"]
        body = validate(raw)
        if not state.accepts_model(model):
            raise APIError(404, f"models/{model} is not found for API version {version}, or is not supported for "
                                f"{method}. Call ListModels to see the list of available models and their supported "
                                "methods.")
    except APIError as exc:
        return _error(exc)
    if method == "countTokens":
        return json_response(200, {"totalTokens": prompt_tokens(body)})
    answer = plan(body, model, knobs)
    if method == "generateContent":
        return json_response(200, answer.render())
    chunks = build_chunks(answer, knobs)
    response = web.StreamResponse(status=200)
    if request.query.get("alt") == "sse":
        response.content_type = "text/event-stream"
        return await write_sse(request, response, chunks, knobs, state.stopping or asyncio.Event())
    response.content_type = "application/json"
    return await write_array(request, response, chunks)


async def _list_models(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    if (err := _auth(request, state)) is not None:
        return _error(err)
    ids = sorted(state.models) if state.models is not None else list(CATALOG)
    return json_response(200, {"models": [
        {"name": f"models/{m}", "displayName": m, "inputTokenLimit": 1048576, "outputTokenLimit": 65536,
         "supportedGenerationMethods": ["generateContent", "countTokens"]} for m in ids]})


async def _not_found(request: web.Request) -> web.StreamResponse:
    return json_response(404, error_body(404, f"Method not found: {request.method} {request.path}"))
