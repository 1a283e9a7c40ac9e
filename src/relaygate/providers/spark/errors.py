"""Spark ``header.code`` values (notes §5.1) and handshake refusals -> UpstreamError.

A refused handshake (401/403: bad signature, skewed clock) and licence errors are the channel's
fault: 502 for the caller, another channel is tried. Rate and concurrency limits are 429; input
that fails moderation (10013, 10019) is the caller's 400 ``content_filter``; engine errors are
5xx and retried elsewhere.
"""

from __future__ import annotations

from typing import Any

import orjson

from relaygate.providers.base import UpstreamError, classify_status

OUTPUT_FILTERED = 10014  # mid-answer: the answer ends with finish_reason content_filter
INPUT_FILTERED = frozenset({10013, 10019})
BAD_REQUEST = frozenset({10003, 10004, 10005, 10163})
RATE_LIMIT = frozenset({10006, 10007, 10110, 11202, 11203})
LICENCE = frozenset({10015, 10016, 11200})


def frame_code(frame: Any) -> int:
    header = frame.get("header") if isinstance(frame, dict) else None
    code = header.get("code") if isinstance(header, dict) else None
    try:
        return int(code) if code is not None else 0
    except (TypeError, ValueError):
        return -1


def frame_message(frame: Any) -> str:
    header = frame.get("header") if isinstance(frame, dict) else None
    return str(header.get("message") or "") if isinstance(header, dict) else ""


def spark_error(code: int, message: str) -> UpstreamError:
    message = message or f"upstream error {code}"
    if code in INPUT_FILTERED or code == OUTPUT_FILTERED:
        return UpstreamError(400, f"The request was refused by the upstream's content moderation: {message}",
                             "invalid_request_error", "content_filter")
    if code == 10907:
        return UpstreamError(400, message, "invalid_request_error", "context_length_exceeded")
    if code in BAD_REQUEST:
        return UpstreamError(400, message, "invalid_request_error", str(code))
    if code in RATE_LIMIT:
        return UpstreamError(429, message, "requests", "rate_limit_exceeded", True, False)
    if code == 11201:
        return UpstreamError(429, f"the upstream account's daily quota is used up: {message}", "requests",
                             "upstream_quota_exceeded", True, True)
    if code in LICENCE:
        return UpstreamError(502, f"upstream rejected the channel credentials (error {code}): {message}",
                             "upstream_error", "upstream_auth_failed", True, True)
    if code in (10008, 10110):
        return UpstreamError(503, message, "server_error", "overloaded", True, True)
    return UpstreamError(500, message, "server_error", str(code), True, True)


def status_of(code: int) -> int:
    return spark_error(code, "").status


def parse_error(status: int, body: bytes) -> UpstreamError:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = None
    code = frame_code(data)
    if code:
        return spark_error(code, frame_message(data))
    message = str(data.get("message") or "") if isinstance(data, dict) else body[:200].decode("utf-8", "replace")
    retryable, fault = classify_status(status)
    if status in (401, 403):
        return UpstreamError(502, f"upstream rejected the channel credentials ({status}): {message or 'refused'}"
                             " -- check the channel key (APPID|APISecret|APIKey) and this server's clock",
                             "upstream_error", "upstream_auth_failed", True, True)
    return UpstreamError(status, message or f"upstream returned HTTP {status}",
                         "server_error" if status >= 500 else "invalid_request_error", None, retryable, fault)
