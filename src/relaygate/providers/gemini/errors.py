"""Google RPC error bodies (``{"error": {"code", "message", "status", "details"}}``) -> UpstreamError.

An invalid key is a 400 ``INVALID_ARGUMENT`` with reason ``API_KEY_INVALID`` at Google, but it
is the channel's credential that failed, so the caller gets the same 502 as for any channel
whose key is refused. ``RetryInfo.retryDelay`` of a 429 becomes the ``Retry-After`` value.
"""

from __future__ import annotations

from typing import Any

import orjson

from relaygate.providers.base import UpstreamError, classify_status


def _details(err: dict[str, Any]) -> tuple[set[str], str | None]:
    reasons: set[str] = set()
    delay: str | None = None
    for item in err.get("details") or ():
        if not isinstance(item, dict):
            continue
        if isinstance(item.get("reason"), str):
            reasons.add(item["reason"])
        if isinstance(item.get("retryDelay"), str):
            delay = item["retryDelay"].rstrip("s").split(".")[0] or None
    return reasons, delay


def gemini_error(status: int, body: bytes) -> UpstreamError:
    retryable, fault = classify_status(status)
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = None
    if isinstance(data, list) and data:  # errors on the JSON-array stream endpoint
        data = data[0]
    err = data.get("error") if isinstance(data, dict) else None
    err = err if isinstance(err, dict) else {}
    message = str(err.get("message") or body[:200].decode("utf-8", "replace") or f"upstream returned HTTP {status}")
    reasons, delay = _details(err)
    if status in (401, 403) or "API_KEY_INVALID" in reasons:
        return UpstreamError(502, f"upstream rejected the channel credentials ({status}): {message}",
                             "upstream_error", "upstream_auth_failed", True, True)
    if status == 404:
        return UpstreamError(404, message, "invalid_request_error", "model_not_found", retryable, fault)
    if status == 429:
        return UpstreamError(429, message, "requests", "rate_limit_exceeded", True, False, retry_after=delay)
    if status == 503:
        return UpstreamError(503, message, "server_error", "overloaded", True, True)
    if status >= 500:
        return UpstreamError(status, message, "server_error", None, retryable, fault)
    return UpstreamError(status, message, "invalid_request_error", None, retryable, fault)


def stream_error(err: dict[str, Any]) -> UpstreamError:
    code = err.get("code") if isinstance(err.get("code"), int) else 500
    message = str(err.get("message") or "upstream error mid-stream")
    if code == 503 or err.get("status") == "UNAVAILABLE":
        return UpstreamError(503, message, "server_error", "overloaded")
    return UpstreamError(502, message, "server_error", str(err.get("status") or "") or None)
