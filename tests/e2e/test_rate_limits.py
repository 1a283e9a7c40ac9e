"""Per-key and per-user rate limits end to end: real gateway processes, the official SDKs as callers.

Every test runs on the in-process limiter and on the Redis one (a gateway each); the last test
runs two gateway processes sharing one Redis and checks that together they admit exactly the limit.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.conftest import new_database
from tests.gateway import Gateway, micro, unique_model
from tests.services import REDIS_URL, redis_available

HI = [{"role": "user", "content": "hi"}]
WINDOW_S = 3


SHARED_SECRET = "rate-limit-tests-shared-secret-0123456789"


@pytest.fixture(scope="module")
def own_db(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with new_database(database_url, tmp_path_factory.mktemp("ratelimits"), "relaygate_rl") as url:
        yield url


@pytest.fixture(scope="module", params=["local", "redis"])
def gw(request: pytest.FixtureRequest, own_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    extra: dict[str, Any] = {}
    if request.param == "redis":
        if not redis_available():
            pytest.skip("Redis is not reachable on 127.0.0.1:6379: Redis rate-limit tests are SKIPPED")
        extra = {"redis_url": REDIS_URL, "redis_prefix": f"rg-rl-{secrets.token_hex(4)}"}
    gateway = Gateway(tmp_path_factory.mktemp(f"gw-{request.param}"), own_db, rate_limit_window_s=WINDOW_S,
                      secret_key=SHARED_SECRET,  # both gateways open the one database's channel keys
                      **extra).start()
    yield gateway
    assert gateway.stop() == 0, gateway.log()


def setup(gw: Gateway, sim: Any, balance: str = "10.00", **key_fields: Any) -> tuple[str, dict, dict]:
    model = unique_model()
    gw.channel(sim.base_url, [model])
    gw.price(model)
    user, key = gw.funded_key(balance, **key_fields)
    return model, user, key


def chat_raw(client: openai.OpenAI, model: str, **kwargs: Any) -> Any:
    return client.chat.completions.with_raw_response.create(model=model, messages=HI, **kwargs)


def refused(call: Any, kind: type[Exception] = openai.RateLimitError) -> Any:
    with pytest.raises(kind) as exc:
        call()
    return exc.value


def test_rpm_on_a_key_refuses_the_fourth_in_openai_shape(gw: Gateway, sim) -> None:  # type: ignore[no-untyped-def]
    model, _user, key = setup(gw, sim, rpm_limit=3)
    client = gw.client(key["key"])
    first = chat_raw(client, model)
    streamed = chat_raw(client, model, stream=True)  # headers reach streamed answers too
    assert list(streamed.parse())
    third = chat_raw(client, model)
    assert [r.headers["x-ratelimit-remaining-requests"] for r in (first, streamed, third)] == ["2", "1", "0"]
    assert first.headers["x-ratelimit-limit-requests"] == "3"
    assert first.headers["x-ratelimit-reset-requests"].endswith("s")
    assert "x-ratelimit-limit-tokens" not in first.headers  # no TPM limit on this key
    err = refused(lambda: client.chat.completions.create(model=model, messages=HI))
    assert err.status_code == 429 and err.code == "rate_limit_exceeded" and err.type == "requests"
    body = err.response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    assert (body["error"]["type"], body["error"]["code"], body["error"]["param"]) == \
        ("requests", "rate_limit_exceeded", None)
    assert "Limit 3, Used 3" in body["error"]["message"]
    assert 1 <= int(err.response.headers["retry-after"]) <= WINDOW_S + 1
    assert err.response.headers["x-ratelimit-remaining-requests"] == "0"


def test_the_window_opens_again(gw: Gateway, sim) -> None:  # type: ignore[no-untyped-def]
    model, _user, key = setup(gw, sim, rpm_limit=2)
    client = gw.client(key["key"])
    client.chat.completions.create(model=model, messages=HI)
    client.chat.completions.create(model=model, messages=HI)
    err = refused(lambda: client.chat.completions.create(model=model, messages=HI))
    time.sleep(int(err.response.headers["retry-after"]))
    assert client.chat.completions.create(model=model, messages=HI).choices


def test_a_user_limit_is_shared_by_its_keys(gw: Gateway, sim) -> None:  # type: ignore[no-untyped-def]
    model, user, key1 = setup(gw, sim)
    key2 = gw.key(user["id"])
    gw.api("PATCH", f"/api/users/{user['id']}", json={"rpm_limit": 3})
    one, two = gw.client(key1["key"]), gw.client(key2["key"])
    for client in (one, two, one):
        client.chat.completions.create(model=model, messages=HI)
    err = refused(lambda: two.chat.completions.create(model=model, messages=HI))
    assert "user" in err.message and err.type == "requests"
    refused(lambda: one.chat.completions.create(model=model, messages=HI))


def test_tpm_refuses_once_settled_tokens_reach_it(gw: Gateway, sim) -> None:  # type: ignore[no-untyped-def]
    model, _user, key = setup(gw, sim, tpm_limit=1)
    client = gw.client(key["key"])
    first = chat_raw(client, model)
    assert (first.headers["x-ratelimit-limit-tokens"], first.headers["x-ratelimit-remaining-tokens"]) == ("1", "1")
    assert first.parse().usage.total_tokens >= 1
    time.sleep(0.3)  # the tokens are counted when the request settles, just after its answer went out
    err = refused(lambda: client.chat.completions.create(model=model, messages=HI))
    assert err.type == "tokens" and err.code == "rate_limit_exceeded"
    assert err.response.headers["x-ratelimit-remaining-tokens"] == "0"
    time.sleep(int(err.response.headers["retry-after"]))
    assert client.chat.completions.create(model=model, messages=HI).choices


def test_messages_get_the_anthropic_shape(gw: Gateway, sim) -> None:  # type: ignore[no-untyped-def]
    model, _user, key = setup(gw, sim, rpm_limit=1)
    client = anthropic.Anthropic(base_url=gw.url, api_key=key["key"], max_retries=0)
    ok = client.messages.with_raw_response.create(model=model, max_tokens=16, messages=HI)
    assert ok.headers["x-ratelimit-remaining-requests"] == "0" and ok.parse().content
    err = refused(lambda: client.messages.create(model=model, max_tokens=16, messages=HI), anthropic.RateLimitError)
    body = err.response.json()
    assert err.status_code == 429 and body["type"] == "error" and body["error"]["type"] == "rate_limit_error"
    assert "Rate limit reached" in body["error"]["message"]
    assert int(err.response.headers["retry-after"]) >= 1


def test_other_endpoints_are_limited_too(gw: Gateway, sim) -> None:  # type: ignore[no-untyped-def]
    model, _user, key = setup(gw, sim, rpm_limit=1)
    client = gw.client(key["key"])
    ok = client.embeddings.with_raw_response.create(model=model, input="hello")
    assert ok.headers["x-ratelimit-remaining-requests"] == "0"
    err = refused(lambda: client.embeddings.create(model=model, input="hello"))
    assert err.type == "requests"


def test_refused_requests_are_not_charged_and_are_recorded(gw: Gateway, sim) -> None:  # type: ignore[no-untyped-def]
    model, user, key = setup(gw, sim, rpm_limit=2)
    client = gw.client(key["key"])
    for _ in range(2):
        client.chat.completions.create(model=model, messages=HI)
    for _ in range(3):
        refused(lambda: client.chat.completions.create(model=model, messages=HI))
    deadline = time.monotonic() + 10
    while len(records := gw.logs(key_id=key["id"])) < 5:
        assert time.monotonic() < deadline, records
        time.sleep(0.1)
    limited = [r for r in records if r["outcome"] == "rate_limited"]
    assert len(limited) == 3 and all(r["status_code"] == 429 and micro(r["cost"]) == 0 for r in limited)
    spent = sum(micro(r["cost"]) for r in records)
    assert spent > 0
    assert micro(gw.get_user(user["id"])["balance"]) == 10_000_000 - spent


def test_a_quota_refusal_does_not_use_up_the_rate_limit(gw: Gateway, sim) -> None:  # type: ignore[no-untyped-def]
    model, user, key = setup(gw, sim, balance="0", rpm_limit=2)
    client = gw.client(key["key"])
    for _ in range(2):
        err = refused(lambda: client.chat.completions.create(model=model, messages=HI), openai.PermissionDeniedError)
        assert err.code == "insufficient_quota"
    gw.api("PATCH", f"/api/users/{user['id']}", json={"add_balance": "1.00"})
    for _ in range(2):
        client.chat.completions.create(model=model, messages=HI)
    refused(lambda: client.chat.completions.create(model=model, messages=HI))


def test_unlimited_keys_carry_no_rate_limit_headers(gw: Gateway, sim) -> None:  # type: ignore[no-untyped-def]
    model, _user, key = setup(gw, sim)
    raw = chat_raw(gw.client(key["key"]), model)
    assert not [h for h in raw.headers if h.lower().startswith("x-ratelimit")]


# --- two gateway processes, one Redis ---------------------------------------------------------------


def test_two_gateways_sharing_redis_admit_exactly_the_limit(fresh_database_url: str, sim, tmp_path) -> None:  # type: ignore[no-untyped-def]
    if not redis_available():
        pytest.skip("Redis is not reachable on 127.0.0.1:6379: the shared rate-limit test is SKIPPED")
    shared = {"redis_url": REDIS_URL, "redis_prefix": f"rg-rl-{secrets.token_hex(4)}", "rate_limit_window_s": 60,
              "secret_key": SHARED_SECRET}
    a = Gateway(tmp_path / "a", fresh_database_url, **shared).start()
    b = None
    try:
        b = Gateway(tmp_path / "b", fresh_database_url, **shared).start()
        model, user, key = setup(a, sim, rpm_limit=4)
        a.api("PATCH", f"/api/users/{user['id']}", json={"rpm_limit": 5})  # the key's 4 is the tighter
        deadline = time.monotonic() + 10
        while True:  # b learns of the key through Redis
            try:
                b.client(key["key"]).models.list()
                break
            except openai.AuthenticationError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        time.sleep(1.0)  # and of the user's limit, published after the key
        sim.knobs.latency_ms = 300  # every admitted request is still in flight when the last one arrives

        async def run() -> list[object]:
            clients = [gw.async_client(key["key"], timeout=30) for gw in (a, b)]

            async def one(i: int) -> object:
                try:
                    return await clients[i % 2].chat.completions.create(model=model, messages=HI)
                except openai.APIStatusError as exc:
                    return exc

            results = await asyncio.gather(*(one(i) for i in range(30)))
            for c in clients:
                await c.close()
            return results

        results = asyncio.run(run())
        errors = [r for r in results if isinstance(r, Exception)]
        assert all(isinstance(e, openai.RateLimitError) for e in errors), errors
        assert len(results) - len(errors) == 4
    finally:
        if b is not None:
            assert b.stop() == 0, b.log()
        assert a.stop() == 0, a.log()
