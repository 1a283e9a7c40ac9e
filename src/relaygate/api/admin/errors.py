"""One error shape for every failure: ``{"error": {"message", "type", "code", "param"}}``.

FastAPI's own 422 validation errors become 400s with a message that names the field, and no
request ever gets a traceback back, whatever it sends.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("relaygate.admin")

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    409: "conflict_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    503: "service_unavailable_error",
}


class ApiError(Exception):
    """Raised by handlers; rendered in the error shape with its status."""

    def __init__(self, status: int, message: str, type_: str | None = None, code: str | None = None,
                 param: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_ or _TYPES.get(status, "api_error")
        self.code = code
        self.param = param
        self.headers = headers


def not_found(what: str, ident: object) -> ApiError:
    return ApiError(404, f"{what} {ident} not found", code=f"{what}_not_found")


def bad_request(message: str, param: str | None = None, code: str = "invalid_value") -> ApiError:
    return ApiError(400, message, code=code, param=param)


def error_response(status: int, message: str, type_: str, code: str | None = None,
                   param: str | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"error": {"message": message, "type": type_, "code": code, "param": param}}
    return JSONResponse(body, status_code=status, headers=headers)


def _field_name(loc: Sequence[Any]) -> tuple[str, str]:
    """("body", "keys", 0) -> ("body", "keys[0]"); the first element says where the value was."""
    where = str(loc[0]) if loc else "body"
    path = ""
    for part in loc[1:]:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += ("." if path else "") + str(part)
    return where, path


def _describe(error: dict[str, Any]) -> tuple[str, str | None, str]:
    """A readable sentence for the first validation error, plus the field and an error code."""
    where, field = _field_name(error.get("loc") or ())
    kind = str(error.get("type", ""))
    msg = str(error.get("msg", "invalid value"))
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix):]
    if kind == "json_invalid":
        detail = (error.get("ctx") or {}).get("error", "")
        loc = error.get("loc") or ()
        at = f" at character {loc[1]}" if len(loc) > 1 and isinstance(loc[1], int) else ""
        return f"malformed JSON body{at}{': ' + str(detail) if detail else ''}", None, "invalid_json"
    if kind == "missing" and not field and where == "body":
        return "a JSON object body is required", None, "missing_body"
    if kind == "extra_forbidden":
        return f"unknown field '{field}'", field, "unknown_field"
    if kind == "missing":
        return f"'{field}' is required", field, "missing_field"
    if not field:
        if where == "body" and kind in ("model_attributes_type", "dict_type", "model_type"):
            return "the request body must be a JSON object", None, "invalid_body"
        return msg, None, "invalid_value"
    label = {"query": "query parameter", "path": "path parameter"}.get(where, "field")
    return f"{label} '{field}': {msg}", field, "invalid_value"


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.message, exc.type, exc.code, exc.param, exc.headers)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    message, param, code = _describe(errors[0]) if errors else ("invalid request", None, "invalid_value")
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return error_response(400, message, "invalid_request_error", code, param)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    message = exc.detail if isinstance(exc.detail, str) else "request failed"
    if status == 404 and message == "Not Found":
        message = "no such route"
    return error_response(status, message, _TYPES.get(status, "api_error"), None, None,
                          dict(exc.headers) if exc.headers else None)


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.error("admin API internal error: %s", type(exc).__name__, exc_info=exc)
    return error_response(500, "internal error", "api_error", "internal_error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
