"""Errors raised anywhere on the relay path, rendered in the caller's protocol at the edge."""

from __future__ import annotations

import orjson


class GatewayError(Exception):
    """An error with the status and OpenAI error fields the caller should see."""

    def __init__(self, status: int, message: str, type: str = "invalid_request_error",
                 code: str | None = None, param: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.headers = headers or {}

    def openai_body(self) -> bytes:
        return openai_error_body(self.message, self.type, self.code, self.param)


def openai_error_body(message: str, type: str, code: str | None = None, param: str | None = None) -> bytes:
    return orjson.dumps({"error": {"message": message, "type": type, "param": param, "code": code}})


def bad_request(message: str, param: str | None = None, code: str | None = "invalid_request") -> GatewayError:
    return GatewayError(400, message, "invalid_request_error", code, param)
