"""Overhead header and metrics; proxies, address allowlists and the wrong-key guard."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.gateway import Gateway, unique_model

HI = [{"role": "user", "content": "hi"}]


def test_overhead_header_and_metrics(gateway: Gateway, sim) -> None:  # type: ignore[no-untyped-def]
    model = unique_model()
    gateway.channel(sim.base_url, [model])
    gateway.price(model)
    _user, key = gateway.funded_key()
    auth = {"Authorization": f"Bearer {key['key']}"}
    body = {"model": model, "messages": HI}
    whole = httpx.post(f"{gateway.url}/v1/chat/completions", headers=auth, json=body)
    assert float(whole.headers["x-relaygate-overhead-ms"]) >= 0
    with httpx.stream("POST", f"{gateway.url}/v1/chat/completions", headers=auth, json={**body, "stream": True}) as s:
        assert float(s.headers["x-relaygate-overhead-ms"]) >= 0
        s.read()
    text = gateway.admin.get("/metrics").text
    assert 'relaygate_requests_total{endpoint="chat.completions",status="200"}' in text
    assert "relaygate_overhead_ms_bucket" in text and "relaygate_request_seconds_count" in text
    assert httpx.get(f"{gateway.url}/metrics", headers=auth).status_code == 401


def test_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(gateway: Gateway, sim) -> None:  # type: ignore[no-untyped-def]
    model = unique_model()
    gateway.channel(sim.base_url, [model])
    gateway.price(model)
    user, _ = gateway.funded_key()
    office = gateway.key(user["id"], allowed_ips=["10.0.0.0/8"])
    spoofed = gateway.client(office["key"], default_headers={"X-Forwarded-For": "10.1.2.3"})
    with pytest.raises(openai.PermissionDeniedError):
        spoofed.chat.completions.create(model=model, messages=HI)


@pytest.fixture()
def own_gateway(fresh_database_url: str, tmp_path):  # type: ignore[no-untyped-def]
    gw = Gateway(tmp_path / "gw", fresh_database_url, trusted_proxies="127.0.0.1/32",
                 auth_failures_per_minute=3).start()
    yield gw
    assert gw.stop() == 0


def test_trusted_proxy_and_wrong_key_guard(own_gateway: Gateway, sim) -> None:  # type: ignore[no-untyped-def]
    gw = own_gateway
    model = unique_model()
    gw.channel(sim.base_url, [model])
    gw.price(model)
    user, _ = gw.funded_key()
    office = gw.key(user["id"], allowed_ips=["10.0.0.0/8"])
    behind_proxy = gw.client(office["key"], default_headers={"X-Forwarded-For": "203.0.113.5, 10.1.2.3"})
    assert behind_proxy.chat.completions.create(model=model, messages=HI).choices
    with pytest.raises(openai.PermissionDeniedError):
        gw.client(office["key"]).chat.completions.create(model=model, messages=HI)
    # three wrong keys from one address, then that address waits
    guesser = {"X-Forwarded-For": "198.51.100.7"}
    for _ in range(3):
        with pytest.raises(openai.AuthenticationError):
            gw.client("sk-guess", default_headers=guesser).models.list()
    with pytest.raises(openai.RateLimitError) as exc:
        gw.client("sk-guess", default_headers=guesser).models.list()
    assert exc.value.code == "too_many_auth_failures" and int(exc.value.response.headers["retry-after"]) > 0
    # other addresses are not affected
    assert gw.client(office["key"], default_headers={"X-Forwarded-For": "10.9.9.9"}).models.list()
