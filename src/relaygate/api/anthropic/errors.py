"""Gateway errors in Anthropic's shape: ``{"type": "error", "error": {"type", "message"}}``.

The status is kept, except "overloaded" (an upstream 529, or an OpenAI-style overload), which
Anthropic clients know as 529 ``overloaded_error`` and retry. Error types already in Anthropic's
vocabulary (from a pass-through upstream) are kept; others follow from the status.
"""

from __future__ import annotations

import orjson

from relaygate.api.errors import GatewayError

TYPES_BY_STATUS = {400: "invalid_request_error", 401: "authentication_error", 402: "billing_error",
                   403: "permission_error", 404: "not_found_error", 405: "invalid_request_error",
                   413: "request_too_large", 429: "rate_limit_error", 500: "api_error", 504: "timeout_error",
                   529: "overloaded_error"}
ANTHROPIC_TYPES = frozenset(TYPES_BY_STATUS.values())
OVERLOADED = frozenset({"overloaded", "server_is_overloaded"})


def error_type(status: int) -> str:
    return TYPES_BY_STATUS.get(status, "api_error" if status >= 500 else "invalid_request_error")


def anthropic_error(err: GatewayError, request_id: str | None = None) -> tuple[int, bytes]:
    status = err.status
    if err.code in OVERLOADED or err.type == "overloaded_error":
        status, etype = 529, "overloaded_error"
    elif err.type in ANTHROPIC_TYPES and err.type != "invalid_request_error":
        etype = err.type
    else:
        etype = error_type(status)
    body: dict[str, object] = {"type": "error", "error": {"type": etype, "message": err.message}}
    if request_id:
        body["request_id"] = request_id
    return status, orjson.dumps(body)


def error_event(message: str, etype: str = "api_error") -> bytes:
    return b"event: error\ndata: " + orjson.dumps({"type": "error", "error": {"type": etype,
                                                                              "message": message}}) + b"\n\n"
