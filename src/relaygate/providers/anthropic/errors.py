"""Anthropic error bodies (``{"type":"error","error":{"type","message"}}``) into UpstreamError.

Two faces: for OpenAI callers the status and type become what OpenAI clients understand (529
overloaded -> 503 ``server_error``/``overloaded``, as OpenAI clients do not know 529); for
Anthropic callers (native pass-through) the provider's own status and type are kept.
"""

from __future__ import annotations

import orjson

from relaygate.providers.base import UpstreamError, classify_status

OVERLOADED = 529

# Anthropic error type -> (OpenAI error type, code) for OpenAI callers
_OPENAI_SHAPES: dict[str, tuple[str, str | None]] = {
    "invalid_request_error": ("invalid_request_error", None),
    "not_found_error": ("invalid_request_error", "model_not_found"),
    "request_too_large": ("invalid_request_error", "request_too_large"),
    "rate_limit_error": ("requests", "rate_limit_exceeded"),
    "api_error": ("server_error", None),
    "overloaded_error": ("server_error", "overloaded"),
    "timeout_error": ("server_error", "timeout"),
    "billing_error": ("upstream_error", "upstream_billing"),
}


def read_error(body: bytes) -> tuple[str, str]:
    """(error type, message) of an Anthropic error body; tolerant of anything else."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return "", body[:200].decode("utf-8", "replace")
    err = data.get("error") if isinstance(data, dict) else None
    if isinstance(err, dict):
        return str(err.get("type") or ""), str(err.get("message") or "")
    return "", str(err or "")


def retry_flags(status: int) -> tuple[bool, bool]:
    """529 is Anthropic's "overloaded": another channel may well answer."""
    return classify_status(status)


def upstream_error(status: int, body: bytes) -> UpstreamError:
    """For OpenAI callers: statuses and types an OpenAI SDK maps to the right exception."""
    retryable, fault = retry_flags(status)
    etype, message = read_error(body)
    message = message or f"upstream returned HTTP {status}"
    if status in (401, 403):
        return UpstreamError(502, f"upstream rejected the channel credentials ({status}): {message}",
                             "upstream_error", "upstream_auth_failed", retryable, fault)
    if status == OVERLOADED or etype == "overloaded_error":
        return UpstreamError(503, message, "server_error", "overloaded", True, fault)
    otype, code = _OPENAI_SHAPES.get(etype, ("upstream_error" if status >= 500 else "invalid_request_error", None))
    return UpstreamError(status, message, otype, code, retryable, fault)


def native_error(status: int, body: bytes) -> UpstreamError:
    """For Anthropic callers: the upstream's own status and error type, unchanged."""
    retryable, fault = retry_flags(status)
    etype, message = read_error(body)
    message = message or f"upstream returned HTTP {status}"
    if status in (401, 403):
        return UpstreamError(502, f"upstream rejected the channel credentials ({status}): {message}",
                             "api_error", "upstream_auth_failed", retryable, fault)
    return UpstreamError(status, message, etype or ("api_error" if status >= 500 else "invalid_request_error"),
                         "overloaded" if status == OVERLOADED else None, retryable, fault)


def stream_error(error: object) -> UpstreamError:
    """An ``error`` event after HTTP 200, for the usage record and the caller's error event."""
    err = error if isinstance(error, dict) else {}
    etype = str(err.get("type") or "api_error")
    message = str(err.get("message") or "upstream error mid-stream")
    if etype == "overloaded_error":
        return UpstreamError(503, message, "server_error", "overloaded")
    otype, code = _OPENAI_SHAPES.get(etype, ("server_error", None))
    return UpstreamError(502, message, otype, code)
