"""Odd but parseable input never crashes a conversion: it converts, or it is a clean 400.

Bodies here pass the edge validation (relay/validate.py), so they do reach the adapters; upstream
streams here are malformed in ways a broken upstream or proxy produces.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from relaygate.api.anthropic.request import parse_messages
from relaygate.api.anthropic.stream import AnthropicEvents
from relaygate.api.errors import GatewayError
from relaygate.providers.anthropic import AnthropicAdapter
from relaygate.providers.anthropic.native import AnthropicPassthrough
from relaygate.providers.base import ChatRequest, UpstreamFailure
from relaygate.providers.gemini import GeminiAdapter
from relaygate.relay.validate import parse_chat
from relaygate.state.snapshot import ChannelInfo

CHANNEL = ChannelInfo(id=1, name="c", type="x", base_url="https://up.test", keys=("k",), models=frozenset(),
                      model_mapping={}, groups=frozenset({"default"}), priority=0, weight=1, status="enabled",
                      config={}, timeout_s=None)
M = [{"role": "user", "content": "hi"}]

HOSTILE: list[dict[str, Any]] = [
    {"messages": M, "tools": 5}, {"messages": M, "tools": {"a": 1}}, {"messages": M, "tools": [None, 3]},
    {"messages": M, "functions": "f"}, {"messages": M, "tool_choice": ["x"], "tools": []},
    {"messages": M, "tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": {"function": 3}},
    {"messages": M, "reasoning_effort": ["high"]}, {"messages": M, "reasoning_effort": {"x": 1}},
    {"messages": M, "stop": 7}, {"messages": M, "stop": [1, None, "ok"]}, {"messages": M, "temperature": "hot"},
    {"messages": M, "response_format": "json"}, {"messages": M, "response_format": {"type": "json_schema",
                                                                                     "json_schema": 4}},
    {"messages": M, "user": 42}, {"messages": M, "thinking": "yes"},
    {"messages": [{"role": "user", "content": 5}]}, {"messages": [{"role": "user", "content": [1, "x", None]}]},
    {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": ["u"]}]}]},
    {"messages": [{"role": "user", "content": [{"type": "image_url"}]}]},
    {"messages": [{"role": "assistant", "content": None, "tool_calls": 3}, *M]},
    {"messages": [{"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": "{bad"}}]}, *M]},
    {"messages": [{"role": "assistant", "function_call": {"name": 5}}, *M]},
    {"messages": [{"role": "tool", "tool_call_id": 9, "content": {"x": 1}}]},
    {"messages": [{"role": "function", "content": None}]}, {"messages": [{"role": "wizard", "content": "x"}]},
    {"messages": [{"role": "system", "content": [{"type": "text", "text": 3}]}, *M]},
]


@pytest.mark.parametrize("adapter", [AnthropicAdapter(), GeminiAdapter()], ids=["anthropic", "gemini"])
@pytest.mark.parametrize("body", HOSTILE)
def test_adapters_convert_or_refuse_cleanly(adapter: Any, body: dict[str, Any]) -> None:
    req = parse_chat(orjson.dumps({"model": "claude-x", **body}))
    req.upstream_model, req.output_limit = "up", 100
    try:
        up = adapter.build_chat(CHANNEL, "k", req)
    except UpstreamFailure as exc:
        assert exc.error.status == 400  # the caller's error, never a 500
        return
    assert isinstance(orjson.loads(up.body), dict)


@pytest.mark.parametrize("body", [
    {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [5, {"type": "tool_result",
                                                                                   "content": 7}]}]},
    {"model": "m", "max_tokens": 5, "messages": M, "stop_sequences": 5, "tools": "x", "system": {"a": 1}},
    {"model": "m", "max_tokens": 5, "messages": M, "tools": [{"name": 3, "input_schema": 4}], "tool_choice": "any"},
    {"model": "m", "max_tokens": 5, "messages": [{"role": "assistant", "content": [{"type": "tool_use"}]}]},
    {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "image", "source": 3}]}]},
    {"model": "m", "max_tokens": 5, "messages": M, "metadata": [1]},
])
def test_messages_bodies_convert_or_refuse_cleanly(body: dict[str, Any]) -> None:
    try:
        req = parse_messages(orjson.dumps(body), {"headers": []})
    except GatewayError as err:
        assert err.status == 400
        return
    assert isinstance(req.body["messages"], list)


GARBAGE = [
    b"data: not json\n\n", b"data: [1, 2]\n\n", b'data: {"type": 5}\n\n', b"event: x\n\n", b": comment\n\n",
    b'data: {"type":"content_block_start","index":[1],"content_block":{"type":"tool_use"}}\n\n',
    b'data: {"type":"content_block_delta","index":{"a":1},"delta":{"type":"text_delta","text":5}}\n\n',
    b'data: {"type":"message_start","message":"x"}\n\n', b'data: {"type":"message_delta","usage":[1]}\n\n',
    b'data: {"candidates":[{"index":"0","content":{"parts":[{"functionCall":{"args":[1]}}]}}]}\n\n',
    b'data: {"choices":[{"delta":{"tool_calls":[{"index":[0]}]}}],"usage":7}\n\n',
    b'data: {"choices":[{"delta":{"tool_calls":5,"content":3}}]}\n\n', b'data: {"error": "boom"}\n\n',
]


def test_stream_relays_survive_garbage() -> None:
    req = ChatRequest(body={"model": "m", "messages": M}, model="m", stream=True, wants_usage=True,
                      upstream_model="m", output_limit=10)
    relays = [AnthropicAdapter().stream_relay(req), GeminiAdapter().stream_relay(req),
              AnthropicPassthrough().stream_relay(req), AnthropicEvents(req)]
    for relay in relays:
        for chunk in GARBAGE:
            assert isinstance(relay.feed(chunk), bytes)
