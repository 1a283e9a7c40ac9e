"""The error every layer may raise for the caller to see; rendered in the caller's protocol at the edge.

It lives at the bottom of the package so that billing and the store can refuse a request
(a quota store that is down, say) without importing the HTTP layer.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator


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


@contextlib.contextmanager
def unavailable_as_503(store: str, code: str, errors: tuple[type[BaseException], ...],
                       log: logging.Logger) -> Iterator[None]:
    """A request must not pass unchecked while a shared store (quota, rate limits) is down: refuse
    it, clearly and retryably. ``errors`` are the store client's failures."""
    try:
        yield
    except errors as exc:
        log.error("%s unavailable: %s", store, exc)
        raise GatewayError(503, f"The {store} is unavailable; try again shortly.", "service_unavailable",
                           code, headers={"Retry-After": "1"}) from None
