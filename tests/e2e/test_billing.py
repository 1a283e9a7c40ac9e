"""Billing that is exact: reservations, settlement, concurrency, local counting."""

from __future__ import annotations

import asyncio

import openai
import pytest

from tests.gateway import Gateway, micro, unique_model

HI = [{"role": "user", "content": "hi"}]



def test_exact_balances_after_a_mix_of_requests(gateway: Gateway, sim) -> None:  # type: ignore[no-untyped-def]
    model = unique_model()
    gateway.channel(sim.base_url, [model])
    gateway.price(model, "3.00", "15.00", per_request="0.0001")
    user, key = gateway.funded_key("5.00")
    client = gateway.client(key["key"])
    client.chat.completions.create(model=model, messages=HI)
    list(client.chat.completions.create(model=model, messages=[{"role": "user", "content": "a longer one"}],
                                        stream=True))
    client.chat.completions.create(model=model, messages=HI, max_tokens=3)
    sim.knobs.fail_next = 1
    sim.knobs.fail_status = 500
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model=model, messages=HI)
    records = gateway.logs(key_id=key["id"])
    assert len(records) == 4
    for rec in records:
        if rec["status_code"] == 200:
            raw = rec["prompt_tokens"] * 3_000_000 + rec["completion_tokens"] * 15_000_000
            assert micro(rec["cost"]) == -(-raw // 1_000_000) + 100
        else:
            assert micro(rec["cost"]) == 0
    spent = sum(micro(r["cost"]) for r in records)
    after = gateway.get_user(user["id"])
    assert micro(after["balance"]) == 5_000_000 - spent
    assert micro(after["used"]) == spent
    assert micro(gateway.api("GET", f"/api/keys/{key['id']}")["used"]) == spent


def test_hundred_concurrent_requests_on_a_balance_that_covers_ten(gateway: Gateway, sim) -> None:  # type: ignore[no-untyped-def]
    model = unique_model()
    gateway.channel(sim.base_url, [model])
    # output dominates: $10 per 1M output tokens, max_tokens 1000 -> reservation just over $0.01
    gateway.price(model, "0", "10.00")
    user, key = gateway.funded_key("0.10")
    sim.knobs.latency_ms = 200  # keep every request in flight at once

    async def run() -> list[object]:
        client = gateway.async_client(key["key"], timeout=30)
        async def one() -> object:
            try:
                return await client.chat.completions.create(model=model, messages=HI, max_tokens=1000)
            except openai.PermissionDeniedError as exc:
                return exc
        results = await asyncio.gather(*(one() for _ in range(100)))
        await client.close()
        return results

    results = asyncio.run(run())
    ok = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, openai.PermissionDeniedError)]
    assert len(ok) + len(refused) == 100
    assert all(r.code == "insufficient_quota" for r in refused)
    assert 1 <= len(ok) <= 10, f"{len(ok)} requests were let through on a balance covering 10"
    records = gateway.logs(key_id=key["id"], limit=1000)
    assert len(records) == 100
    spent = sum(micro(r["cost"]) for r in records)
    after = gateway.get_user(user["id"])
    assert micro(after["balance"]) == 100_000 - spent >= 0


def test_key_budget_caps_spend_under_concurrency(gateway: Gateway, sim) -> None:  # type: ignore[no-untyped-def]
    model = unique_model()
    gateway.channel(sim.base_url, [model])
    gateway.price(model, "0", "10.00")
    user, _ = gateway.funded_key("100.00")
    key = gateway.key(user["id"], budget="0.05")
    sim.knobs.latency_ms = 100

    async def run() -> int:
        client = gateway.async_client(key["key"], timeout=30)
        async def one() -> bool:
            try:
                await client.chat.completions.create(model=model, messages=HI, max_tokens=1000)
                return True
            except openai.PermissionDeniedError:
                return False
        results = await asyncio.gather(*(one() for _ in range(30)))
        await client.close()
        return sum(results)

    assert 1 <= asyncio.run(run()) <= 5
    used = micro(gateway.api("GET", f"/api/keys/{key['id']}")["used"])
    assert 0 < used <= 50_000


def test_upstream_without_usage_is_billed_by_local_count(gateway: Gateway, sim) -> None:  # type: ignore[no-untyped-def]
    model = unique_model("gpt-4o-mini")
    gateway.channel(sim.base_url, [model])
    gateway.price(model, "1.00", "1.00")
    _user, key = gateway.funded_key()
    sim.knobs.omit_usage = True
    client = gateway.client(key["key"])
    whole = client.chat.completions.create(model=model, messages=HI)
    text = "".join(c.choices[0].delta.content or "" for c in
                   client.chat.completions.create(model=model, messages=HI, stream=True) if c.choices)
    assert text == whole.choices[0].message.content
    records = gateway.logs(key_id=key["id"])
    assert len(records) == 2
    for rec in records:
        assert rec["usage_source"] == "local"
        assert rec["completion_tokens"] > 0 and rec["prompt_tokens"] > 0 and micro(rec["cost"]) > 0
    assert records[0]["completion_tokens"] == records[1]["completion_tokens"]
