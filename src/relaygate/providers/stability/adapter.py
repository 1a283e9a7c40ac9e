"""Stability AI: OpenAI image generation onto the v1 engines API or the v2beta Stable Image API.

The upstream model (after the channel's mapping) picks the API: ``core`` / ``ultra`` (or
``stable-image-core`` / ``stable-image-ultra``) and ``sd3*`` models go to v2beta
(``/v2beta/stable-image/generate/{core|ultra|sd3}``, multipart, one image per call, so ``n`` calls run
concurrently); any other name is a v1 engine id (``/v1/generation/{engine}/text-to-image``, JSON,
``samples = n``). The mapping follows ``shared/protocols/stable_diffusion.md`` §4: the negative prompt is
a ``weight: -1`` text prompt (v1) or ``negative_prompt`` (v2beta); sizes snap to the engine's allowed
sizes (SDXL's nine pairs, the nearest by aspect ratio) or to an aspect ratio (v2beta); ``quality: hd``
means 50 steps, ``standard`` 30; ``style`` vivid/natural picks a style preset; extra fields the v1 API
knows (``steps``, ``cfg_scale``, ``sampler``, ``style_preset``, ``clip_guidance_preset``) pass through.
Images filtered by the upstream's content filter are dropped; when all are, the caller gets OpenAI's
400 ``content_policy_violation``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from relaygate.providers.base import UpstreamError, UpstreamFailure, UpstreamRequest, classify_status
from relaygate.providers.imagegen import GeneratedImage, ImageOnlyAdapter, ImageRequest, image_error, json_or_none
from relaygate.state.snapshot import ChannelInfo

SDXL_SIZES = ((1024, 1024), (1152, 896), (1216, 832), (1344, 768), (1536, 640), (640, 1536), (768, 1344),
              (832, 1216), (896, 1152))
ASPECT_RATIOS = {"1:1": 1.0, "16:9": 16 / 9, "21:9": 21 / 9, "2:3": 2 / 3, "3:2": 1.5, "4:5": 0.8, "5:4": 1.25,
                 "9:16": 9 / 16, "9:21": 9 / 21}
V1_EXTRAS = ("steps", "cfg_scale", "sampler", "style_preset", "clip_guidance_preset")
V2_EXTRAS = ("style_preset", "cfg_scale", "output_format")
STYLES = {"vivid": "cinematic", "natural": "photographic"}


def v1_size(engine: str, size: tuple[int, int] | None) -> tuple[int, int]:
    if "xl" in engine:
        if size is None:
            return 1024, 1024
        ratio = size[0] / size[1]
        return min(SDXL_SIZES, key=lambda wh: abs(wh[0] / wh[1] - ratio))
    if size is None:
        return 512, 512
    return tuple(min(1536, max(320, round(v / 64) * 64)) for v in size)  # type: ignore[return-value]


def aspect_ratio(size: tuple[int, int] | None) -> str:
    if size is None:
        return "1:1"
    ratio = size[0] / size[1]
    return min(ASPECT_RATIOS, key=lambda name: abs(ASPECT_RATIOS[name] - ratio))


def v2_service(model: str) -> tuple[str, str | None] | None:
    """(service, sd3 model) for v2beta models, None for v1 engine ids."""
    name = model.removeprefix("stable-image-")
    if name in ("core", "ultra"):
        return name, None
    if model.startswith("sd3"):
        return "sd3", model
    return None


def stability_error(status: int, body: bytes) -> UpstreamError:
    data = json_or_none(body)
    name, message = "", body[:200].decode("utf-8", "replace")
    if isinstance(data, dict):
        name = str(data.get("name") or "")
        errors = data.get("errors")
        message = str(data.get("message") or ("; ".join(map(str, errors)) if isinstance(errors, list) else message))
    if name == "content_moderation":
        return UpstreamError(400, message or "The prompt was rejected by the upstream's content filter.",
                             "invalid_request_error", "content_policy_violation")
    retryable, fault = classify_status(status)
    if status in (401, 402, 403):
        return UpstreamError(502, f"upstream rejected the channel ({status} {name}): {message}", "upstream_error",
                             "upstream_auth_failed", True, True)
    if status == 404:  # an engine the upstream does not know: the channel's model list is wrong
        return UpstreamError(502, f"upstream does not serve this model: {message}", "upstream_error",
                             "upstream_model_not_found", True, True)
    if status in (400, 413, 422):
        return UpstreamError(400 if status == 422 else status, message, "invalid_request_error", name or None)
    return UpstreamError(status if status == 429 else 502, f"upstream error {status}: {message}", "upstream_error",
                         name or None, retryable, fault)


class StabilityAdapter(ImageOnlyAdapter):
    label = "Stability"

    def parse_error(self, status: int, body: bytes) -> UpstreamError:
        return stability_error(status, body)

    def build_probe(self, channel: ChannelInfo, key: str) -> UpstreamRequest:
        """The engine list: free, and refused with 401 for a bad key like generation is."""
        return UpstreamRequest(f"{channel.base_url}/v1/engines/list", b"",
                               {"Authorization": f"Bearer {key}", "Accept": "application/json"}, method="GET")

    async def generate_images(self, client: aiohttp.ClientSession, channel: ChannelInfo, key: str,
                              req: ImageRequest, limits: aiohttp.ClientTimeout) -> list[GeneratedImage]:
        headers = {"Authorization": f"Bearer {key}", "Accept": "application/json"}
        v2 = v2_service(req.model)
        if v2 is None:
            images = await self._v1(client, channel, headers, req, limits)
        else:
            seeds = [None if req.seed is None else (req.seed + i) % 4294967295 for i in range(req.n)]
            groups = await asyncio.gather(*(self._v2(client, channel, headers, req, v2, seed, limits)
                                            for seed in seeds))
            images = [image for group in groups for image in group]
        if not images:
            raise image_error(400, "Your request was rejected as a result of our safety system.",
                              "content_policy_violation")
        return images

    async def _post(self, client: aiohttp.ClientSession, url: str, headers: dict[str, str], limits: Any,
                    **kwargs: Any) -> Any:
        async with client.post(url, headers=headers, timeout=limits, **kwargs) as resp:
            raw = await resp.read()
            if resp.status >= 300:
                raise UpstreamFailure(stability_error(resp.status, raw))
        data = json_or_none(raw)
        if not isinstance(data, dict):
            raise image_error(502, "The upstream returned a malformed image answer.", "bad_upstream_response",
                              retryable=True, channel_fault=True, type="upstream_error")
        return data

    async def _v1(self, client: aiohttp.ClientSession, channel: ChannelInfo, headers: dict[str, str],
                  req: ImageRequest, limits: Any) -> list[GeneratedImage]:
        width, height = v1_size(req.model, req.size)
        prompts = [{"text": req.prompt, "weight": 1}]
        if req.negative_prompt:
            prompts.append({"text": req.negative_prompt, "weight": -1})
        body: dict[str, Any] = {"text_prompts": prompts, "samples": req.n, "width": width, "height": height}
        if req.quality in ("hd", "standard"):
            body["steps"] = 50 if req.quality == "hd" else 30
        if req.style in STYLES:
            body["style_preset"] = STYLES[req.style]
        if req.seed is not None:
            body["seed"] = req.seed
        body.update({k: req.extra[k] for k in V1_EXTRAS if k in req.extra})
        data = await self._post(client, f"{channel.base_url}/v1/generation/{req.model}/text-to-image", headers,
                                limits, json=body)
        artifacts = data.get("artifacts")
        if not isinstance(artifacts, list):
            raise image_error(502, "The upstream returned no artifacts.", "bad_upstream_response", retryable=True,
                              channel_fault=True, type="upstream_error")
        return [GeneratedImage(a["base64"], a.get("seed")) for a in artifacts
                if isinstance(a, dict) and isinstance(a.get("base64"), str) and a.get("finishReason") == "SUCCESS"]

    async def _v2(self, client: aiohttp.ClientSession, channel: ChannelInfo, headers: dict[str, str],
                  req: ImageRequest, service: tuple[str, str | None], seed: int | None,
                  limits: Any) -> list[GeneratedImage]:
        form = aiohttp.FormData(default_to_multipart=True)  # v2beta takes multipart only, even without files
        form.add_field("prompt", req.prompt)
        form.add_field("aspect_ratio", aspect_ratio(req.size))
        form.add_field("output_format", "png")
        if service[1] is not None:
            form.add_field("model", service[1])
        if req.negative_prompt and "turbo" not in req.model:  # turbo models take no negative prompt
            form.add_field("negative_prompt", req.negative_prompt)
        if seed is not None:
            form.add_field("seed", str(seed))
        style = req.extra.get("style_preset") or STYLES.get(req.style or "")
        if style and service[0] != "ultra":
            form.add_field("style_preset", str(style))
        if "cfg_scale" in req.extra and service[0] == "sd3":
            form.add_field("cfg_scale", str(req.extra["cfg_scale"]))
        data = await self._post(client, f"{channel.base_url}/v2beta/stable-image/generate/{service[0]}", headers,
                                limits, data=form)
        if data.get("finish_reason") not in (None, "SUCCESS") or not isinstance(data.get("image"), str):
            return []
        return [GeneratedImage(data["image"], data.get("seed"))]
