"""Per-key and per-user rate limits: requests and tokens per window (RPM, TPM), in this process.

Semantics. A request is counted against RPM when it is admitted to the relay, before the upstream
call; a refused request is not counted. Tokens count against TPM when a request settles (its actual
prompt + completion tokens). A request is refused (429) when the key's or the user's RPM window is
full, or when the tokens already used in the window reach the key's or the user's TPM limit. So TPM
is checked before and charged after: requests admitted together may overshoot it by what they use.

Window. A sliding window kept as ``BUCKETS`` sub-buckets of ``window / BUCKETS`` each (one second for
the default 60 s window). Why not the alternatives:

* a fixed window lets twice the limit through across a boundary (the limit at 0:59, again at 1:00);
* a sliding log is exact but keeps one entry per request, unbounded for TPM on a busy key;
* the two-bucket approximation is O(1) but only estimates, and its Retry-After is a guess.

Sub-buckets are a sliding log at bucket resolution: memory is at most ``BUCKETS + 1`` counters per
key and dimension whatever the rate, and what a bucket holds leaves the window whole, so a refusal
knows exactly when capacity returns (its ``Retry-After``). An entry stays in the window between
``window`` and ``window + window / BUCKETS`` seconds: never more than the limit in any window.

The same arithmetic runs in Redis (:mod:`relaygate.relay.ratelimit_redis`) for several instances.
Keys without a limit, theirs or their user's, never reach a limiter (``KeyInfo.limits is None``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from relaygate.api.http import Message, Send
from relaygate.errors import GatewayError
from relaygate.state.snapshot import RateLimits

BUCKETS = 60
Headers = list[tuple[bytes, bytes]]


def bucket_ms(window_s: float) -> int:
    """Length of one sub-bucket in milliseconds, rounded up: ``BUCKETS`` of them cover the window."""
    return max(1, math.ceil(window_s * 1000 / BUCKETS))


@dataclass(frozen=True, slots=True)
class Reading:
    """One key's or user's use of one dimension, as found before this request."""

    used: int  # requests admitted / tokens settled in the window
    wait_ms: int  # until ``used`` drops below the limit; 0 when it is already below
    reset_ms: int  # until the window holds nothing


def read(buckets: dict[int, int], limit: int, now_ms: int, width: int, n: int = BUCKETS) -> Reading:
    """Drop expired buckets from ``buckets`` (index -> amount) and read what is left against ``limit``.

    Bucket ``b`` covers ``[b * width, (b + 1) * width)`` and is live while the current bucket is at
    most ``b + n``: it expires at ``(b + n + 1) * width``.
    """
    cur = now_ms // width
    for b in [b for b in buckets if b + n < cur]:
        del buckets[b]
    if not buckets:
        return Reading(0, n * width if limit <= 0 else 0, 0)
    used = sum(buckets.values())
    reset = (max(buckets) + n + 1) * width - now_ms
    wait = 0
    if used >= limit:
        wait = n * width  # a zero limit never frees up: say "a window"
        left = used
        for b in sorted(buckets):
            left -= buckets[b]
            if left < limit:
                wait = (b + n + 1) * width - now_ms
                break
    return Reading(used, wait, reset)


@dataclass(frozen=True, slots=True)
class Admission:
    """An admitted request: where it was counted (to undo it) and the headers its answer carries."""

    limits: RateLimits
    bucket: int
    headers: Headers


class RateLimiter(Protocol):
    async def admit(self, limits: RateLimits) -> Admission:
        """Count one request if every limit allows it; raise the 429 ``GatewayError`` otherwise."""
        ...

    async def release(self, admission: Admission) -> None:
        """Uncount an admitted request that was refused later (by the quota)."""
        ...

    async def add_tokens(self, limits: RateLimits, tokens: int) -> None:
        """Charge a settled request's tokens to the TPM windows."""
        ...


# (which limit, dimension, whose) in the order the limiters read them
DIMENSIONS = (("key_rpm", "requests", "key"), ("user_rpm", "requests", "user"),
              ("key_tpm", "tokens", "key"), ("user_tpm", "tokens", "user"))


def decide(limits: RateLimits, readings: list[Reading | None], bucket: int, window_s: float) -> Admission:
    """Admit (with the headers for the answer) or raise the 429, from the four readings.

    For an admitted request the RPM readings must already include it in ``reset_ms`` (the limiter
    knows when its bucket expires); ``used`` is still the count before it.
    """
    worst: tuple[int, int] | None = None
    for i, (attr, _dim, _who) in enumerate(DIMENSIONS):
        limit, reading = getattr(limits, attr), readings[i]
        if limit is not None and reading is not None and reading.used >= limit and \
                (worst is None or reading.wait_ms > worst[0]):
            worst = (reading.wait_ms, i)
    headers = _headers(limits, readings, admitted=worst is None)
    if worst is None:
        return Admission(limits, bucket, headers)
    wait_ms, i = worst
    attr, dim, who = DIMENSIONS[i]
    limit, reading = getattr(limits, attr), readings[i]
    assert reading is not None
    unit = "min" if window_s == 60 else f"{window_s:g}s"
    short = "RPM" if dim == "requests" else "TPM"
    subject = "this API key" if who == "key" else "this API key's user (all its keys)"
    requested = ", Requested 1" if dim == "requests" else ""
    message = (f"Rate limit reached for {subject} on {dim} per {unit} ({short}): Limit {limit}, "
               f"Used {reading.used}{requested}. Please try again in {_seconds(wait_ms)}.")
    extra = {name.decode(): value.decode() for name, value in headers}
    extra["Retry-After"] = str(max(1, math.ceil(wait_ms / 1000)))
    raise GatewayError(429, message, dim, "rate_limit_exceeded", headers=extra)


def _headers(limits: RateLimits, readings: list[Reading | None], admitted: bool) -> Headers:
    """OpenAI's ``x-ratelimit-*`` headers, for the tighter of the key's and the user's limits."""
    out: Headers = []
    for dim, pair in (("requests", (0, 1)), ("tokens", (2, 3))):
        best: tuple[int, int, int] | None = None  # remaining, limit, reset
        for i in pair:
            limit, reading = getattr(limits, DIMENSIONS[i][0]), readings[i]
            if limit is None or reading is None:
                continue
            counted = 1 if admitted and dim == "requests" else 0
            remaining = max(0, limit - reading.used - counted)
            if best is None or remaining < best[0]:
                best = (remaining, limit, reading.reset_ms)
        if best is not None:
            out += [(f"x-ratelimit-limit-{dim}".encode(), str(best[1]).encode()),
                    (f"x-ratelimit-remaining-{dim}".encode(), str(best[0]).encode()),
                    (f"x-ratelimit-reset-{dim}".encode(), _seconds(best[2]).encode())]
    return out


def _seconds(ms: int) -> str:
    """A duration as OpenAI writes it in ``x-ratelimit-reset-*``: ``20ms``, ``1.5s``, ``1m30s``."""
    if ms < 1000:
        return f"{max(0, ms)}ms"
    if ms < 60_000:
        return f"{ms / 1000:.3g}s" if ms < 10_000 else f"{ms // 1000}s"
    return f"{ms // 60_000}m{(ms % 60_000) // 1000}s"


def monotonic_ms() -> int:
    return time.monotonic_ns() // 1_000_000


class LocalRateLimiter:
    """One process's windows, in dicts; atomic because nothing here awaits.

    A window per (dimension, key or user id): ``"kr"``/``"ur"`` requests, ``"kt"``/``"ut"`` tokens.
    """

    def __init__(self, window_s: float, clock: Callable[[], int] = monotonic_ms) -> None:
        self.window_s = window_s
        self.width = bucket_ms(window_s)
        self.clock = clock
        self._windows: dict[tuple[str, int], dict[int, int]] = {}

    def _buckets(self, limits: RateLimits, i: int) -> dict[int, int]:
        """The window of ``DIMENSIONS[i]`` for these limits' key or user."""
        name = ("kr", "ur", "kt", "ut")[i]
        subject = (name, limits.key_id if name[0] == "k" else limits.user_id)
        buckets = self._windows.get(subject)
        if buckets is None:
            buckets = self._windows[subject] = {}
        return buckets

    async def admit(self, limits: RateLimits) -> Admission:
        now = self.clock()
        bucket = now // self.width
        bounds = [getattr(limits, attr) for attr, _dim, _who in DIMENSIONS]
        readings: list[Reading | None] = [
            None if limit is None else read(self._buckets(limits, i), limit, now, self.width)
            for i, limit in enumerate(bounds)]
        if all(r is None or r.used < limit for r, limit in zip(readings, bounds, strict=True)):
            fresh = (bucket + BUCKETS + 1) * self.width - now  # this request's bucket expires then
            for i in (0, 1):
                reading = readings[i]
                if reading is not None:
                    counts = self._buckets(limits, i)
                    counts[bucket] = counts.get(bucket, 0) + 1
                    readings[i] = Reading(reading.used, 0, fresh)
        return decide(limits, readings, bucket, self.window_s)

    async def release(self, admission: Admission) -> None:
        for i, attr in ((0, "key_rpm"), (1, "user_rpm")):
            if getattr(admission.limits, attr) is not None:
                counts = self._buckets(admission.limits, i)
                if counts.get(admission.bucket, 0) > 0:
                    counts[admission.bucket] -= 1

    async def add_tokens(self, limits: RateLimits, tokens: int) -> None:
        if tokens <= 0:
            return
        bucket = self.clock() // self.width
        for i, attr in ((2, "key_tpm"), (3, "user_tpm")):
            if getattr(limits, attr) is not None:
                counts = self._buckets(limits, i)
                counts[bucket] = counts.get(bucket, 0) + tokens


def with_headers(send: Send, headers: Headers) -> Send:
    """``send`` adding ``headers`` to the response start, for answers to rate-limited keys."""

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", ()), *headers]}
        await send(message)

    return wrapped
