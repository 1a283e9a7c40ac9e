"""Checks the few things the gateway relies on in a chat body; everything else passes through.

Whole-body validation with heavyweight models is deliberately avoided: upstreams validate
their own fields, and the gateway must not reject fields it does not know yet.
"""

from __future__ import annotations

from typing import Any

import orjson

from relaygate.api.errors import bad_request
from relaygate.providers.base import ChatRequest

MAX_OUTPUT_TOKENS = 10_000_000
MAX_N = 128
# orjson reads JSON nested up to 1024 levels but writes at most 254, and adapters that convert a body
# re-encode caller values inside a few levels of their own: deeper bodies are refused at the edge,
# or they would fail (a 500) wherever the gateway writes them again.
NESTING_HEADROOM = 16
MAX_NESTING = 254 - NESTING_HEADROOM


def parse_json_object(raw: bytes) -> dict[str, Any]:
    if not raw:
        raise bad_request("The request body is empty; expected a JSON object.")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"The request body is not valid JSON: {exc}.", code="invalid_json") from None
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.", code="invalid_json")
    check_nesting(body, raw)
    return body


def check_nesting(body: Any, raw: bytes | None = None) -> None:
    """400 for a body nested deeper than :data:`MAX_NESTING`.

    Nesting needs an opening bracket per level, so a raw body with few of them (every ordinary
    request: two ``bytes.count`` calls, C speed) passes at once; otherwise one ``orjson.dumps``,
    cheaper than walking the body in Python."""
    if raw is not None and raw.count(b"[") + raw.count(b"{") <= MAX_NESTING:
        return
    wrapped = body
    for _ in range(NESTING_HEADROOM):
        wrapped = [wrapped]
    try:
        orjson.dumps(wrapped)
    except orjson.JSONEncodeError:
        raise bad_request(f"The request body is nested too deeply (at most {MAX_NESTING} levels).",
                          code="invalid_json") from None


def parse_chat(raw: bytes) -> ChatRequest:
    body = parse_json_object(raw)
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise bad_request("you must provide a model parameter", "model", "missing_required_parameter")
    if len(model) > 256:
        raise bad_request("model name is too long", "model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise bad_request("'messages' must be a non-empty array of message objects.", "messages")
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict) or not isinstance(msg.get("role"), str):
            raise bad_request(f"messages[{i}] must be an object with a string 'role'.", f"messages[{i}]")
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise bad_request("'stream' must be a boolean.", "stream")
    check_int(body, "n", 1, MAX_N)
    for name in ("max_tokens", "max_completion_tokens"):
        check_int(body, name, 1, MAX_OUTPUT_TOKENS)
    options = body.get("stream_options")
    wants_usage = False
    if options is not None:
        if not isinstance(options, dict):
            raise bad_request("'stream_options' must be an object.", "stream_options")
        wants_usage = options.get("include_usage") is True
    return ChatRequest(body=body, model=model, stream=bool(stream), wants_usage=wants_usage, raw=raw)


def check_int(body: dict[str, Any], name: str, low: int, high: int) -> None:
    value = body.get(name)
    if value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool):
        raise bad_request(f"'{name}' must be an integer.", name, "invalid_type")
    if not low <= value <= high:
        raise bad_request(f"'{name}' must be between {low} and {high}.", name, "invalid_value")
