"""Upstream OpenAI-shaped error bodies into UpstreamError, keeping the provider's message."""

from __future__ import annotations

import orjson

from relaygate.providers.base import UpstreamError


def openai_error(status: int, body: bytes, *, retryable: bool, channel_fault: bool) -> UpstreamError:
    message, etype, code = "", "upstream_error", None
    try:
        data = orjson.loads(body)
        err = data.get("error") if isinstance(data, dict) else None
        if isinstance(err, dict):
            message = str(err.get("message") or "")
            etype = str(err.get("type") or etype)
            code = err.get("code")
            code = str(code) if code is not None else None
        elif isinstance(err, str):
            message = err
    except orjson.JSONDecodeError:
        message = body[:200].decode("utf-8", "replace")
    if status in (401, 403):
        # The channel's credentials failed, not the caller's: never show the caller a 401.
        return UpstreamError(502, f"upstream rejected the channel credentials ({status}): {message}",
                             "upstream_error", "upstream_auth_failed", retryable, channel_fault)
    return UpstreamError(status, message or f"upstream returned HTTP {status}", etype, code,
                         retryable, channel_fault)
