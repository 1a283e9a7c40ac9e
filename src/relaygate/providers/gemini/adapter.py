"""Channel type ``gemini``: OpenAI chat over Google's Generative Language API (AI Studio keys).

URLs: ``<base_url>/<version>/models/<model>:generateContent`` and, for streams,
``:streamGenerateContent?alt=sse`` (``alt=sse`` gives SSE framing; without it the endpoint
streams one JSON array). ``version`` is the channel config ``api_version`` (default ``v1beta``),
skipped when the base URL already ends in a version. The key goes in ``x-goog-api-key``, as
the official SDK sends it (never in the URL, where it would end up in logs). Channel config
``safety_threshold`` (e.g. ``BLOCK_NONE``) is applied to every harm category. Image URLs are
inlined by the relay before the request is built (``must_inline``).
"""

from __future__ import annotations

import orjson

from relaygate.providers.base import ChatRequest, UpstreamError, UpstreamFailure, UpstreamRequest, Usage
from relaygate.providers.gemini.errors import gemini_error
from relaygate.providers.gemini.request import build_body, model_path
from relaygate.providers.gemini.request import must_inline as _must_inline
from relaygate.providers.gemini.response import response_text, to_openai
from relaygate.providers.gemini.stream import GeminiStreamRelay
from relaygate.state.snapshot import ChannelInfo

DEFAULT_VERSION = "v1beta"


def _legacy(req: ChatRequest) -> bool:
    return bool(req.body.get("functions")) and not req.body.get("tools")


def endpoint(channel: ChannelInfo, model: str, stream: bool) -> str:
    base = channel.base_url
    if not base.rsplit("/", 1)[-1].startswith("v1"):
        base += "/" + str(channel.config.get("api_version") or DEFAULT_VERSION)
    method = "streamGenerateContent?alt=sse" if stream else "generateContent"
    return f"{base}/models/{model_path(model)}:{method}"


class GeminiAdapter:
    def must_inline(self, url: str) -> bool:
        """Image URLs other than Files API / Cloud Storage URIs are downloaded and sent inline."""
        return _must_inline(url)

    def build_chat(self, channel: ChannelInfo, key: str, req: ChatRequest) -> UpstreamRequest:
        headers = {"Content-Type": "application/json"}
        if key:
            headers["x-goog-api-key"] = key
        return UpstreamRequest(url=endpoint(channel, req.upstream_model, req.stream),
                               body=orjson.dumps(build_body(req, channel.config)), headers=headers)

    def parse_chat(self, req: ChatRequest, body: bytes) -> tuple[bytes, Usage | None]:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            data = None
        if not isinstance(data, dict) or not ("candidates" in data or "promptFeedback" in data):
            raise UpstreamFailure(UpstreamError(502, "The upstream returned a malformed response.", "upstream_error",
                                                "bad_upstream_response", retryable=True, channel_fault=True))
        out, usage = to_openai(data, req.upstream_model, _legacy(req))
        return orjson.dumps(out), usage

    def completion_text(self, body: bytes) -> str:
        return response_text(orjson.loads(body))

    def stream_relay(self, req: ChatRequest) -> GeminiStreamRelay:
        n = req.body.get("n")
        return GeminiStreamRelay(req.upstream_model, n if isinstance(n, int) else 1, _legacy(req), req.wants_usage)

    def parse_error(self, status: int, body: bytes) -> UpstreamError:
        return gemini_error(status, body)
