"""``POST /v1/images/generations`` (JSON), ``/v1/images/edits`` and ``/v1/images/variations`` (multipart).

Rules (from the protocol notes and the spec):

* Models: ``dall-e-2`` (default for generations and variations), ``dall-e-3`` (generations only, n=1),
  ``gpt-image-*`` / ``chatgpt-image-*`` (generations and edits; default for edits, per the spec).
* Sizes: dall-e-2 ``256x256|512x512|1024x1024``; dall-e-3 ``1024x1024|1792x1024|1024x1792``;
  gpt-image ``1024x1024|1536x1024|1024x1536|auto`` (auto -> 1024x1024). Default 1024x1024.
* Every image is a real PNG of exactly the requested size (:func:`relaygate.simulators.common.png.render`,
  seeded by model/prompt/size/index/input images). ``output_format`` jpeg/webp is echoed but the
  bytes are still PNG (documented simplification); ``background: transparent`` gives an RGBA PNG.
* dall-e: ``response_format`` ``url`` (default; ``http://<sim>/__sim/images/<id>.png``, served without
  auth, newest 256 kept) or ``b64_json``; dall-e-3 adds ``revised_prompt``. gpt-image: always
  ``b64_json`` (sending ``response_format`` is the real 400 ``unknown_parameter``), plus ``usage``
  and the ``background``/``output_format``/``size``/``quality`` echo (quality auto -> high).
* gpt-image usage: input = prompt tokens + 323 per input image; output per image 272/1056/4160
  (low/medium/high) at 1024x1024 and 408/1584/6240 for the portrait/landscape sizes.
* dall-e-2 edit/variation inputs must be square PNGs under 4 MB; an edit without ``mask`` needs an
  image with alpha; a mask must be a PNG with alpha of the image's size. gpt-image edits take up to
  16 PNG/JPEG/WebP images (``image`` or repeated ``image[]``).
* A prompt containing ``flagme`` is refused with the real 400 ``content_policy_violation``.
"""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from relaygate.simulators.common import png
from relaygate.simulators.common.multipart import Form, UploadedFile

from . import params, tokens
from .errors import APIError, json_response
from .messages import invalid_value, missing
from .plumbing import STATE, api, check_model, form_int, ok, read_form, read_json_object
from .state import SimState

DALLE2_SIZES = ("256x256", "512x512", "1024x1024")
DALLE3_SIZES = ("1024x1024", "1792x1024", "1024x1792")
GPT_IMAGE_SIZES = ("1024x1024", "1536x1024", "1024x1536", "auto")
PROMPT_LIMITS = {"dall-e-2": 1000, "dall-e-3": 4000, "gpt-image": 32000}
OUTPUT_TOKENS = {"low": (272, 408), "medium": (1056, 1584), "high": (4160, 6240)}
IMAGE_INPUT_TOKENS = 323
MAX_STORED = 256
DALLE_INPUT_LIMIT = 4 * 1024 * 1024
GPT_IMAGE_INPUT_LIMIT = 50 * 1024 * 1024
TRIGGER = "flagme"
_GPT_IMAGE_MODELS = ("gpt-image-1", "gpt-image-1-mini", "gpt-image-1.5", "gpt-image-2", "dall-e-2")


@dataclass
class Options:
    model: str
    family: str
    prompt: str
    n: int
    size: str
    width: int
    height: int
    response_format: str
    quality: str | None
    background: str | None
    output_format: str | None


def family_of(model: str) -> str:
    if model.startswith(("gpt-image", "chatgpt-image")):
        return "gpt-image"
    if model in ("dall-e-2", "dall-e-3"):
        return model
    raise invalid_value("model", model, ("dall-e-2", "dall-e-3", "gpt-image-1", "gpt-image-1-mini",
                                         "gpt-image-1.5", "gpt-image-2"))


@api(faults=True)
async def generate(request: web.Request, state: SimState) -> web.StreamResponse:
    body = await read_json_object(request)
    opts = parse_options(state, body, "generations", "dall-e-2")
    return respond(request, state, opts, seed_parts=[b"gen"], input_images=0)


@api(faults=True)
async def edit(request: web.Request, state: SimState) -> web.StreamResponse:
    form = await read_form(request, state)
    opts = parse_options(state, form_body(form), "edits", "gpt-image-1.5")
    images = form.files_named("image", "image[]")
    if not images:
        raise missing("image")
    mask = form.file("mask")
    if opts.family == "dall-e-2":
        if len(images) > 1:
            raise APIError(400, "dall-e-2 accepts a single 'image'.", param="image")
        source = check_dalle_png(images[0], "image")
        if mask is None and not source.has_alpha:
            raise APIError(400, f"Invalid input image - format must be in ['RGBA', 'LA', 'L'], got {source.mode}.",
                           param="image")
        if mask is not None:
            mask_info = check_dalle_png(mask, "mask")
            if not mask_info.has_alpha:
                raise APIError(400, f"Invalid mask image - format must be in ['RGBA', 'LA', 'L'], got "
                               f"{mask_info.mode}.", param="mask")
            if (mask_info.width, mask_info.height) != (source.width, source.height):
                raise APIError(400, "Invalid mask image - the mask and the image must have the same "
                               f"dimensions, got {mask_info.width}x{mask_info.height} and "
                               f"{source.width}x{source.height}.", param="mask")
    else:
        if len(images) > 16:
            raise APIError(400, f"Invalid 'image': array too long. Expected an array with maximum length 16, "
                           f"but got an array with length {len(images)} instead.", param="image",
                           code="array_above_max_length")
        for upload in [*images, *([mask] if mask else [])]:
            check_gpt_image_input(upload)
    digests = [hashlib.sha256(f.data).digest() for f in images]
    return respond(request, state, opts, seed_parts=[b"edit", *digests], input_images=len(images))


@api(faults=True)
async def variation(request: web.Request, state: SimState) -> web.StreamResponse:
    form = await read_form(request, state)
    body = form_body(form)
    body.setdefault("prompt", "")
    opts = parse_options(state, body, "variations", "dall-e-2")
    image = form.file("image", "image[]")
    if image is None:
        raise missing("image")
    check_dalle_png(image, "image")
    return respond(request, state, opts, seed_parts=[b"var", hashlib.sha256(image.data).digest()], input_images=1)


def form_body(form: Form) -> dict[str, Any]:
    body: dict[str, Any] = {key: value for key, value in form.fields}
    if "n" in body:
        body["n"] = form_int(form, "n")
    return body


def parse_options(state: SimState, body: dict[str, Any], kind: str, default_model: str) -> Options:
    model = params.string(body, "model") or default_model
    family = family_of(model)
    if kind == "edits" and family == "dall-e-3":
        raise invalid_value("model", model, _GPT_IMAGE_MODELS)
    if kind == "variations" and family != "dall-e-2":
        raise invalid_value("model", model, ("dall-e-2",))
    check_model(state, model)
    prompt = params.string(body, "prompt", required=kind != "variations", max_len=PROMPT_LIMITS[family]) or ""
    n = params.integer(body, "n", 1, 10) or 1
    if family == "dall-e-3" and n != 1:
        raise APIError(400, "You must provide n=1 for this model.", param="n")
    sizes = {"dall-e-2": DALLE2_SIZES, "dall-e-3": DALLE3_SIZES, "gpt-image": GPT_IMAGE_SIZES}[family]
    size = params.choice(body, "size", sizes, "auto" if family == "gpt-image" else "1024x1024") or "1024x1024"
    resolved = "1024x1024" if size == "auto" else size
    width, height = (int(v) for v in resolved.split("x"))
    quality = background = output_format = None
    if family == "gpt-image":
        if body.get("response_format") is not None:
            raise APIError(400, "Unknown parameter: 'response_format'.", param="response_format",
                           code="unknown_parameter")
        response_format = "b64_json"
        quality = params.choice(body, "quality", ("low", "medium", "high", "auto"), "auto")
        quality = "high" if quality == "auto" else quality
        background = params.choice(body, "background", ("transparent", "opaque", "auto"), "auto")
        background = "opaque" if background == "auto" else background
        output_format = params.choice(body, "output_format", ("png", "jpeg", "webp"), "png")
        if background == "transparent" and output_format == "jpeg":
            raise APIError(400, "Transparent background is not supported for output_format 'jpeg'.",
                           param="background")
    else:
        response_format = params.choice(body, "response_format", ("url", "b64_json"), "url") or "url"
        params.choice(body, "quality", ("standard", "hd", "auto") if family == "dall-e-3" else ("standard", "auto"))
        if family == "dall-e-3":
            params.choice(body, "style", ("vivid", "natural"))
    if TRIGGER in prompt.lower():
        raise APIError(400, "Your request was rejected as a result of our safety system. Your prompt may contain "
                       "text that is not allowed by our safety system.", code="content_policy_violation")
    return Options(model, family, prompt, n, resolved, width, height, response_format, quality, background,
                   output_format)


def check_dalle_png(upload: UploadedFile, name: str) -> png.PNGInfo:
    meta = png.info(upload.data)
    if meta is None or len(upload.data) >= DALLE_INPUT_LIMIT:
        raise APIError(400, "Uploaded image must be a PNG and less than 4 MB.", param=name)
    if meta.width != meta.height and name == "image":
        raise APIError(400, f"Invalid input image - image must be square, got {meta.width}x{meta.height}.",
                       param=name)
    return meta


def check_gpt_image_input(upload: UploadedFile) -> None:
    mime = png.sniff_image(upload.data)
    if mime not in ("image/png", "image/jpeg", "image/webp"):
        declared = upload.content_type or "application/octet-stream"
        raise APIError(400, f"Invalid file '{upload.field}': unsupported mimetype ('{declared}'). Supported file "
                       "formats are 'image/jpeg', 'image/png', and 'image/webp'.", param=upload.field,
                       code="unsupported_file_mimetype")
    if len(upload.data) > GPT_IMAGE_INPUT_LIMIT:
        raise APIError(400, f"Invalid file '{upload.field}': image is larger than 50 MB.", param=upload.field)


def respond(request: web.Request, state: SimState, opts: Options, seed_parts: list[bytes],
            input_images: int) -> web.Response:
    base = hashlib.sha256(b"|".join([*seed_parts, opts.model.encode(), opts.prompt.encode(), opts.size.encode()]))
    data = []
    for index in range(opts.n):
        seed = base.digest() + index.to_bytes(2, "big")
        picture = png.render(opts.width, opts.height, seed, alpha=opts.background == "transparent")
        item: dict[str, Any] = {}
        if opts.response_format == "url":
            item["url"] = store(request, state, picture)
        else:
            item["b64_json"] = base64.b64encode(picture).decode("ascii")
        if opts.family == "dall-e-3":
            item["revised_prompt"] = f"A detailed, high-quality illustration of: {opts.prompt}"
        data.append(item)
    payload: dict[str, Any] = {"created": int(time.time()), "data": data}
    if opts.family == "gpt-image":
        text_tokens = tokens.count(opts.prompt)
        image_tokens = IMAGE_INPUT_TOKENS * input_images
        per_image = OUTPUT_TOKENS[opts.quality or "high"][0 if opts.width == opts.height else 1]
        output = per_image * opts.n
        payload.update(background=opts.background, output_format=opts.output_format, size=opts.size,
                       quality=opts.quality)
        payload["usage"] = {
            "input_tokens": text_tokens + image_tokens, "output_tokens": output,
            "total_tokens": text_tokens + image_tokens + output,
            "input_tokens_details": {"text_tokens": text_tokens, "image_tokens": image_tokens},
        }
    return ok(state, payload)


def store(request: web.Request, state: SimState, picture: bytes) -> str:
    image_id = "img-" + uuid.uuid4().hex
    state.images[image_id] = picture
    while len(state.images) > MAX_STORED:
        state.images.pop(next(iter(state.images)))
    return f"{request.scheme}://{request.host}/__sim/images/{image_id}.png"


async def serve_stored(request: web.Request) -> web.StreamResponse:
    """``GET /__sim/images/<id>.png`` — the bytes behind a ``url`` result (no auth, like a signed URL)."""
    image_id = request.match_info["name"].removesuffix(".png")
    picture = request.app[STATE].images.get(image_id)
    if picture is None:
        return json_response(404, {"error": "image not found (expired or never generated)"})
    return web.Response(body=picture, content_type="image/png")
