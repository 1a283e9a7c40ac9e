"""Errors raised anywhere on the relay path, rendered in the caller's protocol at the edge."""

from __future__ import annotations

import orjson

from relaygate.errors import GatewayError

__all__ = ["GatewayError", "bad_request", "openai_error_body"]


def openai_error_body(message: str, type: str, code: str | None = None, param: str | None = None) -> bytes:
    return orjson.dumps({"error": {"message": message, "type": type, "param": param, "code": code}})


def bad_request(message: str, param: str | None = None, code: str | None = "invalid_request") -> GatewayError:
    return GatewayError(400, message, "invalid_request_error", code, param)
