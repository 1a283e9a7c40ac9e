"""Window math of the rate limiter, in process (a fake clock) and in Redis (the same cases, real time)."""

from __future__ import annotations

import asyncio
import random
import secrets

import pytest

from relaygate.errors import GatewayError
from relaygate.relay.ratelimit import BUCKETS, LocalRateLimiter, _seconds, bucket_ms, read
from relaygate.state.snapshot import RateLimits, UserInfo, rate_limits
from tests.services import REDIS_URL, redis_available

W = 1000  # bucket width in ms in the read() cases: a 60 s window


def limits(key_rpm: int | None = None, user_rpm: int | None = None, key_tpm: int | None = None,
           user_tpm: int | None = None, key_id: int = 1, user_id: int = 1) -> RateLimits:
    return RateLimits(key_id, user_id, key_rpm, user_rpm, key_tpm, user_tpm)


class Clock:
    def __init__(self, now: int = 1_000_000) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def test_bucket_width_is_a_sixtieth_of_the_window() -> None:
    assert bucket_ms(60) == 1000
    assert bucket_ms(2) == 34  # rounded up: 60 buckets never cover less than the window
    assert bucket_ms(0.001) == 1


def test_an_empty_window_has_room_and_nothing_to_reset() -> None:
    r = read({}, 3, 5_000, W)
    assert (r.used, r.wait_ms, r.reset_ms) == (0, 0, 0)


def test_a_bucket_lives_between_one_window_and_one_window_plus_a_bucket() -> None:
    buckets = {100: 1}
    last_live = (100 + BUCKETS + 1) * W - 1
    assert read(buckets, 5, last_live, W).used == 1
    assert read(buckets, 5, last_live + 1, W).used == 0
    assert buckets == {}  # expired buckets are dropped
    # an entry made at the very end of bucket 100 still lives a full window
    assert (100 + BUCKETS + 1) * W - (101 * W - 1) > BUCKETS * W


def test_wait_is_until_enough_of_the_oldest_buckets_expire() -> None:
    now = 120 * W + 400
    full = {100: 2, 110: 1}  # limit 3: full until bucket 100 expires
    r = read(dict(full), 3, now, W)
    assert (r.used, r.wait_ms) == (3, (100 + BUCKETS + 1) * W - now)
    assert r.reset_ms == (110 + BUCKETS + 1) * W - now
    tokens = {100: 80, 105: 50, 110: 10}  # TPM 100, used 140: below it once bucket 100 goes (60 left)
    assert read(tokens, 100, now, W).wait_ms == (100 + BUCKETS + 1) * W - now
    assert read({100: 1, 110: 1}, 3, now, W).wait_ms == 0  # below the limit: no wait


def test_a_zero_limit_refuses_and_waits_a_window() -> None:
    r = read({}, 0, 5_000, W)
    assert r.used >= 0 and r.wait_ms == BUCKETS * W


def test_limits_are_none_unless_the_key_or_its_user_has_one() -> None:
    user = UserInfo(3, "u", "default", True)
    assert rate_limits(1, None, None, user) is None
    assert rate_limits(1, None, None, None) is None
    limited_user = UserInfo(3, "u", "default", True, rpm_limit=10)
    got = rate_limits(1, None, 500, limited_user)
    assert got == RateLimits(1, 3, None, 10, 500, None) and got.counts_tokens


def test_durations_read_like_openai_headers() -> None:
    assert [_seconds(x) for x in (0, 20, 1500, 12_000, 90_000)] == ["0ms", "20ms", "1.5s", "12s", "1m30s"]


async def test_local_rpm_refuses_the_fourth_then_resets() -> None:
    clock = Clock()
    rl = LocalRateLimiter(60, clock)
    lim = limits(key_rpm=3)
    seen = [await rl.admit(lim) for _ in range(3)]
    assert [dict(a.headers)[b"x-ratelimit-remaining-requests"] for a in seen] == [b"2", b"1", b"0"]
    assert dict(seen[0].headers)[b"x-ratelimit-limit-requests"] == b"3"
    with pytest.raises(GatewayError) as exc:
        await rl.admit(lim)
    err = exc.value
    assert (err.status, err.type, err.code) == (429, "requests", "rate_limit_exceeded")
    assert 60 <= int(err.headers["Retry-After"]) <= 61
    assert err.headers["x-ratelimit-remaining-requests"] == "0"
    clock.now += 61_000
    await rl.admit(lim)


async def test_local_user_limit_is_shared_by_its_keys_and_release_uncounts() -> None:
    rl = LocalRateLimiter(60, Clock())
    a, b = limits(user_rpm=2, key_id=1, user_id=9), limits(user_rpm=2, key_id=2, user_id=9)
    first = await rl.admit(a)
    await rl.admit(b)
    with pytest.raises(GatewayError) as exc:
        await rl.admit(a)
    assert "user" in exc.value.message
    await rl.release(first)  # refused later by the quota: it does not count
    await rl.admit(b)


async def test_local_tpm_counts_settled_tokens() -> None:
    clock = Clock()
    rl = LocalRateLimiter(60, clock)
    lim = limits(key_tpm=100)
    admitted = await rl.admit(lim)
    assert dict(admitted.headers)[b"x-ratelimit-remaining-tokens"] == b"100"
    assert b"x-ratelimit-limit-requests" not in dict(admitted.headers)
    await rl.add_tokens(lim, 60)
    await rl.admit(lim)  # 60 < 100: still admitted
    await rl.add_tokens(lim, 60)
    with pytest.raises(GatewayError) as exc:
        await rl.admit(lim)
    assert exc.value.type == "tokens" and "Used 120" in exc.value.message
    clock.now += 62_000
    await rl.admit(lim)


async def test_local_never_admits_more_than_the_limit_in_any_window() -> None:
    rng = random.Random(7)
    clock = Clock(0)
    window_ms, limit = 2_000, 5
    rl = LocalRateLimiter(window_ms / 1000, clock)
    lim = limits(key_rpm=limit)
    admitted: list[int] = []
    for _ in range(3000):
        clock.now += rng.randint(0, 60)
        try:
            await rl.admit(lim)
            admitted.append(clock.now)
        except GatewayError:
            pass
    for i, t in enumerate(admitted):  # the requests in (t - window, t]
        assert sum(1 for u in admitted[: i + 1] if u > t - window_ms) <= limit
    assert len(admitted) >= 3000 * 30 / window_ms * limit * 0.8  # and the limit is actually reached


# --- the same in Redis ---------------------------------------------------------------------------------


@pytest.fixture()
async def redis_limiter():  # type: ignore[no-untyped-def]
    if not redis_available():
        pytest.skip("Redis is not reachable on 127.0.0.1:6379: Redis limiter tests are SKIPPED")
    import redis.asyncio as aioredis

    from relaygate.relay.ratelimit_redis import RedisRateLimiter

    client = aioredis.Redis.from_url(REDIS_URL)
    prefix = f"rg-unit-{secrets.token_hex(4)}"
    yield lambda window_s: RedisRateLimiter(client, prefix, window_s)
    keys = [k async for k in client.scan_iter(f"{prefix}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def test_redis_rpm_refuses_the_fourth_then_resets(redis_limiter) -> None:  # type: ignore[no-untyped-def]
    rl = redis_limiter(0.6)
    lim = limits(key_rpm=3)
    for _ in range(3):
        await rl.admit(lim)
    with pytest.raises(GatewayError) as exc:
        await rl.admit(lim)
    assert (exc.value.status, exc.value.type) == (429, "requests")
    assert exc.value.headers["Retry-After"] == "1"
    await asyncio.sleep(0.65)
    assert dict((await rl.admit(lim)).headers)[b"x-ratelimit-remaining-requests"] == b"2"


async def test_redis_user_limit_tokens_and_release(redis_limiter) -> None:  # type: ignore[no-untyped-def]
    rl = redis_limiter(30)
    a, b = limits(user_rpm=2, user_tpm=50, key_id=1, user_id=9), limits(user_rpm=2, user_tpm=50, key_id=2, user_id=9)
    first = await rl.admit(a)
    await rl.admit(b)
    with pytest.raises(GatewayError):
        await rl.admit(b)
    await rl.release(first)
    await rl.admit(a)
    await rl.release(first)
    await rl.add_tokens(b, 50)
    with pytest.raises(GatewayError) as exc:
        await rl.admit(a)
    assert exc.value.type == "tokens" and 29 <= int(exc.value.headers["Retry-After"]) <= 31


async def test_redis_concurrent_admissions_admit_exactly_the_limit(redis_limiter) -> None:  # type: ignore[no-untyped-def]
    rl = redis_limiter(30)
    lim = limits(key_rpm=7, user_rpm=100)

    async def one() -> bool:
        try:
            await rl.admit(lim)
            return True
        except GatewayError:
            return False

    assert sum(await asyncio.gather(*(one() for _ in range(40)))) == 7
