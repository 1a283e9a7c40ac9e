"""Upstream faults, one by one, with one channel and with a second to fail over to.

For each: what the caller sees, that exactly one usage record exists, that its cost matches its
tokens, and that the balance moved by exactly that cost — never charged twice, never charged for
what was not delivered.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import orjson
import pytest

from tests.gateway import Gateway, micro, unique_model
from tests.services import free_port

PRICE_IN, PRICE_OUT = 1_000_000, 2_000_000  # micro-units per 1M tokens ("1.00", "2.00")


@dataclass
class Outcome:
    status: int
    text: str
    done: bool
    error: dict | None


def call(gw: Gateway, key: str, model: str, stream: bool) -> Outcome:
    body = {"model": model, "stream": stream, "messages": [{"role": "user", "content": "fault test"}]}
    headers = {"Authorization": f"Bearer {key}"}
    if not stream:
        resp = httpx.post(f"{gw.url}/v1/chat/completions", json=body, headers=headers, timeout=30)
        data = resp.json()
        if resp.status_code != 200:
            return Outcome(resp.status_code, "", False, data["error"])
        return Outcome(200, data["choices"][0]["message"]["content"], True, None)
    text, done, error = "", False, None
    with httpx.stream("POST", f"{gw.url}/v1/chat/completions", json=body, headers=headers, timeout=30) as resp:
        if resp.status_code != 200:
            resp.read()
            return Outcome(resp.status_code, "", False, resp.json()["error"])
        for line in resp.iter_lines():
            if line == "data: [DONE]":
                done = True
            elif line.startswith("data: "):
                event = orjson.loads(line[6:])  # every event the caller gets must be JSON
                if "error" in event:
                    error = event["error"]
                else:
                    text += "".join(c["delta"].get("content") or "" for c in event["choices"])
    return Outcome(200, text, done, error)


@pytest.fixture(params=["h1", "aiohttp"])
def gw(request: pytest.FixtureRequest, gateway: Gateway) -> Gateway:
    """Every fault through both HTTP clients a chat call can go out on (RELAYGATE_UPSTREAM_CLIENT):
    the default on the session's gateway, aiohttp on the session's second gateway (SQLite)."""
    return gateway if request.param == "h1" else request.getfixturevalue("aiohttp_gateway")


@pytest.fixture()
def pair(gw: Gateway, sim, sim2):  # type: ignore[no-untyped-def]
    """Returns a function building one or two channels for a fresh model, and a funded key."""
    def build(channels: int, first_url: str | None = None, timeout_s: float | None = None):  # type: ignore[no-untyped-def]
        model = unique_model()
        gw.channel(first_url or sim.base_url, [model], priority=10, timeout_s=timeout_s)
        if channels == 2:
            gw.channel(sim2.base_url, [model], priority=0)
        gw.price(model, "1.00", "2.00")
        user, key = gw.funded_key("10.00")
        return model, user, key
    return build


def single_record(gw: Gateway, user: dict, key: dict) -> dict:
    [rec] = gw.logs(key_id=key["id"])
    expected = -(-(rec["prompt_tokens"] * PRICE_IN + rec["completion_tokens"] * PRICE_OUT) // 1_000_000)
    assert micro(rec["cost"]) == expected, rec
    assert micro(gw.get_user(user["id"])["balance"]) == 10_000_000 - expected, "charged twice or not at all"
    return rec


def channel_failures(gw: Gateway, model: str) -> int:
    chans = [c for c in gw.api("GET", "/api/channels")["data"] if model in c["models"]]
    return sum(c.get("health", {}).get("consecutive_failures", 0) for c in chans)


MODES = [pytest.param(s, n, id=f"{'stream' if s else 'whole'}-{n}ch") for s in (False, True) for n in (1, 2)]


@pytest.mark.parametrize(("stream", "channels"), MODES)
def test_connection_refused(gw: Gateway, pair, sim2, stream: bool, channels: int) -> None:  # type: ignore[no-untyped-def]
    model, user, key = pair(channels, first_url=f"http://127.0.0.1:{free_port()}/v1")
    out = call(gw, key["key"], model, stream)
    rec = single_record(gw, user, key)
    if channels == 2:
        assert out.status == 200 and out.text and out.done and rec["tries"] == 2 and micro(rec["cost"]) > 0
    else:
        assert out.status == 502 and out.error["code"] == "upstream_unreachable" and micro(rec["cost"]) == 0


@pytest.mark.parametrize(("stream", "channels"), MODES)
def test_timeout_before_first_byte(gw: Gateway, pair, sim, stream: bool, channels: int) -> None:  # type: ignore[no-untyped-def]
    model, user, key = pair(channels, timeout_s=0.5)
    sim.knobs.hang = True
    out = call(gw, key["key"], model, stream)
    rec = single_record(gw, user, key)
    if channels == 2:
        assert out.status == 200 and out.done and out.text
    else:
        assert out.status == 504 and out.error["code"] == "upstream_timeout" and micro(rec["cost"]) == 0


@pytest.mark.parametrize("channels", [1, 2])
def test_connection_reset_after_some_chunks(gw: Gateway, pair, sim, channels: int) -> None:  # type: ignore[no-untyped-def]
    model, user, key = pair(channels)
    sim.knobs.stream_cut_after = 5
    out = call(gw, key["key"], model, True)
    rec = single_record(gw, user, key)
    # bytes already reached the caller, so no failover: a clear error event ends the stream
    assert out.status == 200 and not out.done and out.error["code"] == "stream_incomplete"
    assert len(out.text.split()) == 5
    assert rec["outcome"] == "upstream_error" and rec["usage_source"] == "local"
    assert 0 < rec["completion_tokens"] <= 10, "billed beyond what was delivered"


@pytest.mark.parametrize("channels", [1, 2])
def test_error_event_mid_stream(gw: Gateway, pair, sim, channels: int) -> None:  # type: ignore[no-untyped-def]
    model, user, key = pair(channels)
    sim.knobs.stream_error_after = 3
    out = call(gw, key["key"], model, True)
    rec = single_record(gw, user, key)
    assert out.status == 200 and not out.done and out.error is not None
    assert len(out.text.split()) == 3 and rec["outcome"] == "upstream_error"
    assert 0 < rec["completion_tokens"] <= 6


@pytest.mark.parametrize(("stream", "channels"), MODES)
def test_5xx_burst(gw: Gateway, pair, sim, stream: bool, channels: int) -> None:  # type: ignore[no-untyped-def]
    model, _user, key = pair(channels)
    sim.knobs.fail_next = 2
    sim.knobs.fail_status = 502
    first = call(gw, key["key"], model, stream)
    if channels == 2:
        assert first.status == 200 and first.done
    else:
        assert first.status == 502 and first.error is not None
    assert channel_failures(gw, model) >= 1
    records = gw.logs(key_id=key["id"])
    assert len(records) == 1


@pytest.mark.parametrize(("stream", "channels"), MODES)
def test_429_with_retry_after(gw: Gateway, pair, sim, stream: bool, channels: int) -> None:  # type: ignore[no-untyped-def]
    model, user, key = pair(channels)
    sim.knobs.fail_next = 5
    sim.knobs.fail_status = 429
    sim.knobs.retry_after = 3
    out = call(gw, key["key"], model, stream)
    rec = single_record(gw, user, key)
    if channels == 2:
        assert out.status == 200 and out.done and micro(rec["cost"]) > 0
    else:
        assert out.status == 429 and micro(rec["cost"]) == 0


@pytest.mark.parametrize(("stream", "channels"), MODES)
def test_malformed_json(gw: Gateway, pair, sim, stream: bool, channels: int) -> None:  # type: ignore[no-untyped-def]
    model, user, key = pair(channels)
    sim.knobs.malformed_json = True
    out = call(gw, key["key"], model, stream)  # call() parses every event: garbage would raise
    rec = single_record(gw, user, key)
    if stream:
        assert out.status == 200 and out.done and out.text and micro(rec["cost"]) > 0
    elif channels == 2:
        assert out.status == 200 and out.done and rec["tries"] == 2
    else:
        assert out.status == 502 and out.error["code"] == "bad_upstream_response" and micro(rec["cost"]) == 0


@pytest.mark.parametrize("channels", [1, 2])
def test_trickle_slower_than_the_idle_timeout(gw: Gateway, pair, sim, channels: int) -> None:  # type: ignore[no-untyped-def]
    model, user, key = pair(channels, timeout_s=0.4)
    sim.knobs.trickle_ms = 1000
    out = call(gw, key["key"], model, True)
    rec = single_record(gw, user, key)
    assert out.status == 200
    if out.done:  # only possible if the first chunk came before the idle limit and failover served it
        assert channels == 2
    else:
        assert out.error["code"] == "stream_incomplete" and rec["outcome"] == "upstream_error"
        assert rec["completion_tokens"] <= 3
