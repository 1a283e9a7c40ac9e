"""``/v1/images/generations`` (JSON), ``/edits`` (multipart, or JSON) and ``/variations`` (multipart).

OpenAI-type channels get the body untouched but for the model (uploads re-emitted from the spool);
Stable Diffusion channels (any registered adapter with ``generate_images``: ``stability``, ``sd-webui``)
get the generation converted, and their images come back as ``b64_json`` or as URLs the gateway serves
itself (:mod:`.image_files`).

Billing: a price with ``per_image`` / ``image_prices`` charges per image returned, by size and quality
(``"<size>/<quality>"``, then ``"<size>"``, then ``per_image``); the reservation is ``n`` of them.
Without a per-image price, images are billed on the token usage the upstream reports (gpt-image
models), reserving ``n`` x ``IMAGE_MAX_OUTPUT_TOKENS``. ``per_request`` is added either way. Usage records
keep the number of images in ``completion_tokens`` for per-image prices, tokens otherwise.
"""

from __future__ import annotations

import base64
import time
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson

from relaygate.api.errors import bad_request
from relaygate.api.http import JSON_CT, Receive, Scope, Send, send_bytes
from relaygate.billing.pricing import cost_of, worst_case_cost
from relaygate.providers.base import UpstreamError, UpstreamFailure, Usage
from relaygate.providers.imagegen import ImageRequest
from relaygate.providers.registry import CHANNEL_TYPES, adapter_for
from relaygate.relay import pipeline
from relaygate.relay.endpoints import image_files
from relaygate.relay.pipeline import Call, CallContext, Endpoint, Rid, json_answer
from relaygate.relay.upstream import no_answer, timeout_for
from relaygate.state.snapshot import ChannelInfo, PriceInfo

if TYPE_CHECKING:
    from relaygate.relay.service import Relay

MAX_N = 10
IMAGE_MAX_OUTPUT_TOKENS = 6240  # gpt-image-1 at high quality and the largest size
INPUT_IMAGE_TOKENS = 1600


def unit_price(price: PriceInfo | None, size: str | None, quality: str | None) -> int | None:
    """Micro-units per image for this size and quality, or None when the model is not priced per image."""
    if price is None:
        return None
    table = price.image_prices or {}
    for key in (f"{size}/{quality}", size):
        if key in table:
            return table[key]
    return price.per_image


def _int_field(call: Call, name: str, low: int, high: int) -> int | None:
    value = call.field(name)
    if value is None or value == "":
        return None
    digits = value.strip().lstrip("-") if isinstance(value, str) else ""
    if digits.isascii() and digits.isdigit():  # not "²": isdigit() is true for it, int() refuses it
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise bad_request(f"'{name}' must be an integer.", name, "invalid_type")
    if not low <= value <= high:
        raise bad_request(f"'{name}' must be between {low} and {high}.", name, "invalid_value")
    return value


def read_images(call: Call) -> None:
    n = _int_field(call, "n", 1, MAX_N) or 1
    prompt = call.field("prompt")
    if call.endpoint is not VARIATIONS and (not isinstance(prompt, str) or not prompt):
        raise bad_request("you must provide a prompt parameter", "prompt", "missing_required_parameter")
    fmt = call.field("response_format")
    if fmt is not None and fmt not in ("url", "b64_json"):
        raise bad_request("'response_format' must be 'url' or 'b64_json'.", "response_format", "invalid_value")
    for name in ("size", "quality"):
        if call.field(name) is not None and not isinstance(call.field(name), str):
            raise bad_request(f"'{name}' must be a string.", name, "invalid_type")
    if call.form is not None:
        images = call.form.files("image", "image[]")
        if not images:
            raise bad_request("you must provide an image file", "image", "missing_required_parameter")
        call.info["input_images"] = len(images)
    call.stream = call.field("stream") in (True, "true")
    call.units = n
    call.info["prompt_bound"] = len(prompt.encode()) if isinstance(prompt, str) else 0  # tokens <= UTF-8 bytes


def reserve_images(call: Call, price: PriceInfo | None) -> int:
    if price is None:
        return 0
    unit = unit_price(price, call.field("size"), call.field("quality"))
    if unit is not None:
        return call.units * unit + price.per_request
    prompt = call.info["prompt_bound"] + call.info.get("input_images", 0) * INPUT_IMAGE_TOKENS
    return worst_case_cost(price, prompt, call.units * IMAGE_MAX_OUTPUT_TOKENS)


def settle_images(call: Call, ctx: CallContext, count: int, usage: Any = None) -> None:
    price = ctx.price
    unit = unit_price(price, call.field("size"), call.field("quality"))
    if price is not None and unit is not None:
        ctx.usage = Usage(completion_tokens=count)
        ctx.unit_cost = count * unit + price.per_request
        return
    tokens = Usage()
    if isinstance(usage, dict):
        tokens = Usage(prompt_tokens=_count(usage.get("input_tokens")), completion_tokens=_count(usage.get(
            "output_tokens")))
    ctx.usage = tokens
    ctx.unit_cost = cost_of(price, tokens) if price is not None else 0


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def answer_images(call: Call, ctx: CallContext, raw: bytes, ctype: str) -> bytes:
    data = json_answer(raw, "image answer")
    items = data.get("data")
    if not isinstance(items, list):
        raise pipeline.malformed("image answer")
    settle_images(call, ctx, len(items), data.get("usage"))
    return raw


def piped_images(call: Call, ctx: CallContext) -> None:
    """A streamed gpt-image answer (partial images): billed as the images asked for."""
    settle_images(call, ctx, call.units)


async def generate_sd(relay: Relay, ctx: CallContext, call: Call, ch: ChannelInfo, send: Send,
                      rid: Rid) -> UpstreamError | None:
    """A channel with its own image protocol (Stable Diffusion): convert, generate, answer as OpenAI does."""
    assert call.body is not None
    adapter: Any = adapter_for(ch.type)
    req = ImageRequest.from_openai(call.body, ctx.upstream_model)
    ctx.upstream_started = time.perf_counter()
    try:
        images = await adapter.generate_images(relay.client, ch, ch.next_key(), req,
                                               timeout_for(relay.rt.settings, ch.timeout_s, False))
    except UpstreamFailure as exc:
        return exc.error
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        return no_answer(exc)
    finally:
        ctx.upstream_done()
    images = images[:req.n]
    if call.body.get("response_format") != "b64_json":  # OpenAI's default is url
        data = []
        for image in images:
            try:
                png = base64.b64decode(image.b64, validate=True)
            except ValueError:
                return pipeline.malformed("image (not base64)").error
            data.append({"url": await image_files.save(relay, call.scope, png)})
    else:
        data = [{"b64_json": image.b64} for image in images]
    settle_images(call, ctx, len(images))
    body = orjson.dumps({"created": int(time.time()), "data": data})
    await relay.settle(ctx)
    await send_bytes(send, 200, body, [JSON_CT, rid, ctx.overhead_header()])
    return None


SD_TYPES = {t: generate_sd for t in sorted(CHANNEL_TYPES) if hasattr(adapter_for(t), "generate_images")}

GENERATIONS = Endpoint("images.generations", "/images/generations", read_images, reserve_images, answer_images,
                       default_model="dall-e-2", piped=piped_images, custom=SD_TYPES)
EDITS = Endpoint("images.edits", "/images/edits", read_images, reserve_images, answer_images, multipart=True,
                 json_too=True, default_model="dall-e-2", piped=piped_images)
VARIATIONS = Endpoint("images.variations", "/images/variations", read_images, reserve_images, answer_images,
                      multipart=True, default_model="dall-e-2")


async def handle_generations(relay: Relay, scope: Scope, receive: Receive, send: Send) -> None:
    await pipeline.run(relay, GENERATIONS, scope, receive, send)


async def handle_edits(relay: Relay, scope: Scope, receive: Receive, send: Send) -> None:
    await pipeline.run(relay, EDITS, scope, receive, send)


async def handle_variations(relay: Relay, scope: Scope, receive: Receive, send: Send) -> None:
    await pipeline.run(relay, VARIATIONS, scope, receive, send)
