"""Routes and the v1 ("engines") API of the fake Stability upstream.

v1 rules (``POST /v1/generation/{engine_id}/text-to-image``, JSON):

* ``Authorization: Bearer <key>`` (401 ``unauthorized``); unknown engine -> 404 ``not_found``.
* ``text_prompts`` (1+ items, ``text`` <= 2000 chars, ``weight`` default 1; negative weight = negative
  prompt), ``cfg_scale`` 0-35 (7), ``steps`` 10-50 (30), ``samples`` 1-10 (1, else 400
  ``invalid_samples``), ``seed`` 0-4294967295 (0 = "random": derived from the prompt, so still
  deterministic), ``sampler`` / ``clip_guidance_preset`` / ``style_preset`` from the notes' enums.
* ``width``/``height``: multiples of 64; SDXL engines only the 9 allowed pairs (default 1024x1024),
  v1.6 320-1536 (default 512x512) — else 400 ``invalid_height_or_width``.
* ``Accept: application/json`` (default) -> ``{"artifacts": [{"base64", "seed", "finishReason"}]}``
  with seeds ``seed, seed+1, ...``; ``Accept: image/png`` -> the first image's raw bytes with
  ``Finish-Reason`` and ``Seed`` headers. A positive prompt containing ``flagme`` gives
  ``finishReason: CONTENT_FILTERED`` (a plain grey image), as the real API blurs filtered output.
* Credits: each image costs ``(0.6 for SDXL engines, 0.2 otherwise) * steps / 30``; ``GET
  /v1/user/balance`` reports ``{"credits": n}``; an unaffordable request is 402 ``payment_required``.
* Errors are ``{"id", "name", "message"}``; injected faults use the same shape.
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

import orjson
from aiohttp import web

from relaygate.simulators.common import png
from relaygate.simulators.common.runner import json_response, new_app

from . import v2beta
from .shared import StabilityError, auth_error, charge, derived_seed, fault_status
from .state import STATE, StabilityState

SDXL_SIZES = {(1024, 1024), (1152, 896), (1216, 832), (1344, 768), (1536, 640), (640, 1536), (768, 1344),
              (832, 1216), (896, 1152)}
SAMPLERS = ("DDIM", "DDPM", "K_DPMPP_2M", "K_DPMPP_2S_ANCESTRAL", "K_DPM_2", "K_DPM_2_ANCESTRAL", "K_EULER",
            "K_EULER_ANCESTRAL", "K_HEUN", "K_LMS")
CLIP_PRESETS = ("FAST_BLUE", "FAST_GREEN", "NONE", "SIMPLE", "SLOW", "SLOWER", "SLOWEST")
STYLE_PRESETS = ("3d-model", "analog-film", "anime", "cinematic", "comic-book", "digital-art", "enhance",
                 "fantasy-art", "isometric", "line-art", "low-poly", "modeling-compound", "neon-punk", "origami",
                 "photographic", "pixel-art", "tile-texture")
TRIGGER = "flagme"


def create_app(state: StabilityState) -> web.Application:
    app = new_app(state, STATE)
    app.router.add_get("/v1/engines/list", _engines)
    app.router.add_get("/v1/user/balance", _balance)
    app.router.add_post("/v1/generation/{engine_id}/text-to-image", _text_to_image)
    app.router.add_post("/v2beta/stable-image/generate/{service}", v2beta.generate)
    app.router.add_route("*", "/{tail:.*}", _unknown)
    return app


def error_v1(status: int, name: str, message: str) -> web.Response:
    return json_response(status, {"id": uuid.uuid4().hex, "name": name, "message": message})


async def _engines(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    if (denied := auth_error(request, state)) is not None:
        return error_v1(*denied)
    return json_response(200, [{"id": eid, "name": name, "description": desc, "type": "PICTURE"}
                               for eid, (name, desc) in state.engines.items()])


async def _balance(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    if (denied := auth_error(request, state)) is not None:
        return error_v1(*denied)
    return json_response(200, {"credits": state.credits})


async def _unknown(request: web.Request) -> web.StreamResponse:
    return error_v1(404, "not_found", f"{request.method} {request.path} not found")


async def _text_to_image(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    if (denied := auth_error(request, state)) is not None:
        return error_v1(*denied)
    if await state.hang_or_fault():
        if state.knobs.fail_body is not None:
            return json_response(state.knobs.fail_status, state.knobs.fail_body)
        status, headers, name, message = fault_status(state)
        response = error_v1(status, name, message)
        response.headers.update(headers)
        return response
    engine = request.match_info["engine_id"]
    try:
        if engine not in state.engines:
            raise StabilityError(404, "not_found", f"engine not found: {engine}")
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            raise StabilityError(400, "bad_request", "invalid JSON body") from None
        if not isinstance(body, dict):
            raise StabilityError(400, "bad_request", "body: must be a JSON object")
        return _generate(request, state, engine, body)
    except StabilityError as err:
        return error_v1(err.status, err.name, err.message)


def _int(body: dict[str, Any], name: str, default: int, low: int, high: int, error: str = "bad_request") -> int:
    value = body.get(name, default)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise StabilityError(400, error, f"{name}: must be an integer between {low} and {high}, got {value!r}")
    return value


def _enum(body: dict[str, Any], name: str, allowed: tuple[str, ...]) -> str | None:
    value = body.get(name)
    if value is not None and value not in allowed:
        raise StabilityError(400, "bad_request", f"{name}: must be one of {', '.join(allowed)}")
    return value


def _generate(request: web.Request, state: StabilityState, engine: str, body: dict[str, Any]) -> web.Response:
    prompts = body.get("text_prompts")
    if not isinstance(prompts, list) or not prompts:
        raise StabilityError(400, "bad_request", "text_prompts: is required and must contain at least one prompt")
    positive, negative = [], []
    for i, item in enumerate(prompts):
        text = item.get("text") if isinstance(item, dict) else None
        if not isinstance(text, str) or not text or len(text) > 2000:
            raise StabilityError(400, "bad_request", f"text_prompts[{i}].text: must be 1-2000 characters")
        weight = item.get("weight", 1.0)
        if isinstance(weight, bool) or not isinstance(weight, int | float):
            raise StabilityError(400, "bad_request", f"text_prompts[{i}].weight: must be a number")
        (negative if weight < 0 else positive).append(text)
    xl = "xl" in engine
    width = _int(body, "width", 1024 if xl else 512, 128, 2048, "invalid_height_or_width")
    height = _int(body, "height", 1024 if xl else 512, 128, 2048, "invalid_height_or_width")
    if width % 64 or height % 64:
        raise StabilityError(400, "invalid_height_or_width", "height and width must be specified in increments of 64")
    if xl and (width, height) not in SDXL_SIZES:
        allowed = ", ".join(f"{w}x{h}" for w, h in sorted(SDXL_SIZES))
        raise StabilityError(400, "invalid_height_or_width",
                             f"for SDXL engines the dimensions must be one of {allowed}")
    if not xl and not (320 <= width <= 1536 and 320 <= height <= 1536):
        raise StabilityError(400, "invalid_height_or_width", "width and height must be between 320 and 1536")
    samples = _int(body, "samples", 1, 1, 10, "invalid_samples")
    steps = _int(body, "steps", 30, 10, 50)
    seed = _int(body, "seed", 0, 0, 4294967295)
    cfg = body.get("cfg_scale", 7)
    if isinstance(cfg, bool) or not isinstance(cfg, int | float) or not 0 <= cfg <= 35:
        raise StabilityError(400, "bad_request", "cfg_scale: must be a number between 0 and 35")
    _enum(body, "sampler", SAMPLERS)
    _enum(body, "clip_guidance_preset", CLIP_PRESETS)
    _enum(body, "style_preset", STYLE_PRESETS)
    accept = request.headers.get("Accept", "application/json")
    wants_png = "image/png" in accept
    if not wants_png and "application/json" not in accept and "*/*" not in accept:
        raise StabilityError(406, "not_acceptable", "Accept: must be application/json or image/png")
    charge(state, round((0.6 if xl else 0.2) * steps / 30 * samples, 6))
    base = seed or derived_seed(engine, positive, negative, width, height)
    filtered = any(TRIGGER in text.lower() for text in positive)
    artifacts = []
    for index in range(samples):
        item_seed = (base + index) % 4294967296
        picture = png.render(width, height, b"" if filtered else f"{engine}|{positive}|{negative}|{item_seed}".encode())
        artifacts.append((picture, item_seed, "CONTENT_FILTERED" if filtered else "SUCCESS"))
    if wants_png:
        picture, item_seed, reason = artifacts[0]
        return web.Response(body=picture, content_type="image/png",
                            headers={"Finish-Reason": reason, "Seed": str(item_seed)})
    return json_response(200, {"artifacts": [
        {"base64": base64.b64encode(p).decode("ascii"), "seed": s, "finishReason": r} for p, s, r in artifacts
    ]})
