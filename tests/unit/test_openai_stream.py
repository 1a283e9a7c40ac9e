"""The OpenAI SSE relay: bytes out as they come in, usage read, usage removed when not asked for."""

from __future__ import annotations

import orjson
import pytest

from relaygate.providers.openai.stream import OpenAIStreamRelay


def chunk(content: str | None = None, finish: str | None = None, usage: dict | None = None,
          choices: bool = True, null_usage: bool = True) -> bytes:
    obj: dict = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    obj["choices"] = [{"index": 0, "delta": {"content": content} if content is not None else {},
                       "finish_reason": finish}] if choices else []
    if usage is not None:
        obj["usage"] = usage
    elif null_usage:
        obj["usage"] = None
    return b"data: " + orjson.dumps(obj) + b"\n\n"


USAGE = {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7,
         "prompt_tokens_details": {"cached_tokens": 3}}
STREAM = chunk("Hel") + chunk("lo") + chunk(finish="stop") + chunk(usage=USAGE, choices=False) + b"data: [DONE]\n\n"


def relay_all(relay: OpenAIStreamRelay, data: bytes, size: int) -> bytes:
    return b"".join(relay.feed(data[i:i + size]) for i in range(0, len(data), size))


@pytest.mark.parametrize("size", [1, 7, 64, len(STREAM)])
def test_caller_who_asked_for_usage_gets_the_stream_unchanged(size: int) -> None:
    relay = OpenAIStreamRelay(strip_usage=False)
    assert relay_all(relay, STREAM, size) == STREAM
    assert relay.done
    assert (relay.usage.prompt_tokens, relay.usage.completion_tokens, relay.usage.cache_read_tokens) == (5, 2, 3)


@pytest.mark.parametrize("size", [1, 13, len(STREAM)])
def test_usage_chunk_and_null_usage_fields_removed_for_a_caller_who_did_not_ask(size: int) -> None:
    relay = OpenAIStreamRelay(strip_usage=True)
    out = relay_all(relay, STREAM, size)
    assert out == (chunk("Hel", null_usage=False) + chunk("lo", null_usage=False)
                   + chunk(finish="stop", null_usage=False) + b"data: [DONE]\n\n")
    assert relay.usage is not None and relay.usage.completion_tokens == 2


def test_usage_on_the_last_content_chunk_is_read_and_the_chunk_kept() -> None:
    # some OpenAI-compatible servers attach usage to the final chunk instead of a separate one
    relay = OpenAIStreamRelay(strip_usage=True)
    out = relay.feed(chunk("Hi") + chunk(finish="stop", usage=USAGE) + b"data: [DONE]\n\n")
    events = [e for e in out.split(b"\n\n") if e.startswith(b"data: {")]
    assert len(events) == 2 and b'"usage"' not in out
    assert orjson.loads(events[1][6:])["choices"][0]["finish_reason"] == "stop"
    assert relay.usage.prompt_tokens == 5


def test_partial_event_is_held_until_complete() -> None:
    relay = OpenAIStreamRelay(strip_usage=False)
    first = chunk("a")
    assert relay.feed(first[:10]) == b""
    assert relay.feed(first[10:]) == first


def test_crlf_framing_is_normalised() -> None:
    relay = OpenAIStreamRelay(strip_usage=False)
    out = relay.feed(chunk("x").replace(b"\n", b"\r\n") + b"data: [DONE]\r\n\r\n")
    assert out == chunk("x") + b"data: [DONE]\n\n" and relay.done


def test_error_event_mid_stream_is_forwarded_and_noted() -> None:
    relay = OpenAIStreamRelay(strip_usage=True)
    err = b'data: {"error":{"message":"overloaded","type":"server_error","code":"x"}}\n\n'
    out = relay.feed(chunk("a", null_usage=False) + err)
    assert out.endswith(err) and relay.error is not None and relay.error.message == "overloaded"
    assert not relay.done


def test_comments_and_keepalives_pass_and_completion_text_collects_what_was_relayed() -> None:
    relay = OpenAIStreamRelay(strip_usage=True)
    tool = (b'data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c","type":"function",'
            b'"function":{"name":"get","arguments":"{\\"a\\":1}"}}]}}]}\n\n')
    out = relay.feed(b": keep-alive\n\n" + chunk("Hel") + chunk("lo") + tool)
    assert out.startswith(b": keep-alive\n\n")
    assert relay.completion_text() == 'Hello' + 'get{"a":1}'
    assert relay.usage is None


def test_text_that_mentions_usage_or_done_is_not_mistaken_for_them() -> None:
    relay = OpenAIStreamRelay(strip_usage=True)
    tricky = chunk('"usage":{"x":1} and data: [DONE]', null_usage=False)
    assert relay.feed(tricky) == tricky
    assert relay.usage is None and not relay.done


def test_malformed_events_are_dropped_not_passed_to_the_caller() -> None:
    relay = OpenAIStreamRelay(strip_usage=False)
    out = relay.feed(b"data: this is not json\n\n" + chunk("a") + b'data: {"broken": \n\n' + chunk("b"))
    assert out == chunk("a") + chunk("b")
    assert relay.dropped == 2


def test_a_truncated_json_event_alone_in_a_read_is_dropped() -> None:
    relay = OpenAIStreamRelay(strip_usage=False)
    assert relay.feed(b'data: {"id":"chatcmpl-1","choices":[{"index":0,"delta":{"cont\n\n') == b""
    assert relay.feed(chunk("ok")) == chunk("ok") and relay.dropped == 1


def test_a_malformed_event_ahead_of_the_usage_chunk_in_one_read_is_still_dropped() -> None:
    # Under load one read holds many events; plain ones ahead of the usage chunk pass unparsed,
    # but only when they are all whole JSON events.
    relay = OpenAIStreamRelay(strip_usage=True)
    out = relay.feed(chunk("a") + b"data: not json\n\n" + chunk("b") + chunk(usage=USAGE, choices=False)
                     + b"data: [DONE]\n\n")
    assert out == chunk("a", null_usage=False) + chunk("b", null_usage=False) + b"data: [DONE]\n\n"
    assert relay.dropped == 1 and relay.done and relay.usage is not None and relay.usage.prompt_tokens == 5


def test_many_content_chunks_then_usage_and_done_in_one_read() -> None:
    relay = OpenAIStreamRelay(strip_usage=False)
    block = b"".join(chunk(f"w{i}") for i in range(40)) + chunk(usage=USAGE, choices=False) + b"data: [DONE]\n\n"
    assert relay.feed(block) == block
    assert relay.done and relay.usage is not None and relay.usage.completion_tokens == 2
    assert relay.completion_text() == "".join(f"w{i}" for i in range(40))


@pytest.mark.parametrize("strip", [False, True])
def test_one_whole_event_per_read_as_most_upstreams_write_them(strip: bool) -> None:
    relay = OpenAIStreamRelay(strip_usage=strip)
    events = [e + b"\n\n" for e in STREAM.split(b"\n\n") if e]
    out = [relay.feed(e) for e in events]
    if strip:
        assert out == [chunk("Hel", null_usage=False), chunk("lo", null_usage=False),
                       chunk(finish="stop", null_usage=False), b"", b"data: [DONE]\n\n"]
    else:
        assert out == events
    assert relay.done and relay.usage is not None and relay.usage.cache_read_tokens == 3
    assert relay.completion_text() == "Hello"


def test_an_error_event_or_a_second_data_line_in_one_read_is_not_passed_blindly() -> None:
    relay = OpenAIStreamRelay(strip_usage=False)
    err = b'data: {"error":{"message":"overloaded","type":"server_error","code":"busy"}}\n\n'
    assert relay.feed(err) == err and relay.error is not None and relay.error.code == "busy"
    relay = OpenAIStreamRelay(strip_usage=False)
    assert relay.feed(b'data: {"a":1}\ndata: not json}\n\n') == b""  # one event of two data lines, not JSON
    assert relay.dropped == 1
