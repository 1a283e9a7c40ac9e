"""Routing: priority tiers, failover before the first byte, auto-disable and health re-enable."""

from __future__ import annotations

import time

import pytest

from tests.gateway import Gateway, unique_model
from tests.services import free_port

HI = [{"role": "user", "content": "hi"}]


def _wait(predicate, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("stream", [False, True])
def test_failover_to_the_next_channel_on_5xx(gateway: Gateway, sim, sim2, stream: bool) -> None:  # type: ignore[no-untyped-def]
    model = unique_model()
    first = gateway.channel(sim.base_url, [model], priority=10)
    second = gateway.channel(sim2.base_url, [model], priority=0)
    gateway.price(model)
    _user, key = gateway.funded_key()
    sim.knobs.fail_next = 1
    sim.knobs.fail_status = 503
    client = gateway.client(key["key"])
    if stream:
        text = "".join(c.choices[0].delta.content or "" for c in
                       client.chat.completions.create(model=model, messages=HI, stream=True) if c.choices)
    else:
        text = client.chat.completions.create(model=model, messages=HI).choices[0].message.content
    assert text
    assert len(sim.requests) == 1 and len(sim2.requests) == 1
    [rec] = gateway.logs(key_id=key["id"])
    assert rec["channel_id"] == second["id"] and rec["status_code"] == 200
    assert rec["tries"] == 2
    assert first["id"] != second["id"]


def test_failover_on_connection_refused_and_timeout(gateway: Gateway, sim, sim2) -> None:  # type: ignore[no-untyped-def]
    model = unique_model()
    gateway.channel(f"http://127.0.0.1:{free_port()}/v1", [model], priority=10)  # nothing listens
    gateway.channel(sim.base_url, [model], priority=5, timeout_s=0.5)
    gateway.channel(sim2.base_url, [model], priority=0)
    gateway.price(model)
    _user, key = gateway.funded_key()
    sim.knobs.hang = True
    reply = gateway.client(key["key"]).chat.completions.create(model=model, messages=HI)
    assert reply.choices[0].message.content
    assert len(sim2.requests) == 1
    [rec] = gateway.logs(key_id=key["id"])
    assert rec["tries"] == 3


def test_higher_priority_tier_is_used_first_and_weights_spread_load(gateway: Gateway, sim, sim2) -> None:  # type: ignore[no-untyped-def]
    model = unique_model()
    gateway.channel(sim.base_url, [model], priority=1, weight=3)
    gateway.channel(sim2.base_url, [model], priority=1, weight=1)
    low = unique_model()
    gateway.price(model)
    _user, key = gateway.funded_key("100")
    client = gateway.client(key["key"])
    for _ in range(80):
        client.chat.completions.create(model=model, messages=HI, max_tokens=5)
    a, b = len(sim.requests), len(sim2.requests)
    assert a + b == 80
    assert 45 <= a <= 75, f"weight 3:1 should send about 60 of 80 to the first channel, got {a}"
    sim.reset()
    sim2.reset()
    gateway.channel(sim.base_url, [low], priority=5)
    gateway.channel(sim2.base_url, [low], priority=0)
    gateway.price(low)
    for _ in range(10):
        client.chat.completions.create(model=low, messages=HI, max_tokens=5)
    assert len(sim.requests) == 10 and len(sim2.requests) == 0


def test_auto_disable_after_repeated_failures_and_health_check_re_enables(gateway: Gateway, sim, sim2) -> None:  # type: ignore[no-untyped-def]
    model = unique_model()
    bad = gateway.channel(sim.base_url, [model], priority=10)
    gateway.channel(sim2.base_url, [model], priority=0)
    gateway.price(model)
    _user, key = gateway.funded_key()
    sim.knobs.fail_next = 1000
    sim.knobs.fail_status = 500
    client = gateway.client(key["key"])
    for _ in range(3):  # the test gateway disables after 3 consecutive failures
        assert client.chat.completions.create(model=model, messages=HI).choices
    assert _wait(lambda: gateway.api("GET", f"/api/channels/{bad['id']}")["status"] == "auto_disabled")
    before = len(sim.requests)
    for _ in range(3):
        client.chat.completions.create(model=model, messages=HI)
    # health checks may touch it, but no user request goes to a disabled channel
    assert all(r.json.get("max_tokens") == 8 for r in sim.requests[before:])
    sim.knobs.fail_next = 0
    assert _wait(lambda: gateway.api("GET", f"/api/channels/{bad['id']}")["status"] == "enabled")
    # the stored status flips a moment before every process has reloaded it: the channel must
    # take user requests again shortly after
    def served_by_first() -> bool:
        sim.reset()
        client.chat.completions.create(model=model, messages=HI)
        return len(sim.requests) == 1

    assert _wait(served_by_first, timeout=5)


def test_operator_disabled_channel_is_never_re_enabled_by_health_checks(gateway: Gateway, sim) -> None:  # type: ignore[no-untyped-def]
    model = unique_model()
    ch = gateway.channel(sim.base_url, [model])
    gateway.api("PATCH", f"/api/channels/{ch['id']}", json={"status": "disabled"})
    time.sleep(1.0)
    assert gateway.api("GET", f"/api/channels/{ch['id']}")["status"] == "disabled"


def test_channel_test_endpoint(gateway: Gateway, sim) -> None:  # type: ignore[no-untyped-def]
    model = unique_model()
    ch = gateway.channel(sim.base_url, [model])
    result = gateway.api("POST", f"/api/channels/{ch['id']}/test")
    assert result["ok"] is True and result["status_code"] == 200 and result["model"] == model
    broken = gateway.channel(sim.base_url, [model], keys=["sk-bad"])
    result = gateway.api("POST", f"/api/channels/{broken['id']}/test")
    assert result["ok"] is False and result["error"]
