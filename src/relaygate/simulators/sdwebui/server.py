"""Routes, ``--api-auth`` and the small endpoints of the fake AUTOMATIC1111 API.

* Auth (only when ``api_auth`` is set): HTTP Basic on every ``/sdapi`` route; no credentials ->
  401 ``{"detail": "Not authenticated"}``, wrong ones -> 401 ``{"detail": "Incorrect username or
  password"}``, both with ``WWW-Authenticate: Basic`` (FastAPI's ``HTTPBasic``, as A1111 uses).
* ``GET /sdapi/v1/sd-models``, ``GET /sdapi/v1/samplers``, ``GET``/``POST /sdapi/v1/options``
  (setting an unknown ``sd_model_checkpoint`` -> 500), ``GET /sdapi/v1/progress`` (always idle),
  ``POST /sdapi/v1/txt2img`` and ``/img2img`` (see :mod:`.generation`).
* Unknown paths -> 404 ``{"detail": "Not Found"}``; a known path with another method -> 405
  ``{"detail": "Method Not Allowed"}`` (FastAPI's shapes).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web

from relaygate.simulators.common.runner import json_response, new_app

from . import generation
from .state import SAMPLERS, STATE, SDWebUIState, checkpoint_info

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_BASIC = {"WWW-Authenticate": "Basic"}


def create_app(state: SDWebUIState) -> web.Application:
    app = new_app(state, STATE)
    routes: dict[tuple[str, str], Handler] = {
        ("GET", "/sdapi/v1/sd-models"): _sd_models,
        ("GET", "/sdapi/v1/samplers"): _samplers,
        ("GET", "/sdapi/v1/options"): _get_options,
        ("POST", "/sdapi/v1/options"): _set_options,
        ("GET", "/sdapi/v1/progress"): _progress,
        ("POST", "/sdapi/v1/txt2img"): generation.txt2img,
        ("POST", "/sdapi/v1/img2img"): generation.img2img,
    }
    for (method, path), handler in routes.items():
        app.router.add_route(method, path, _authenticated(handler))
    known = {path for _, path in routes}

    async def fallback(request: web.Request) -> web.StreamResponse:
        if request.path in known:
            return json_response(405, {"detail": "Method Not Allowed"})
        return json_response(404, {"detail": "Not Found"})

    app.router.add_route("*", "/{tail:.*}", fallback)
    return app


def _authenticated(handler: Handler) -> Handler:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        state = request.app[STATE]
        if state.credentials is not None:
            scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "basic" or not encoded:
                return json_response(401, {"detail": "Not authenticated"}, _BASIC)
            try:
                user, _, password = base64.b64decode(encoded.strip()).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return json_response(401, {"detail": "Invalid authentication credentials"}, _BASIC)
            if (user, password) not in state.credentials:
                return json_response(401, {"detail": "Incorrect username or password"}, _BASIC)
        return await handler(request)

    return wrapped


async def _sd_models(request: web.Request) -> web.StreamResponse:
    return json_response(200, [checkpoint_info(name) for name in request.app[STATE].checkpoints])


async def _samplers(request: web.Request) -> web.StreamResponse:
    return json_response(200, [{"name": name, "aliases": [], "options": {}} for name in SAMPLERS])


async def _get_options(request: web.Request) -> web.StreamResponse:
    return json_response(200, request.app[STATE].options)


async def _set_options(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    try:
        changes = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        return generation.validation_error(["body"], "value is not a valid dict", "type_error.dict")
    if not isinstance(changes, dict):
        return generation.validation_error(["body"], "value is not a valid dict", "type_error.dict")
    wanted = changes.get("sd_model_checkpoint")
    if wanted is not None:
        found = state.find_checkpoint(str(wanted))
        if found is None:
            return generation.runtime_error(f"model {wanted!r} not found")
        changes["sd_model_checkpoint"] = found["title"]
    state.options.update(changes)
    return json_response(200, None)


async def _progress(_: web.Request) -> web.StreamResponse:
    return json_response(200, {
        "progress": 0.0, "eta_relative": 0.0,
        "state": {"skipped": False, "interrupted": False, "stopping_generation": False, "job": "", "job_count": 0,
                  "job_timestamp": "0", "job_no": 0, "sampling_step": 0, "sampling_steps": 0},
        "current_image": None, "textinfo": None, "current_task": None,
    })
