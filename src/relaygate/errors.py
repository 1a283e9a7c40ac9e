"""The error every layer may raise for the caller to see; rendered in the caller's protocol at the edge.

It lives at the bottom of the package so that billing and the store can refuse a request
(a quota store that is down, say) without importing the HTTP layer.
"""

from __future__ import annotations


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
        from relaygate.api.errors import openai_error_body

        return openai_error_body(self.message, self.type, self.code, self.param)
