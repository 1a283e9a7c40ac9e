"""Several worker processes sharing balances and state through Redis."""

from __future__ import annotations

import asyncio
import secrets
import time

import openai
import pytest

from tests.gateway import Gateway, micro, unique_model
from tests.services import REDIS_URL, redis_available

HI = [{"role": "user", "content": "hi"}]


@pytest.fixture()
def multi(fresh_database_url: str, tmp_path):  # type: ignore[no-untyped-def]
    if not redis_available():
        pytest.skip("Redis is not reachable on 127.0.0.1:6379: multi-worker tests are SKIPPED")
    gw = Gateway(tmp_path / "gw", fresh_database_url, workers=2, redis_url=REDIS_URL,
                 redis_prefix=f"rg-test-{secrets.token_hex(4)}").start()
    yield gw
    assert gw.stop() == 0, gw.log()


def _until_accepted(gw: Gateway, key: str, model: str) -> None:
    """A key created through one worker reaches the others through Redis pub/sub within moments."""
    deadline = time.monotonic() + 5
    while True:
        try:
            gw.client(key).models.list()
            return
        except openai.AuthenticationError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_two_workers_share_one_balance(multi: Gateway, sim) -> None:  # type: ignore[no-untyped-def]
    model = unique_model()
    multi.channel(sim.base_url, [model])
    multi.price(model, "0", "10.00")
    user, key = multi.funded_key("0.10")
    _until_accepted(multi, key["key"], model)
    sim.knobs.latency_ms = 200

    async def run() -> list[object]:
        client = multi.async_client(key["key"], timeout=30)
        async def one() -> object:
            try:
                return await client.chat.completions.create(model=model, messages=HI, max_tokens=1000)
            except openai.APIStatusError as exc:
                return exc
        results = await asyncio.gather(*(one() for _ in range(60)))
        await client.close()
        return results

    results = asyncio.run(run())
    ok = [r for r in results if not isinstance(r, Exception)]
    errors = [r for r in results if isinstance(r, Exception)]
    assert all(isinstance(e, openai.PermissionDeniedError) and e.code == "insufficient_quota" for e in errors), errors
    assert 1 <= len(ok) <= 10
    deadline = time.monotonic() + 10  # the other worker writes its records on its own flush
    while len(records := multi.logs(key_id=key["id"], limit=1000)) < 60 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(records) == 60
    spent = sum(micro(r["cost"]) for r in records)
    assert micro(multi.get_user(user["id"])["balance"]) == 100_000 - spent >= 0
    assert len({r["channel_id"] for r in records if r["status_code"] == 200}) == 1


def test_changes_reach_every_worker(multi: Gateway, sim) -> None:  # type: ignore[no-untyped-def]
    model = unique_model()
    multi.channel(sim.base_url, [model])
    multi.price(model)
    _user, key = multi.funded_key()
    _until_accepted(multi, key["key"], model)
    multi.api("PATCH", f"/api/keys/{key['id']}", json={"enabled": False})
    time.sleep(0.5)
    for _ in range(10):  # requests spread over both workers; none may still accept the key
        with pytest.raises(openai.AuthenticationError):
            multi.client(key["key"]).chat.completions.create(model=model, messages=HI)


def test_redis_outage_is_a_clear_503_and_recovery_reloads_balances(fresh_database_url: str, sim, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import shutil
    import subprocess

    from tests.services import free_port

    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed: the Redis outage test is SKIPPED")
    port = free_port()
    cmd = [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    redis_proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    gw = None
    try:
        assert _wait_port(port)
        gw = Gateway(tmp_path / "gw", fresh_database_url, redis_url=f"redis://127.0.0.1:{port}/0").start()
        model = unique_model()
        gw.channel(sim.base_url, [model])
        gw.price(model)
        user, key = gw.funded_key("10.00")
        client = gw.client(key["key"])
        assert client.chat.completions.create(model=model, messages=HI).choices
        redis_proc.terminate()
        redis_proc.wait(10)
        with pytest.raises(openai.InternalServerError) as exc:
            client.chat.completions.create(model=model, messages=HI)
        assert exc.value.status_code == 503 and exc.value.code == "quota_store_unavailable"
        redis_proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)  # back, and empty
        assert _wait_port(port)
        deadline = time.monotonic() + 10
        while True:  # the pool reconnects; the account is reloaded from the database
            try:
                assert client.chat.completions.create(model=model, messages=HI).choices
                break
            except openai.InternalServerError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        # a record is queued when its settlement ends, just after the answer went out
        deadline = time.monotonic() + 5
        while len(records := [r for r in gw.logs(key_id=key["id"]) if r["status_code"] == 200]) < 2:
            assert time.monotonic() < deadline, records
            time.sleep(0.1)
        spent = sum(micro(r["cost"]) for r in records)
        assert micro(gw.get_user(user["id"])["balance"]) == 10_000_000 - spent
    finally:
        if gw is not None:
            assert gw.stop() == 0, gw.log()
        redis_proc.terminate()
        redis_proc.wait(10)


def _wait_port(port: int) -> bool:
    from tests.services import port_open

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if port_open("127.0.0.1", port):
            return True
        time.sleep(0.05)
    return False
