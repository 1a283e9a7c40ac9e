"""Helpers shared by the v1 and v2beta handlers: auth, injected faults, credits, seeds."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from aiohttp import web

from .state import StabilityState

_FAULT_NAMES = {400: "bad_request", 401: "unauthorized", 403: "permission_denied", 404: "not_found",
                413: "payload_too_large", 429: "rate_limit_exceeded"}


class StabilityError(Exception):
    def __init__(self, status: int, name: str, message: str) -> None:
        super().__init__(message)
        self.status, self.name, self.message = status, name, message


def auth_error(request: web.Request, state: StabilityState) -> tuple[int, str, str] | None:
    """(status, name, message) when the Bearer key is missing or not accepted."""
    scheme, _, key = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return 401, "unauthorized", "missing authorization header"
    if not state.accepts_key(key.strip()):
        return 401, "unauthorized", "Incorrect API key provided"
    return None


def fault_status(state: StabilityState) -> tuple[int, dict[str, str], str, str]:
    """(status, headers, name, message) of an injected failure."""
    status = state.knobs.fail_status
    headers = {"Retry-After": str(state.knobs.retry_after)} if status == 429 and state.knobs.retry_after else {}
    name = _FAULT_NAMES.get(status, "server_error")
    message = ("You have exceeded the rate limit of 150 requests within a 10 second period" if status == 429
               else f"simulated upstream failure ({status})")
    return status, headers, name, message


def charge(state: StabilityState, cost: float) -> None:
    if cost > state.credits + 1e-9:
        raise StabilityError(402, "payment_required", f"lacking sufficient balance: this request costs {cost:g} "
                             f"credits, the balance is {state.credits:g}")
    state.credits = round(state.credits - cost, 6)


def derived_seed(*parts: Any) -> int:
    digest = hashlib.sha256(orjson.dumps(parts)).digest()
    return int.from_bytes(digest[:4], "big") or 1
