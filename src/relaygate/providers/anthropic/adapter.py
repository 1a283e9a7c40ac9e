"""Channel type ``anthropic``: OpenAI chat requests over Anthropic's Messages API and back.

The URL is ``<base_url>/v1/messages`` (``<base_url>/messages`` when the operator's base URL
already ends in ``/v1``). Channel config: ``anthropic_version`` (default ``2023-06-01``) and
``anthropic_beta`` (sent as the ``anthropic-beta`` header).
"""

from __future__ import annotations

import orjson

from relaygate.providers.anthropic.errors import upstream_error
from relaygate.providers.anthropic.request import build_body
from relaygate.providers.anthropic.response import message_text, to_openai
from relaygate.providers.anthropic.stream import AnthropicStreamRelay
from relaygate.providers.anthropic.tools import reply_shape
from relaygate.providers.base import ChatRequest, UpstreamError, UpstreamFailure, UpstreamRequest, Usage
from relaygate.state.snapshot import ChannelInfo

DEFAULT_VERSION = "2023-06-01"


def endpoint(channel: ChannelInfo, path: str = "/messages") -> str:
    base = channel.base_url
    return base + path if base.endswith("/v1") else base + "/v1" + path


def headers(channel: ChannelInfo, key: str, version: str | None = None, beta: str | None = None) -> dict[str, str]:
    out = {"Content-Type": "application/json",
           "anthropic-version": version or str(channel.config.get("anthropic_version") or DEFAULT_VERSION)}
    if key:
        out["x-api-key"] = key
    betas = [b for b in (str(channel.config.get("anthropic_beta") or ""), beta or "") if b]
    if betas:
        out["anthropic-beta"] = ",".join(betas)
    return out


def malformed() -> UpstreamFailure:
    return UpstreamFailure(UpstreamError(502, "The upstream returned a malformed message.", "upstream_error",
                                         "bad_upstream_response", retryable=True, channel_fault=True))


class AnthropicAdapter:
    def build_chat(self, channel: ChannelInfo, key: str, req: ChatRequest) -> UpstreamRequest:
        return UpstreamRequest(url=endpoint(channel), body=orjson.dumps(build_body(req)),
                               headers=headers(channel, key))

    def parse_chat(self, req: ChatRequest, body: bytes) -> tuple[bytes, Usage | None]:
        try:
            msg = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise malformed() from None
        if not isinstance(msg, dict) or not isinstance(msg.get("content"), list):
            raise malformed()
        out, usage = to_openai(msg, reply_shape(req.body))
        return orjson.dumps(out), usage

    def completion_text(self, body: bytes) -> str:
        return message_text(orjson.loads(body))

    def stream_relay(self, req: ChatRequest) -> AnthropicStreamRelay:
        return AnthropicStreamRelay(reply_shape(req.body), req.wants_usage)

    def parse_error(self, status: int, body: bytes) -> UpstreamError:
        return upstream_error(status, body)
