"""What image-generation-only protocols (Stability, AUTOMATIC1111) share: the canonical request read from
an OpenAI ``/v1/images/generations`` body, the generated image, and the chat side of the adapter interface
(these channels carry no chat: a chat request on them fails over to another channel).

Such an adapter adds one coroutine to the chat interface::

    async def generate_images(client, channel, key, req: ImageRequest, limits) -> list[GeneratedImage]

and a free request that shows the channel is reachable and its key accepted, which the health check and
the admin channel test send instead of a chat::

    def build_probe(channel, key) -> UpstreamRequest

raising :class:`~relaygate.providers.base.UpstreamFailure` for upstream errors (already classified) and
``TimeoutError`` / ``aiohttp.ClientError`` / ``OSError`` for transport failures, like the pooled client.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from relaygate.providers.base import ChatRequest, UpstreamError, UpstreamFailure, UpstreamRequest, Usage
from relaygate.state.snapshot import ChannelInfo

# Fields of OpenAI's images API; everything else in the body is an extra for the upstream (steps, cfg_scale...).
OPENAI_FIELDS = frozenset({"model", "prompt", "n", "size", "quality", "response_format", "style", "user",
                           "background", "moderation", "output_format", "output_compression", "stream",
                           "partial_images", "negative_prompt", "seed"})


@dataclass(slots=True)
class ImageRequest:
    model: str  # the upstream model (after the channel's mapping)
    prompt: str
    n: int = 1
    size: tuple[int, int] | None = None
    quality: str | None = None
    style: str | None = None
    negative_prompt: str | None = None
    seed: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_openai(cls, body: dict[str, Any], model: str) -> ImageRequest:
        size = body.get("size")
        dims = None
        if isinstance(size, str) and "x" in size:
            w, _, h = size.partition("x")
            if w.isdigit() and h.isdigit():
                dims = (int(w), int(h))
        seed = body.get("seed")
        negative = body.get("negative_prompt")
        return cls(model=model, prompt=str(body.get("prompt") or ""), n=int(body.get("n") or 1), size=dims,
                   quality=body.get("quality") if isinstance(body.get("quality"), str) else None,
                   style=body.get("style") if isinstance(body.get("style"), str) else None,
                   negative_prompt=negative if isinstance(negative, str) and negative else None,
                   seed=seed if isinstance(seed, int) and not isinstance(seed, bool) else None,
                   extra={k: v for k, v in body.items() if k not in OPENAI_FIELDS})


@dataclass(slots=True)
class GeneratedImage:
    b64: str  # base64 PNG, no data: prefix
    seed: int | None = None


def image_error(status: int, message: str, code: str | None, *, retryable: bool = False,
                channel_fault: bool = False, type: str = "invalid_request_error") -> UpstreamFailure:
    return UpstreamFailure(UpstreamError(status, message, type, code, retryable, channel_fault))


class ImageOnlyAdapter:
    """The chat half of the adapter interface, for channels that only generate images."""

    label = "image"

    def _no_chat(self) -> UpstreamFailure:
        return image_error(400, f"{self.label} channels serve only /v1/images/generations.", "unsupported_channel",
                           retryable=True)

    def build_chat(self, channel: ChannelInfo, key: str, req: ChatRequest) -> UpstreamRequest:
        raise self._no_chat()

    def parse_chat(self, req: ChatRequest, body: bytes) -> tuple[bytes, Usage | None]:
        raise self._no_chat()

    def completion_text(self, body: bytes) -> str:
        return ""

    def stream_relay(self, req: ChatRequest) -> Any:
        raise self._no_chat()

    def parse_error(self, status: int, body: bytes) -> UpstreamError:
        return UpstreamError(502, f"{self.label} upstream returned HTTP {status}: {body[:200]!r}", "upstream_error",
                             "upstream_error", status == 429 or status >= 500, status >= 500)


def json_or_none(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
