"""Property tests of ``POST /v1/chat/completions``: a valid request, broken at one place at a time.

Whatever the break, the answer is a 2xx or a 4xx in OpenAI's error shape, never a 5xx or a traceback;
where the gateway itself checks the field (model, messages, stream, n, max_tokens, stream_options), a
value it must refuse is a 400 naming that field."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.conftest import MAX_BODY_BYTES, MODELS, FuzzEnv
from tests.fuzz.harness import check_response, error_of, fuzz_settings
from tests.fuzz.mutations import (
    EDGE_NUMBERS,
    Path,
    as_parsed,
    at,
    encode,
    is_int_in,
    is_true_int,
    remove,
    replace,
    values,
)

MODEL = MODELS["chat"]
VALID: dict[str, Any] = {
    "model": MODEL, "max_tokens": 16, "n": 1, "stream": False, "temperature": 0.5,
    "messages": [{"role": "system", "content": "be brief"},
                 {"role": "user", "content": [{"type": "text", "text": "hi"}]},
                 {"role": "assistant", "content": None,
                  "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                 {"role": "tool", "tool_call_id": "c1", "content": "42"}],
    "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
}
PATHS: list[Path] = [
    ("model",), ("messages",), ("stream",), ("n",), ("max_tokens",), ("max_completion_tokens",),
    ("stream_options",), ("stream_options_usage",), ("temperature",), ("top_p",), ("seed",), ("stop",),
    ("tools",), ("tool_choice",), ("functions",), ("function_call",), ("response_format",), ("logit_bias",),
    ("user",), ("modalities",), ("audio",), ("reasoning_effort",), ("max_output_tokens",),
    ("messages", 0), ("messages", 1, "role"), ("messages", 1, "content"), ("messages", 1, "content", 0),
    ("messages", 1, "content", 0, "type"), ("messages", 1, "content", 0, "text"), ("messages", 1, "name"),
    ("messages", 2, "tool_calls"), ("messages", 2, "tool_calls", 0), ("messages", 2, "tool_calls", 0, "function"),
    ("messages", 2, "function_call"), ("messages", 3, "tool_call_id"), ("tools", 0), ("tools", 0, "function"),
]


def _expected_param(path: Path, value: Any) -> str | None:
    """The field a 400 must name when the gateway's own checks refuse this value, else None."""
    name = path[0]
    if len(path) == 1:
        if name == "model" and not (isinstance(value, str) and value.strip() and len(value) <= 256):
            return "model"
        if name == "messages" and not (isinstance(value, list) and value):
            return "messages"
        if name == "stream" and value is not None and not isinstance(value, bool):
            return "stream"
        if name == "n" and value is not None and not is_int_in(value, 1, 128):
            return "n"
        if name in ("max_tokens", "max_completion_tokens") and value is not None \
                and not is_int_in(value, 1, 10_000_000):
            return str(name)
        if name == "stream_options" and value is not None and not isinstance(value, dict):
            return "stream_options"
    if path == ("messages", 0) and not (isinstance(value, dict) and isinstance(value.get("role"), str)):
        return "messages[0]"
    if path == ("messages", 1, "role") and not isinstance(value, str):
        return "messages[1]"
    return None


def _post(fuzz: FuzzEnv, body: Any, family: str):  # type: ignore[no-untyped-def]
    raw = encode(body)
    resp = fuzz.http.post("/v1/chat/completions", content=raw, headers={"Content-Type": "application/json"})
    check_response(resp, family)
    assert (resp.status_code == 413) == (len(raw) > MAX_BODY_BYTES), (len(raw), resp.status_code, resp.text[:300])
    if resp.status_code == 200 and not (isinstance(body, dict) and body.get("stream") is True):
        assert isinstance(resp.json().get("choices"), list), resp.text[:300]
    return resp


def test_the_valid_request_relays(fuzz: FuzzEnv) -> None:
    resp = _post(fuzz, VALID, "chat: valid")
    assert resp.status_code == 200, resp.text


@fuzz_settings(150)
@given(path=st.sampled_from(PATHS), value=values)
def test_one_field_replaced(fuzz: FuzzEnv, path: Path, value: Any) -> None:
    if path == ("stream_options_usage",):
        path, value = ("stream_options",), {"include_usage": value}
    body = replace(VALID, path, value)
    resp = _post(fuzz, body, "chat: one field replaced")
    parsed = as_parsed(body)
    if resp.status_code == 413:
        return
    if parsed is None:  # not JSON the gateway can read (NaN, a lone surrogate, nested too deep)
        assert resp.status_code == 400 and error_of(resp)["code"] == "invalid_json", resp.text[:300]
        return
    expected = _expected_param(path, at(parsed, path))
    if expected is not None:
        assert resp.status_code == 400, (path, value, resp.status_code, resp.text[:300])
        assert error_of(resp)["param"] == expected, (path, value, resp.text[:300])


@fuzz_settings(40)
@given(path=st.sampled_from([p for p in PATHS if p[-1] not in ("stream_options_usage",)]))
def test_one_field_removed(fuzz: FuzzEnv, path: Path) -> None:
    try:
        body = remove(VALID, path)
    except (KeyError, IndexError):
        return
    _post(fuzz, body, "chat: one field removed")


numbers = st.one_of(st.sampled_from(EDGE_NUMBERS), st.integers(), st.floats(allow_nan=True, allow_infinity=True))


@fuzz_settings(80)
@given(name=st.sampled_from(["n", "max_tokens", "max_completion_tokens", "max_output_tokens", "temperature",
                             "top_p", "seed", "presence_penalty", "top_logprobs"]),
       value=numbers, stream=st.booleans())
def test_numbers_at_their_edges(fuzz: FuzzEnv, name: str, value: Any, stream: bool) -> None:
    """Huge n or max_tokens must not turn into a 5xx (a reservation too big for the ledger, an overflow)."""
    body = {**VALID, "stream": stream, name: value}
    resp = _post(fuzz, body, "chat: numbers")
    bad_json = isinstance(value, float) and not math.isfinite(value)
    if name in ("n", "max_tokens", "max_completion_tokens"):
        low, high = (1, 128) if name == "n" else (1, 10_000_000)
        if bad_json or not (is_true_int(value) and low <= value <= high):
            assert resp.status_code == 400, (name, value, resp.text[:300])


@fuzz_settings(30)
@given(size=st.integers(min_value=1, max_value=60_000), char=st.sampled_from(["a", "\u00e9", "\U0001f600", "\x00"]),
       where=st.sampled_from([("messages", 1, "content"), ("model",), ("messages", 1, "role"), ("user",)]))
def test_huge_strings(fuzz: FuzzEnv, size: int, char: str, where: Path) -> None:
    """Up to and past the body limit: a relay, a 4xx, or the 413 of an oversized body."""
    _post(fuzz, replace(VALID, where, char * size), "chat: huge strings")
