"""Anthropic error bodies: ``{"type": "error", "error": {"type", "message"}, "request_id"}``."""

from __future__ import annotations

import uuid
from typing import Any

ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error", 401: "authentication_error", 402: "billing_error", 403: "permission_error",
    404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error", 500: "api_error",
    504: "timeout_error", 529: "overloaded_error",
}
DEFAULT_MESSAGES: dict[int, str] = {
    400: "Bad request (simulated upstream fault).",
    401: "invalid x-api-key",
    402: "Your credit balance is too low to access the Anthropic API.",
    403: "Your API key does not have permission to use the specified resource.",
    404: "The requested resource could not be found.",
    413: "Request exceeds the maximum allowed number of bytes.",
    429: "Number of request tokens has exceeded your per-minute rate limit "
         "(https://docs.anthropic.com/en/api/rate-limits); see the response headers for current usage.",
    500: "Internal server error",
    504: "Request timed out",
    529: "Overloaded",
}


class APIError(Exception):
    def __init__(self, status: int, message: str, type_: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_ or ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")

    def body(self, request_id: str) -> dict[str, Any]:
        return error_body(self.type, self.message, request_id)


def error_body(type_: str, message: str, request_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "error", "error": {"type": type_, "message": message}}
    if request_id:
        body["request_id"] = request_id
    return body


def fault(status: int) -> APIError:
    return APIError(status, DEFAULT_MESSAGES.get(status, f"Simulated upstream fault ({status})."))


def new_request_id() -> str:
    return "req_011C" + uuid.uuid4().hex[:20]


def invalid(message: str) -> APIError:
    return APIError(400, message, "invalid_request_error")
