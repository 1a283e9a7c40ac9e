"""Qianfan v1 ``{"error_code", "error_msg"}`` bodies (sent with HTTP 200) -> UpstreamError.

Codes 1-111 are Baidu's platform-wide codes, 336xxx Qianfan's own (protocol notes §2.4). Refused
or expired credentials are the channel's fault: the caller sees 502, as for any channel whose key
is refused, and another channel is tried. Rate limits are 429 and retryable; parameter errors
are the caller's (400, not retried).
"""

from __future__ import annotations

from typing import Any

import orjson

from relaygate.providers.base import UpstreamError, classify_status

TOKEN_INVALID = frozenset({110, 111})  # refresh the access token once and retry
AUTH = frozenset({6, 13, 14, 15, 110, 111})
RATE_LIMIT = frozenset({4, 18, 336501, 336502, 336503})
QUOTA = frozenset({17, 19})
OVERLOADED = frozenset({2, 336100})
CONTEXT_TOO_LONG = frozenset({336006, 336007})


def error_code(data: Any) -> int | None:
    """The error code of a parsed body, or None for a success body."""
    if not isinstance(data, dict) or "error_code" not in data:
        return None
    try:
        return int(data["error_code"])
    except (TypeError, ValueError):
        return -1


def baidu_error(code: int, message: str) -> UpstreamError:
    message = message or f"upstream error {code}"
    if code in AUTH:
        return UpstreamError(502, f"upstream rejected the channel credentials (error {code}): {message}",
                             "upstream_error", "upstream_auth_failed", True, True)
    if code in RATE_LIMIT:
        return UpstreamError(429, message, "requests", "rate_limit_exceeded", True, False)
    if code in QUOTA:
        return UpstreamError(429, f"the upstream account's request quota is used up: {message}", "requests",
                             "upstream_quota_exceeded", True, True)
    if code in OVERLOADED:
        return UpstreamError(503, message, "server_error", "overloaded", True, True)
    if code == 3:
        return UpstreamError(404, f"the upstream has no such endpoint for this model: {message}",
                             "invalid_request_error", "model_not_found", True, True)
    if code in CONTEXT_TOO_LONG:
        return UpstreamError(400, message, "invalid_request_error", "context_length_exceeded")
    if code == 100 or 336001 <= code <= 336099:
        return UpstreamError(400, message, "invalid_request_error", str(code))
    return UpstreamError(500, message, "server_error", str(code), True, True)


def status_of(code: int) -> int:
    """An HTTP status for an error delivered with 200, so the pipeline sees an error answer."""
    return baidu_error(code, "").status


def parse_error(status: int, body: bytes) -> UpstreamError:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = None
    code = error_code(data)
    if code is not None:
        return baidu_error(code, str(data.get("error_msg") or ""))  # type: ignore[union-attr]
    retryable, fault = classify_status(status)
    message = body[:200].decode("utf-8", "replace") or f"upstream returned HTTP {status}"
    if isinstance(data, dict) and isinstance(data.get("error_description"), str):
        message = data["error_description"]
    if status in (401, 403):
        return UpstreamError(502, f"upstream rejected the channel credentials ({status}): {message}",
                             "upstream_error", "upstream_auth_failed", retryable, fault)
    return UpstreamError(status, message, "upstream_error" if status >= 500 else "invalid_request_error", None,
                         retryable, fault)
