"""What every fuzz test shares: example budgets, the checks on an answer, and the case counter.

``RELAYGATE_FUZZ_EXAMPLES`` scales every budget (``make fuzz`` sets it high); without it the suite
stays within about a minute and a half on a 2-core machine. Generation is derandomized, so a
default run is repeatable and a failure found once is found again.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from typing import Any

import httpx
import jsonschema
from hypothesis import HealthCheck, settings

CASES: Counter[str] = Counter()  # requests sent, per test family; printed in the terminal summary
OUTCOMES: Counter[tuple[str, int]] = Counter()  # (family, status // 100): do valid requests really relay?
_SCALE = os.environ.get("RELAYGATE_FUZZ_EXAMPLES")

# What a Python traceback or a leaked source location looks like in a body.
_LEAKS = re.compile(rb'Traceback \(most recent call last\)|Traceback|File "[^"]*", line \d+|\.py", line \d+')


def examples(default: int) -> int:
    """The example budget of one property: ``default``, or ``RELAYGATE_FUZZ_EXAMPLES`` when set."""
    return int(_SCALE) if _SCALE else default


def fuzz_settings(default: int) -> settings:
    return settings(max_examples=examples(default), derandomize=True, deadline=None, database=None,
                    print_blob=True, suppress_health_check=list(HealthCheck))


_NULLABLE_STR = {"type": ["string", "null"]}
OPENAI_ERROR = {
    "type": "object", "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["message", "type", "param", "code"],
                             "properties": {"message": {"type": "string", "minLength": 1}, "type": {"type": "string"},
                                            "param": _NULLABLE_STR, "code": _NULLABLE_STR}}},
}
ANTHROPIC_ERROR = {
    "type": "object", "required": ["type", "error"],
    "properties": {"type": {"const": "error"},
                   "error": {"type": "object", "required": ["type", "message"],
                             "properties": {"type": {"type": "string"}, "message": {"type": "string"}}}},
}
DEEPL_ERROR = {"type": "object", "required": ["message"], "properties": {"message": {"type": "string"}}}
SHAPES = {"openai": OPENAI_ERROR, "anthropic": ANTHROPIC_ERROR, "deepl": DEEPL_ERROR}


def protocol_of(path: str) -> str:
    """Which error shape a path answers in (the gateway's edge rule, app._edge_error)."""
    if path == "/v1/messages" or path.startswith("/v1/messages/"):
        return "anthropic"
    if path == "/v2/translate":
        return "deepl"
    return "openai"


def leaks(body: bytes) -> bool:
    return _LEAKS.search(body) is not None


def check_answer(status: int, body: bytes, content_type: str, path: str, family: str = "") -> None:
    """The contract of every answer to any input: no 5xx of the gateway's own, nothing of its
    insides in the body, and an error body in the caller's protocol shape."""
    if family:
        CASES[family] += 1
        OUTCOMES[family, status // 100] += 1
    assert status < 500, f"{path}: {status} {body[:500]!r}"
    assert not leaks(body), f"{path}: a traceback in the body: {body[:500]!r}"
    if status >= 400:
        assert content_type.startswith("application/json"), f"{path}: {status} error as {content_type!r}"
        try:
            data = httpx.Response(status, content=body).json()
        except ValueError:
            raise AssertionError(f"{path}: {status} error body is not JSON: {body[:300]!r}") from None
        try:
            jsonschema.validate(data, SHAPES[protocol_of(path)])
        except jsonschema.ValidationError as exc:
            raise AssertionError(f"{path}: {status} error not in {protocol_of(path)} shape: {data!r}") from exc


def check_response(resp: httpx.Response, family: str = "") -> None:
    check_answer(resp.status_code, resp.content, resp.headers.get("content-type", ""), resp.request.url.path,
                 family)


def error_of(resp: httpx.Response) -> dict[str, Any]:
    """The error object of an answer in any of the three shapes."""
    data = resp.json()
    return data.get("error", data)
