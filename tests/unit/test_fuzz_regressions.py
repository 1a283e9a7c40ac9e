"""Crashes the fuzzers (tests/fuzz) found, pinned at the unit that had them: each was a 500."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from relaygate.api.anthropic.request import parse_messages
from relaygate.api.errors import GatewayError
from relaygate.api.translate.request import parse_translate
from relaygate.billing.estimate import count_prompt_tokens, estimate_prompt_tokens
from relaygate.relay.validate import MAX_NESTING, parse_chat, parse_json_object

HI = {"role": "user", "content": "hi"}


@pytest.mark.parametrize("calls", [5, 1.5, True, None, "abc", {"function": {}}, [None, 3, "x"]])
def test_tool_calls_of_any_type_are_estimated(calls: Any) -> None:
    """`"tool_calls": 5` made the reservation's estimate iterate an int."""
    body = {"model": "m", "messages": [HI, {"role": "assistant", "tool_calls": calls}]}
    assert estimate_prompt_tokens(body, "m") > 0
    assert count_prompt_tokens(body, "m") > 0


def _nested(depth: int) -> bytes:
    """An object whose value is nested so that the body has ``depth`` levels."""
    return b'{"model": "m", "messages": [{"role": "user", "content": "hi"}], "tools": ' + \
        b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"


def test_nesting_up_to_the_limit_is_read_and_can_be_written_again() -> None:
    body = parse_json_object(_nested(MAX_NESTING))
    orjson.dumps({"a": [[[[[[[[[[[[[[[body]]]]]]]]]]]]]]]})  # 16 levels an adapter re-encoding it may add


@pytest.mark.parametrize("depth", [MAX_NESTING + 1, 255, 300, 1000])
def test_nesting_orjson_cannot_write_is_a_400(depth: int) -> None:
    """orjson reads 1024 levels but writes 254: such a body crashed the reservation's estimate (it
    re-encodes tools) and every adapter that re-encodes the body."""
    with pytest.raises(GatewayError) as exc:
        parse_chat(_nested(depth))
    assert exc.value.status == 400 and exc.value.code == "invalid_json"
    with pytest.raises(GatewayError) as exc:
        parse_messages(_nested(depth).replace(b'"tools"', b'"max_tokens": 5, "tools"'), {"headers": []})
    assert exc.value.status == 400


@pytest.mark.parametrize("tools", [b"[" + b",".join([b"[[1]]"] * 400) + b"]", b'["' + b"[{" * 600 + b'"]'])
def test_many_brackets_but_shallow_nesting_is_accepted(tools: bytes) -> None:
    """Bracket counting only lets ordinary bodies skip the check: many siblings, or brackets inside
    strings, still pass it."""
    raw = _nested(2).replace(b"[]", tools)
    assert raw.count(b"[") + raw.count(b"{") > MAX_NESTING
    assert parse_chat(raw).body["tools"] == orjson.loads(tools)


def test_translate_refuses_too_deep_options() -> None:
    raw = b'{"text": ["hi"], "target_lang": "DE", "glossary_id": ' + b"[" * 300 + b"]" * 300 + b"}"
    with pytest.raises(GatewayError) as exc:
        parse_translate(raw, {"headers": [(b"content-type", b"application/json")]})
    assert exc.value.status == 400


@pytest.mark.parametrize("raw", ["\u00b2", "\u00b9\u00b2", "\u2460", "\u0661"])
def test_limits_in_unicode_digits_are_400(raw: str) -> None:
    """``"²".isdigit()`` is true but ``int("²")`` raises: ``?limit=²`` was a 500."""
    from relaygate.relay.endpoints.files import limit_of

    with pytest.raises(GatewayError) as exc:
        limit_of({"limit": raw}, 20, 100)
    assert exc.value.status == 400 and exc.value.param == "limit"
    assert limit_of({"limit": " 7 "}, 20, 100) == 7


@pytest.mark.parametrize("raw", ["\u00b2", "-\u00b2", "\u2460"])
def test_image_counts_in_unicode_digits_are_400(raw: str) -> None:
    from relaygate.relay.endpoints.images import GENERATIONS, read_images
    from relaygate.relay.pipeline import Call

    call = Call(GENERATIONS, {"headers": []}, body={"model": "dall-e-2", "prompt": "x", "n": raw})
    with pytest.raises(GatewayError) as exc:
        read_images(call)
    assert exc.value.status == 400 and exc.value.param == "n"
    call = Call(GENERATIONS, {"headers": []}, body={"model": "dall-e-2", "prompt": "x", "n": "3"})
    read_images(call)
    assert call.units == 3
