"""A gateway killed with requests in flight must not lock its users' money away in Redis.

Its reservations are held under its own name; once its heartbeat lapses, any live gateway
sharing the Redis returns them. Checked with SIGKILL on a real process.
"""

from __future__ import annotations

import secrets
import signal
import threading
import time

import httpx
import pytest
import redis

from tests.gateway import Gateway, micro, unique_model
from tests.services import REDIS_URL, redis_available


def _reserved(prefix: str, user_id: int) -> int:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        return int(client.hget(f"{prefix}:ledger:u:{user_id}", "res") or 0)
    finally:
        client.close()


def test_sigkill_with_requests_in_flight_then_restart(fresh_database_url: str, tmp_path, sim) -> None:  # type: ignore[no-untyped-def]
    if not redis_available():
        pytest.skip("Redis is not reachable on 127.0.0.1:6379: this Redis test is SKIPPED")
    prefix = f"rg-test-{secrets.token_hex(4)}"
    settings = {"redis_url": REDIS_URL, "redis_prefix": prefix, "ledger_heartbeat_s": "0.2"}
    gw = Gateway(tmp_path / "gw", fresh_database_url, **settings).start()
    model = unique_model()
    gw.channel(sim.base_url, [model])
    gw.price(model, "0", "10.00")
    user, key = gw.funded_key("0.10")  # covers 10 requests reserving 1000 output tokens each
    sim.knobs.latency_ms = 5000

    def one() -> None:
        body = {"model": model, "max_tokens": 1000, "messages": [{"role": "user", "content": "hi"}]}
        try:
            httpx.post(f"{gw.url}/v1/chat/completions", json=body, timeout=10,
                       headers={"Authorization": f"Bearer {key['key']}"})
        except httpx.HTTPError:
            pass  # the gateway dies under this request

    threads = [threading.Thread(target=one) for _ in range(10)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 5
    while _reserved(prefix, user["id"]) < 100_000 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _reserved(prefix, user["id"]) == 100_000, "all ten requests should hold their reservations"
    gw.stop(signal.SIGKILL)
    for t in threads:
        t.join()
    assert _reserved(prefix, user["id"]) == 100_000, "nothing returns the money while the process may live"

    sim.knobs.latency_ms = 0
    restarted = Gateway(tmp_path / "gw", fresh_database_url, **settings).start()
    try:
        deadline = time.monotonic() + 5  # the dead process's heartbeat lapses after 3 beats (0.6 s)
        while _reserved(prefix, user["id"]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _reserved(prefix, user["id"]) == 0
        assert micro(restarted.get_user(user["id"])["balance"]) == 100_000, "nothing was delivered, nothing charged"
        client = restarted.client(key["key"])
        replies = [client.chat.completions.create(model=model, max_tokens=1000,
                                                  messages=[{"role": "user", "content": "hi"}]) for _ in range(10)]
        assert all(r.choices[0].message.content for r in replies), "the whole balance is spendable again"
    finally:
        assert restarted.stop() == 0, restarted.log()
