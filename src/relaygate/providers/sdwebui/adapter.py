"""AUTOMATIC1111 WebUI: OpenAI image generation onto ``POST /sdapi/v1/txt2img``.

``n`` is the batch size (one batch, no grid image), ``size`` gives width and height as asked,
``negative_prompt`` and ``seed`` (default -1, random) pass through, ``quality: hd`` means 40 steps and
``standard`` 20, and every other field of the body that is not OpenAI's own (``steps``, ``cfg_scale``,
``sampler_name``, ``styles``, ``enable_hr``...) goes to the WebUI as is, which ignores what it does not
know. The upstream model is sent as ``override_settings.sd_model_checkpoint`` (the WebUI keeps its
current checkpoint for a name it does not have) unless the channel's config sets
``"override_checkpoint": false``. A channel key ``user:password`` is sent as HTTP Basic auth
(``--api-auth``); an empty key sends none.
"""

from __future__ import annotations

import base64
from typing import Any

import aiohttp
import orjson

from relaygate.providers.base import UpstreamError, UpstreamFailure, UpstreamRequest, classify_status
from relaygate.providers.imagegen import GeneratedImage, ImageOnlyAdapter, ImageRequest, image_error, json_or_none
from relaygate.state.snapshot import ChannelInfo


def sdwebui_error(status: int, body: bytes) -> UpstreamError:
    data = json_or_none(body)
    message = body[:200].decode("utf-8", "replace")
    if isinstance(data, dict):
        detail = data.get("detail")
        if isinstance(detail, list):  # FastAPI validation errors
            message = "; ".join(f"{'.'.join(map(str, d.get('loc', ())))}: {d.get('msg')}" for d in detail
                                if isinstance(d, dict))
        elif detail or data.get("error"):
            message = str(detail or data.get("error"))
    if status == 401:
        return UpstreamError(502, f"upstream rejected the channel credentials (401): {message}", "upstream_error",
                             "upstream_auth_failed", True, True)
    if status in (404, 422):  # a sampler it does not have, a field of the wrong type: the caller's request
        return UpstreamError(400, message, "invalid_request_error", "invalid_value")
    retryable, fault = classify_status(status)
    return UpstreamError(502 if status >= 500 else status, f"upstream error {status}: {message}", "upstream_error",
                         None, retryable or status >= 500, fault)


class SDWebUIAdapter(ImageOnlyAdapter):
    label = "AUTOMATIC1111"

    def parse_error(self, status: int, body: bytes) -> UpstreamError:
        return sdwebui_error(status, body)

    def build_probe(self, channel: ChannelInfo, key: str) -> UpstreamRequest:
        """The checkpoint list: answered without generating anything, behind the same credentials."""
        return UpstreamRequest(f"{channel.base_url}/sdapi/v1/sd-models", b"", _auth(key), method="GET")

    async def generate_images(self, client: aiohttp.ClientSession, channel: ChannelInfo, key: str,
                              req: ImageRequest, limits: aiohttp.ClientTimeout) -> list[GeneratedImage]:
        body: dict[str, Any] = {**req.extra, "prompt": req.prompt, "batch_size": req.n, "n_iter": 1,
                                "seed": req.seed if req.seed is not None else -1, "do_not_save_grid": True,
                                "do_not_save_samples": True, "send_images": True}
        if req.negative_prompt:
            body["negative_prompt"] = req.negative_prompt
        if req.size is not None:
            body["width"], body["height"] = req.size
        if req.quality in ("hd", "standard") and "steps" not in req.extra:
            body["steps"] = 40 if req.quality == "hd" else 20
        if channel.config.get("override_checkpoint", True) and req.model:
            overrides = body.get("override_settings")
            body["override_settings"] = {**(overrides if isinstance(overrides, dict) else {}),
                                         "sd_model_checkpoint": req.model}
        headers = {"Content-Type": "application/json", **_auth(key)}
        async with client.post(f"{channel.base_url}/sdapi/v1/txt2img", data=orjson.dumps(body), headers=headers,
                               timeout=limits) as resp:
            raw = await resp.read()
            if resp.status >= 300:
                raise UpstreamFailure(sdwebui_error(resp.status, raw))
        data = json_or_none(raw)
        images = data.get("images") if isinstance(data, dict) else None
        if not isinstance(images, list):
            raise image_error(502, "The upstream returned a malformed txt2img answer.", "bad_upstream_response",
                              retryable=True, channel_fault=True, type="upstream_error")
        info = json_or_none(str(data.get("info") or "").encode()) if isinstance(data.get("info"), str) else None
        info = info if isinstance(info, dict) else {}
        first = info.get("index_of_first_image") if isinstance(info.get("index_of_first_image"), int) else 0
        seeds = info.get("all_seeds") if isinstance(info.get("all_seeds"), list) else []
        return [GeneratedImage(b64, seeds[i] if i < len(seeds) else None)
                for i, b64 in enumerate(x for x in images[first:] if isinstance(x, str))]


def _auth(key: str) -> dict[str, str]:
    """The channel key is ``user:password`` for the web UI's --api-auth; none when the API is open."""
    return {"Authorization": "Basic " + base64.b64encode(key.encode()).decode()} if key else {}
