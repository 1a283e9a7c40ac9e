"""The v2beta "Stable Image" generate endpoints: ``POST /v2beta/stable-image/generate/{core|ultra|sd3}``.

* Always ``multipart/form-data`` (anything else: 400). ``Accept: image/*`` (or ``image/png``, or no /
  ``*/*`` Accept) -> raw PNG bytes with ``finish-reason`` and ``seed`` headers; ``Accept:
  application/json`` -> ``{"image": <base64>, "finish_reason", "seed"}``; other Accept -> 400.
* Fields: ``prompt`` (required, <= 10000 chars), ``negative_prompt`` (not for turbo sd3 models),
  ``aspect_ratio`` (text-to-image; default ``1:1``), ``seed`` 0-4294967294 (0/absent = derived from the
  prompt), ``output_format`` png|jpeg|webp (sd3: png|jpeg), ``style_preset`` (core, sd3);
  sd3: ``model`` (default ``sd3.5-large``), ``mode`` text-to-image|image-to-image, ``cfg_scale`` 1-10;
  image-to-image (ultra, sd3): ``image`` file + ``strength`` 0-1.
* Output is always a PNG with ``Content-Type: image/png`` (``output_format`` jpeg/webp are validated
  and accepted, but not honoured — documented simplification) of about one megapixel for the
  aspect ratio (1:1 -> 1024x1024, 16:9 -> 1344x768, 21:9 -> 1536x640, 2:3 -> 832x1216,
  3:2 -> 1216x832, 4:5 -> 896x1120, 5:4 -> 1120x896, 9:16 -> 768x1344, 9:21 -> 640x1536),
  or the input image's size for image-to-image.
* A prompt containing ``flagme`` -> 403 ``content_moderation``.
* Credits per image: core 3, ultra 8, sd3.5-large 6.5, sd3.5-large-turbo 4, sd3.5-medium 3.5,
  sd3-large 6.5, sd3-large-turbo 4, sd3-medium 3.5.
* Errors are ``{"id", "name", "errors": [...]}``.
"""

from __future__ import annotations

import base64
import uuid

from aiohttp import web

from relaygate.simulators.common import multipart, png
from relaygate.simulators.common.runner import json_response

from .shared import StabilityError, auth_error, charge, derived_seed, fault_status
from .state import STATE, StabilityState

RATIOS = {"1:1": (1024, 1024), "16:9": (1344, 768), "21:9": (1536, 640), "2:3": (832, 1216), "3:2": (1216, 832),
          "4:5": (896, 1120), "5:4": (1120, 896), "9:16": (768, 1344), "9:21": (640, 1536)}
SD3_MODELS = {"sd3.5-large": 6.5, "sd3.5-large-turbo": 4.0, "sd3.5-medium": 3.5, "sd3-large": 6.5,
              "sd3-large-turbo": 4.0, "sd3-medium": 3.5}
COSTS = {"core": 3.0, "ultra": 8.0}
TRIGGER = "flagme"


class V2Error(Exception):
    def __init__(self, status: int, name: str, *errors: str) -> None:
        super().__init__(errors[0] if errors else name)
        self.status, self.name, self.errors = status, name, list(errors)


def error_v2(status: int, name: str, errors: list[str]) -> web.Response:
    return json_response(status, {"id": uuid.uuid4().hex, "name": name, "errors": errors})


async def generate(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    if (denied := auth_error(request, state)) is not None:
        return error_v2(denied[0], denied[1], [denied[2]])
    if await state.hang_or_fault():
        if state.knobs.fail_body is not None:
            return json_response(state.knobs.fail_status, state.knobs.fail_body)
        status, headers, name, message = fault_status(state)
        response = error_v2(status, name, [message])
        response.headers.update(headers)
        return response
    try:
        return await _generate(request, state)
    except V2Error as err:
        return error_v2(err.status, err.name, err.errors)
    except StabilityError as err:
        return error_v2(err.status, err.name, [err.message])


def _field_int(form: multipart.Form, name: str, default: int, low: int, high: int) -> int:
    raw = form.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw or "")
    except ValueError:
        raise V2Error(400, "bad_request", f"{name}: must be an integer") from None
    if not low <= value <= high:
        raise V2Error(400, "bad_request", f"{name}: must be between {low} and {high}")
    return value


def _field_float(form: multipart.Form, name: str, low: float, high: float) -> float | None:
    raw = form.get(name)
    if raw in (None, ""):
        return None
    try:
        value = float(raw or "")
    except ValueError:
        raise V2Error(400, "bad_request", f"{name}: must be a number") from None
    if not low <= value <= high:
        raise V2Error(400, "bad_request", f"{name}: must be between {low:g} and {high:g}")
    return value


def _choice(form: multipart.Form, name: str, allowed: tuple[str, ...], default: str) -> str:
    value = form.get(name) or default
    if value not in allowed:
        raise V2Error(400, "bad_request", f"{name}: must be one of {', '.join(allowed)}")
    return value


async def _generate(request: web.Request, state: StabilityState) -> web.Response:
    service = request.match_info["service"]
    if service not in ("core", "ultra", "sd3"):
        raise V2Error(404, "not_found", f"unknown generation service: {service}")
    accept = request.headers.get("Accept", "image/*")
    wants_json = "application/json" in accept
    if not wants_json and not any(a in accept for a in ("image/", "*/*")):
        raise V2Error(400, "bad_request", "accept: must be image/* or application/json")
    if not multipart.is_multipart(request):
        raise V2Error(400, "bad_request", "content-type: must be multipart/form-data")
    result = await multipart.read_form(request, state.knobs.max_upload_bytes)
    if result.too_large:
        raise V2Error(413, "payload_too_large", f"request body exceeds {state.knobs.max_upload_bytes} bytes")
    form = result.form
    if form is None:
        raise V2Error(400, "bad_request", f"could not parse the multipart body: {result.error}")
    errors = []
    prompt = form.get("prompt") or ""
    if not prompt:
        errors.append("prompt: is required")
    elif len(prompt) > 10000:
        errors.append("prompt: must be at most 10000 characters")
    if errors:
        raise V2Error(400, "bad_request", *errors)
    model = _choice(form, "model", tuple(SD3_MODELS), "sd3.5-large") if service == "sd3" else service
    if form.get("negative_prompt") and model.endswith("turbo"):
        raise V2Error(400, "bad_request", f"negative_prompt: not supported by {model}")
    formats = ("png", "jpeg") if service == "sd3" else ("png", "jpeg", "webp")
    _choice(form, "output_format", formats, "png")
    ratio = _choice(form, "aspect_ratio", tuple(RATIOS), "1:1")
    seed = _field_int(form, "seed", 0, 0, 4294967294)
    if service == "sd3":
        _field_float(form, "cfg_scale", 1, 10)
    if service != "ultra":
        _choice(form, "style_preset", _STYLES, "enhance")
    mode = _choice(form, "mode", ("text-to-image", "image-to-image"), "text-to-image") if service == "sd3" else None
    image = form.file("image")
    width, height = RATIOS[ratio]
    if (mode == "image-to-image" or (service == "ultra" and image is not None)):
        if image is None:
            raise V2Error(400, "bad_request", "image: is required for image-to-image")
        if _field_float(form, "strength", 0, 1) is None:
            raise V2Error(400, "bad_request", "strength: is required when image is provided")
        meta = png.info(image.data)
        if meta is not None:
            width, height = meta.width, meta.height
    if TRIGGER in prompt.lower():
        raise V2Error(403, "content_moderation", "Your request was flagged by our content moderation system, as a "
                      "result your request was denied and you were not charged.")
    charge(state, SD3_MODELS.get(model, COSTS.get(model, 3.0)))
    seed = seed or derived_seed(service, model, prompt, form.get("negative_prompt"), ratio)
    picture = png.render(width, height, f"{service}|{model}|{prompt}|{seed}".encode())
    if wants_json:
        return json_response(200, {"image": base64.b64encode(picture).decode("ascii"), "finish_reason": "SUCCESS",
                                   "seed": seed})
    return web.Response(body=picture, content_type="image/png",
                        headers={"finish-reason": "SUCCESS", "seed": str(seed)})


_STYLES = ("3d-model", "analog-film", "anime", "cinematic", "comic-book", "digital-art", "enhance", "fantasy-art",
           "isometric", "line-art", "low-poly", "modeling-compound", "neon-punk", "origami", "photographic",
           "pixel-art", "tile-texture")
