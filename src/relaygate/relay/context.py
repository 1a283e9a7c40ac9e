"""One relayed request's bookkeeping, and the settlement that must run however it ends."""

from __future__ import annotations

import itertools
import os
import time
from dataclasses import dataclass

from relaygate.billing.estimate import count_prompt_tokens
from relaygate.billing.pricing import cost_of
from relaygate.billing.recorder import UsageRecord
from relaygate.billing.tokens import count_tokens
from relaygate.errors import GatewayError
from relaygate.providers.base import ChatRequest, Usage
from relaygate.relay.ratelimit import Admission
from relaygate.state.snapshot import KeyInfo, PriceInfo, UserInfo

_ID_PREFIX = "req_" + os.urandom(6).hex()
_ID_COUNTER = itertools.count(1)


def new_request_id() -> str:
    """Unique per process start (random prefix) and per request (counter); no syscall per call."""
    return f"{_ID_PREFIX}{next(_ID_COUNTER):012x}"


@dataclass(slots=True)
class RequestContext:
    request_id: str
    endpoint: str
    started: float
    key: KeyInfo | None = None
    user: UserInfo | None = None
    req: ChatRequest | None = None
    model: str = ""
    price: PriceInfo | None = None
    reserved: int = 0
    channel_id: int | None = None
    upstream_model: str = ""
    tries: int = 0
    status_code: int = 200
    outcome: str = "ok"
    usage: Usage | None = None
    usage_source: str = "upstream"
    ttft_ms: int | None = None
    upstream_started: float = 0.0  # this attempt's upstream call began
    upstream_s: float = 0.0  # time spent waiting on upstreams, all attempts
    first_byte_wait_s: float = 0.0  # of this attempt, until the first streamed bytes
    error: str | None = None
    completion_text: str | None = None  # set when usage must be counted locally
    rate: Admission | None = None  # set when the key or its user has a rate limit
    settled: bool = False  # charged and recorded: done before the answer's last byte goes out

    def elapsed_ms(self) -> int:
        return int((time.perf_counter() - self.started) * 1000)

    def upstream_first_byte(self) -> None:
        self.first_byte_wait_s = time.perf_counter() - self.upstream_started

    def upstream_done(self) -> None:
        if self.upstream_started:
            self.upstream_s += time.perf_counter() - self.upstream_started
            self.upstream_started = 0.0

    def overhead_ms(self) -> float:
        """Time spent in the gateway itself: everything but the waits on upstreams."""
        waiting = self.upstream_s
        if self.upstream_started:  # a stream still running: only its wait for the first bytes
            waiting += self.first_byte_wait_s
        return max(0.0, (time.perf_counter() - self.started - waiting) * 1000)

    def overhead_header(self) -> tuple[bytes, bytes]:
        return (b"x-relaygate-overhead-ms", f"{self.overhead_ms():.3f}".encode())

    def refuse(self, err: GatewayError) -> None:
        """A refusal before the relay: ``rate_limited`` or ``rejected``; either way nothing is charged."""
        self.fail(err.status, "rate_limited" if err.code == "rate_limit_exceeded" else "rejected", err.message)

    def fail(self, status: int, outcome: str, message: str) -> None:
        self.status_code = status
        self.outcome = outcome
        self.error = message[:1000]

    def final_usage(self) -> Usage | None:
        """The upstream's count when it gave one; otherwise count what was relayed, locally."""
        if self.usage is not None:
            return self.usage
        if self.completion_text is None or self.req is None:
            self.usage_source = "none"
            return None
        self.usage_source = "local"
        prompt = count_prompt_tokens(self.req.body, self.model)
        return Usage(prompt_tokens=prompt, completion_tokens=count_tokens(self.completion_text, self.model))

    def record(self, cost: int, capped: bool) -> UsageRecord:
        usage = self.usage or Usage()
        error = self.error
        if capped:
            error = (error + "; " if error else "") + "charge capped at the remaining balance"
        return UsageRecord(
            request_id=self.request_id, user_id=self.user.id if self.user else None,
            key_id=self.key.id if self.key else None, channel_id=self.channel_id,
            endpoint=self.endpoint, model=self.model, upstream_model=self.upstream_model,
            stream=bool(self.req and self.req.stream), prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens, cache_read_tokens=usage.cache_read_tokens,
            cache_write_tokens=usage.cache_write_tokens, cost=cost, status_code=self.status_code,
            outcome=self.outcome, usage_source=self.usage_source, latency_ms=self.elapsed_ms(),
            ttft_ms=self.ttft_ms, tries=self.tries, error=error,
        )

    def cost(self) -> int:
        usage = self.final_usage()
        self.usage = usage
        return cost_of(self.price, usage) if usage is not None else 0
