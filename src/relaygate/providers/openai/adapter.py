"""OpenAI and every OpenAI-compatible upstream: the body passes through untouched.

Only the model name is mapped, and for streams ``stream_options.include_usage`` is switched
on so that the bill comes from the upstream's own count; the stream relay removes that usage
again when the caller did not ask for it.
"""

from __future__ import annotations

import orjson

from relaygate.providers.base import (
    ChatRequest,
    UpstreamError,
    UpstreamFailure,
    UpstreamRequest,
    Usage,
    classify_status,
)
from relaygate.providers.openai.errors import openai_error
from relaygate.providers.openai.stream import OpenAIStreamRelay, collect_delta
from relaygate.providers.openai.usage import usage_from_openai
from relaygate.state.snapshot import ChannelInfo


def rewrite_body(req: ChatRequest) -> bytes:
    body = req.body
    changed = False
    if body.get("model") != req.upstream_model:
        body = {**body, "model": req.upstream_model}
        changed = True
    if req.stream and not req.wants_usage:
        options = body.get("stream_options")
        body = {**body, "stream_options": {**(options if isinstance(options, dict) else {}),
                                           "include_usage": True}}
        changed = True
    if changed or not req.raw:
        return orjson.dumps(body)
    return req.raw


class OpenAIAdapter:
    path = "/chat/completions"

    def build_chat(self, channel: ChannelInfo, key: str, req: ChatRequest) -> UpstreamRequest:
        headers = {"Content-Type": "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        org = channel.config.get("organization")
        if org:
            headers["OpenAI-Organization"] = str(org)
        return UpstreamRequest(url=channel.base_url + self.path, body=rewrite_body(req), headers=headers)

    def parse_chat(self, req: ChatRequest, body: bytes) -> tuple[bytes, Usage | None]:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            data = None
        if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
            raise UpstreamFailure(UpstreamError(502, "The upstream returned a malformed chat completion.",
                                                "upstream_error", "bad_upstream_response",
                                                retryable=True, channel_fault=True))
        return body, usage_from_openai(data.get("usage"))

    def completion_text(self, body: bytes) -> str:
        parts: list[str] = []
        for choice in orjson.loads(body).get("choices") or ():
            collect_delta(choice.get("message") or choice, parts)
        return "".join(parts)

    def stream_relay(self, req: ChatRequest) -> OpenAIStreamRelay:
        return OpenAIStreamRelay(strip_usage=not req.wants_usage)

    def parse_error(self, status: int, body: bytes) -> UpstreamError:
        retryable, fault = classify_status(status)
        return openai_error(status, body, retryable=retryable, channel_fault=fault)
