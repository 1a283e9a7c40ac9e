"""Error bodies exactly as OpenAI and Azure OpenAI shape them.

OpenAI always sends the 4-key object ``{"error": {"message", "type", "param", "code"}}``; Azure's
own front door (auth, routing, quota) sends ``{"error": {"code", "message"}}`` instead. The gateway
has to cope with both, so the simulator reproduces both rather than normalising.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

KEY_PAGE = "https://platform.openai.com/account/api-keys"


class APIError(Exception):
    """An OpenAI-style failure; handlers turn it into a JSON response with :meth:`body`."""

    def __init__(
        self,
        status: int,
        message: str,
        type_: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.param = param
        self.code = code

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.type, self.param, self.code)


def error_body(
    message: str, type_: str = "invalid_request_error", param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """The 4-key OpenAI error object; all keys always present, as the spec requires."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status, body=orjson.dumps(body), content_type="application/json", headers=headers
    )


def mask_key(key: str) -> str:
    """Mask like OpenAI's 401 message: keep an ``sk-`` prefix and the last 4 characters."""
    prefix = "sk-" if key.startswith("sk-") else ""
    rest = key[len(prefix) :]
    if len(rest) <= 4:
        return prefix + "*" * len(rest)
    return prefix + "*" * (len(rest) - 4) + rest[-4:]


def missing_key_error() -> APIError:
    return APIError(
        401,
        "You didn't provide an API key. You need to provide your API key in an Authorization header "
        "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank "
        "username) if you're accessing the API from your browser and are prompted for a username and "
        f"password. You can obtain an API key from {KEY_PAGE}.",
        code="invalid_api_key",
    )


def wrong_key_error(key: str) -> APIError:
    return APIError(
        401,
        f"Incorrect API key provided: {mask_key(key)}. You can find your API key at {KEY_PAGE}.",
        code="invalid_api_key",
    )


def model_not_found(model: str) -> APIError:
    return APIError(
        404,
        f"The model `{model}` does not exist or you do not have access to it.",
        code="model_not_found",
    )


_DEFAULT_FAULTS: dict[int, tuple[str, str, str | None]] = {
    400: ("Bad request (simulated upstream fault).", "invalid_request_error", None),
    401: (f"Incorrect API key provided. You can find your API key at {KEY_PAGE}.",
          "invalid_request_error", "invalid_api_key"),
    403: ("You are not allowed to sample from this model", "invalid_request_error", None),
    404: ("The model does not exist or you do not have access to it.", "invalid_request_error",
          "model_not_found"),
    408: ("Request timed out.", "timeout", None),
    409: ("The request conflicts with another in-flight request.", "invalid_request_error", None),
    429: ("Rate limit reached for requests in organization org-simulated on requests per min (RPM): "
          "Limit 3, Used 3, Requested 1. Please try again in 20s. Visit "
          "https://platform.openai.com/account/rate-limits to learn more.", "requests",
          "rate_limit_exceeded"),
    500: ("The server had an error while processing your request. Sorry about that!", "server_error",
          None),
    502: ("Bad gateway.", "server_error", None),
    503: ("The engine is currently overloaded, please try again later.", "service_unavailable_error",
          "server_is_overloaded"),
    504: ("Gateway timeout.", "server_error", None),
}


def default_fault_body(status: int) -> dict[str, Any]:
    """A realistic OpenAI error body for an injected failure with this status."""
    if status in _DEFAULT_FAULTS:
        message, type_, code = _DEFAULT_FAULTS[status]
    elif status >= 500:
        message, type_, code = f"Upstream error {status} (simulated).", "server_error", None
    else:
        message, type_, code = f"Request failed with status {status} (simulated).", "invalid_request_error", None
    return error_body(message, type_, None, code)


# --- Azure OpenAI front-door errors (2-key shape) ---------------------------------------------


def azure_error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


AZURE_NOT_FOUND = azure_error("404", "Resource not found")
AZURE_MISSING_KEY = azure_error(
    "401",
    "Access denied due to missing subscription key. Make sure to include subscription key when "
    "making requests to an API.",
)
AZURE_BAD_KEY = azure_error(
    "401",
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a "
    "valid key for an active subscription and use a correct regional API endpoint for your resource.",
)
AZURE_DEPLOYMENT_NOT_FOUND = azure_error(
    "DeploymentNotFound",
    "The API deployment for this resource does not exist. If you created the deployment within the "
    "last 5 minutes, please wait a moment and try again.",
)


def azure_rate_limit_body(api_version: str, retry_after: int | None) -> dict[str, Any]:
    """Azure's quota 429 text names the operation, API version and the wait time."""
    wait = retry_after if retry_after is not None else 1
    return azure_error(
        "429",
        f"Requests to the ChatCompletions_Create Operation under Azure OpenAI API version {api_version} "
        "have exceeded call rate limit of your current OpenAI S0 pricing tier. Please retry after "
        f"{wait} seconds. Please go here: https://aka.ms/oai/quotaincrease if you would like to further "
        "increase the default rate limit.",
    )
