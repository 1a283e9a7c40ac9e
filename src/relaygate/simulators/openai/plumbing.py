"""What every OpenAI-mode handler shares: state key, headers, auth, faults, JSON and form reading.

Handlers of the endpoint modules are plain ``async def handler(request, state)`` functions wrapped
with :func:`api`, which applies, in order: Bearer auth (401) -> for ``faults=True`` routes the
``hang`` / ``fail_next`` / ``error_rate`` knobs -> the handler, turning a raised :class:`APIError`
into the 4-key error body. So a bad key is always a 401 and an injected fault never depends on
the body, exactly as for chat completions.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from relaygate.simulators.common import multipart

from .errors import (
    APIError,
    azure_rate_limit_body,
    default_fault_body,
    json_response,
    missing_key_error,
    model_not_found,
    wrong_key_error,
)
from .knobs import Knobs
from .messages import type_name
from .state import SimState

STATE = web.AppKey("relaygate_openai_sim_state", SimState)
BAD_JSON = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your "
    "HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid "
    "JSON. If you have trouble figuring out how to fix this, please contact us through our help "
    "center at help.openai.com.)"
)
ORG_ID = "org-simulated"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
StateHandler = Callable[[web.Request, SimState], Awaitable[web.StreamResponse]]


def headers(state: SimState) -> dict[str, str]:
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


def error(state: SimState, err: APIError) -> web.Response:
    return json_response(err.status, err.body(), headers(state))


def ok(state: SimState, body: Any) -> web.Response:
    return json_response(200, body, headers(state))


def bearer(request: web.Request) -> str:
    value = request.headers.get("Authorization", "")
    scheme, _, token = value.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def openai_auth(request: web.Request, state: SimState) -> APIError | None:
    key = bearer(request)
    if not key:
        return missing_key_error()
    return None if state.accepts_key(key) else wrong_key_error(key)


def wrong_method(request: web.Request) -> APIError:
    return APIError(405, f"Invalid method for URL ({request.method} {request.path})")


def dispatch(**by_method: Handler) -> Handler:
    """One route, several methods (``GET``/``POST``/``DELETE``); anything else -> 405."""

    async def handler(request: web.Request) -> web.StreamResponse:
        target = by_method.get(request.method)
        if target is None:
            return error(request.app[STATE], wrong_method(request))
        return await target(request)

    return handler


def api(faults: bool = False) -> Callable[[StateHandler], Handler]:
    """Wrap an endpoint handler with auth, optional fault knobs and APIError rendering."""

    def wrap(fn: StateHandler) -> Handler:
        @functools.wraps(fn)
        async def handler(request: web.Request) -> web.StreamResponse:
            state = request.app[STATE]
            if (auth := openai_auth(request, state)) is not None:
                return error(state, auth)
            if faults:
                knobs = copy.copy(state.knobs)
                if knobs.hang:
                    await (state.stopping or asyncio.Event()).wait()
                    return web.Response(status=503)
                if state.take_fault():
                    return fault_response(state, knobs, "")
            try:
                return await fn(request, state)
            except APIError as err:
                return error(state, err)

        return handler

    return wrap


def fault_response(state: SimState, knobs: Knobs, api_version: str) -> web.Response:
    status = knobs.fail_status
    hdrs = headers(state)
    if status == 429 and knobs.retry_after is not None:
        hdrs["Retry-After"] = str(knobs.retry_after)
        if state.mode == "azure":
            hdrs["retry-after-ms"] = str(knobs.retry_after * 1000)
    if knobs.fail_body is not None:
        body = knobs.fail_body
    elif state.mode == "azure" and status == 429:
        body = azure_rate_limit_body(api_version, knobs.retry_after)
    else:
        body = default_fault_body(status)
    return json_response(status, body, hdrs)


def stream_error_body(knobs: Knobs) -> dict[str, Any]:
    """Mid-stream error event: ``fail_body`` when it is an ``{"error": ...}`` object, else the default."""
    if knobs.fail_body is not None and "error" in knobs.fail_body:
        return knobs.fail_body
    return default_fault_body(knobs.fail_status)


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """The JSON body, which must be an object (400 with the real wording otherwise)."""
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        raise APIError(400, BAD_JSON) from None
    if not isinstance(body, dict):
        raise APIError(400, f"Invalid type for 'body': expected an object, but got {type_name(body)} instead.",
                       param="body", code="invalid_type")
    return body


async def read_form(request: web.Request, state: SimState) -> multipart.Form:
    """The multipart form (413 over ``max_upload_bytes``, 400 when not multipart or unparseable)."""
    if not multipart.is_multipart(request):
        raise APIError(400, "Invalid Content-Type header ({}), expected multipart/form-data. (HINT: If you're "
                       "using curl, you can pass -H 'Content-Type: multipart/form-data')"
                       .format(request.headers.get("Content-Type", "")))
    limit = state.knobs.max_upload_bytes
    result = await multipart.read_form(request, limit)
    if result.too_large:
        raise APIError(413, f"Maximum content size limit ({limit}) exceeded ({result.bytes_read} bytes read)",
                       type_="server_error")
    if result.form is None:
        raise APIError(400, f"Could not parse multipart form: {result.error}")
    return result.form


def form_int(form: multipart.Form, name: str, default: int | None = None) -> int | None:
    raw = form.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise APIError(400, f"Invalid type for '{name}': expected an integer, but got a string instead.",
                       param=name, code="invalid_type") from None


def form_float(form: multipart.Form, name: str, default: float | None = None) -> float | None:
    raw = form.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise APIError(400, f"Invalid type for '{name}': expected a number, but got a string instead.",
                       param=name, code="invalid_type") from None


def check_model(state: SimState, model: str) -> str:
    """404 for a model this simulator does not serve; returns the name to report (aliases applied)."""
    if not state.model_known(model):
        raise model_not_found(model)
    return state.model_aliases.get(model, model)
