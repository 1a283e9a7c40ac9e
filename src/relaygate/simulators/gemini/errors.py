"""Google RPC error bodies: ``{"error": {"code", "message", "status", "details"?}}``."""

from __future__ import annotations

from typing import Any

STATUS_NAMES: dict[int, str] = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
                                404: "NOT_FOUND", 409: "ABORTED", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL",
                                501: "NOT_IMPLEMENTED", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}
DEFAULT_MESSAGES: dict[int, str] = {
    400: "Request contains an invalid argument.",
    403: "The caller does not have permission",
    404: "Requested entity was not found.",
    429: "You exceeded your current quota, please check your plan and billing details.",
    500: "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
    503: "The model is overloaded. Please try again later.",
    504: "Deadline expired before operation could complete.",
}
MISSING_KEY = ("Method doesn't allow unregistered callers (callers without established identity). Please use API "
               "Key or other form of API consumer identity to call this API.")
BAD_KEY = "API key not valid. Please pass a valid API key."


class APIError(Exception):
    def __init__(self, status: int, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details

    def body(self) -> dict[str, Any]:
        return error_body(self.status, self.message, self.details)


def error_body(status: int, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": status, "message": message, "status": STATUS_NAMES.get(status, "UNKNOWN")}
    if details:
        err["details"] = details
    return {"error": err}


def bad_key() -> APIError:
    return APIError(400, BAD_KEY, [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                                    "domain": "googleapis.com",
                                    "metadata": {"service": "generativelanguage.googleapis.com"}}])


def fault(status: int, retry_after: int | None) -> APIError:
    details = None
    if status == 429:
        details = [{"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [
            {"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
             "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}]}]
        if retry_after is not None:
            details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{retry_after}s"})
    return APIError(status, DEFAULT_MESSAGES.get(status, f"Simulated upstream fault ({status})."), details)


def invalid(message: str) -> APIError:
    return APIError(400, message)
