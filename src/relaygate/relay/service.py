"""The hot path's long-lived parts in one process: upstream pool, channel health, settlement."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson

from relaygate.api.errors import GatewayError
from relaygate.api.http import JSON_CT, Send, send_bytes
from relaygate.providers.base import ChatRequest, UpstreamFailure
from relaygate.providers.registry import adapter_for, transport_for
from relaygate.relay.auth import Authenticator
from relaygate.relay.context import RequestContext
from relaygate.relay.h1client import H1Pool, H1Response
from relaygate.relay.health import ChannelHealth
from relaygate.relay.media_fetch import MediaFetcher
from relaygate.relay.metrics import Metrics, process_sample
from relaygate.relay.upstream import make_client, timeout_for
from relaygate.relay.upstream import send as send_upstream
from relaygate.state.snapshot import Snapshot

if TYPE_CHECKING:
    from relaygate.runtime import Runtime

_SETTLE_RETRIES = 125

log = logging.getLogger("relaygate.relay")


class Relay:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self.client = make_client(runtime.settings)
        self.h1 = H1Pool()  # the chat hot path's own lean client (relay/h1client.py)
        self.lean = runtime.settings.upstream_client != "aiohttp"  # the CLI refuses other values
        self.media = MediaFetcher.from_settings(runtime.settings)  # image URLs for inline-only upstreams
        self.health = ChannelHealth(runtime)
        self.authenticate = Authenticator(runtime.settings)
        self.metrics = Metrics()
        self._models_cache: dict[tuple[Any, ...], bytes] = {}
        runtime.relay = self

    def start(self) -> None:
        self.rt.spawn(self.health.run_checks(), "health-checks")
        if self.rt.settings.workers > 1:
            self.rt.spawn(self._publish_metrics(), "metrics-publish")

    @property
    def metrics_dir(self) -> Path:
        return self.rt.settings.data_dir / "metrics"

    async def _publish_metrics(self) -> None:
        """Other workers answer /metrics too; they read this process's counts from its file."""
        try:
            while True:
                await asyncio.sleep(2.0)
                await asyncio.to_thread(self.metrics.dump, self.metrics_dir, process_sample())
        finally:
            with contextlib.suppress(OSError):
                (self.metrics_dir / f"{os.getpid()}.json").unlink()

    def on_snapshot(self, snap: Snapshot) -> None:
        self._models_cache.clear()
        self.health.on_snapshot()

    async def close(self) -> None:
        await self.client.close()
        await self.h1.close()
        await self.media.close()

    async def request(self, method: str, url: str, body: bytes, headers: Mapping[str, str],
                      limits: aiohttp.ClientTimeout) -> H1Response | aiohttp.ClientResponse:
        """A call with a bytes body over the pooled client the settings chose (RELAYGATE_UPSTREAM_CLIENT);
        the caller releases the response."""
        if self.lean:
            return await self.h1.request(method, url, body, headers, limits)
        return await send_upstream(self.client, method, url, data=body, headers=headers, timeout=limits)

    async def send_error(self, send: Send, err: GatewayError, *headers: tuple[bytes, bytes]) -> None:
        extra = [(k.lower().encode(), v.encode()) for k, v in err.headers.items()]
        await send_bytes(send, err.status, err.openai_body(), [JSON_CT, *headers, *extra])

    async def settle(self, ctx: RequestContext) -> None:
        """Charge the exact cost against the reservation and queue the usage record (once).

        Called just before the answer's last byte is sent, so a caller never holds a whole answer
        whose record was not yet written to the journal (a SIGKILL then loses nothing delivered);
        :meth:`finish` calls it again however the request ended."""
        if ctx.settled:
            return
        ctx.settled = True
        cost = ctx.cost()
        charge_amount, capped = cost, False
        if ctx.user is not None and ctx.key is not None:
            args = (ctx.user.id, ctx.key.id, ctx.key.budget, ctx.reserved, cost)
            try:
                charge = await self.rt.ledger.settle(*args)
                charge_amount, capped = charge.amount, charge.capped
            except asyncio.CancelledError:
                # cancelled mid-settlement (a shutdown past its grace period): the ledger finishes the
                # charge on its own (it does not abandon a sent settlement), so the record must exist too
                self.rt.recorder.add(ctx.record(cost, False))
                raise
            except Exception as exc:  # the record must not be lost with the quota store
                log.error("request %s: settlement failed (%s); recorded now, retried in the background",
                          ctx.request_id, exc)
                self.rt.spawn(self._settle_later(args), "settle-retry")
            if capped:
                log.warning("request %s cost %d but only %d could be charged", ctx.request_id, cost,
                            charge_amount)
        self.rt.recorder.add(ctx.record(charge_amount, capped))

    async def finish(self, ctx: RequestContext) -> None:
        """The end of every relayed request: settle if not done yet, count tokens against the TPM
        limits of a key that has one, observe the overhead."""
        await self.settle(ctx)
        rate = ctx.rate
        if rate is not None and rate.limits.counts_tokens and ctx.usage is not None:
            await self.rt.limiter.add_tokens(rate.limits, ctx.usage.prompt_tokens + ctx.usage.completion_tokens)
        self.metrics.observe(ctx.endpoint, ctx.status_code, ctx.overhead_ms(), time.perf_counter() - ctx.started)

    async def _settle_later(self, args: tuple[int, int, int | None, int, int]) -> None:
        """Keep trying until the live balance has the charge the record already holds."""
        delay = 0.5
        for _ in range(_SETTLE_RETRIES):  # about an hour: an outage ends; an error that never does must not loop
            await asyncio.sleep(delay)
            try:
                await self.rt.ledger.settle(*args)
                return
            except Exception as exc:
                log.warning("settlement retry failed (%s); next in %.0fs", exc, delay)
                delay = min(30.0, delay * 2)
        log.error("giving up settling user %s key %s for %d micro-units; the usage record holds the charge",
                  args[0], args[1], args[4])

    def record_unbilled(self, ctx: RequestContext) -> None:
        """Requests refused after authentication are recorded too, at no cost."""
        if ctx.user is not None:
            self.rt.recorder.add(ctx.record(0, False))
        self.metrics.observe(ctx.endpoint, ctx.status_code, ctx.overhead_ms(), time.perf_counter() - ctx.started)

    def models_body(self, group: str, allowed: frozenset[str] | None, user_id: int) -> bytes:
        snap = self.rt.snapshot
        owns = frozenset(m for m, owner in snap.fine_tuned.items() if owner == user_id) if snap.fine_tuned else None
        cache_key = (group, allowed, owns)
        body = self._models_cache.get(cache_key)
        if body is None:
            names = snap.models_for_group(group)
            names = {m for m in names if m not in snap.fine_tuned or (owns and m in owns)}
            if allowed is not None:
                names &= allowed
            if not self.rt.settings.allow_unpriced:
                names = {m for m in names if m in snap.prices}
            data = [{"id": m, "object": "model", "created": 0, "owned_by": "relaygate"} for m in sorted(names)]
            body = orjson.dumps({"object": "list", "data": data})
            self._models_cache[cache_key] = body
        return body

    async def test_channel(self, channel_id: int, model: str | None = None) -> dict[str, Any]:
        """A one-line chat through the channel, unbilled: for operators and health checks. Channels that
        carry no chat (image generation) answer a free request of their protocol instead (``build_probe``)."""
        ch = self.rt.snapshot.channels.get(channel_id)
        if ch is None:
            raise KeyError(channel_id)
        model = model or (sorted(ch.models)[0] if ch.models else next(iter(sorted(ch.model_mapping)), ""))
        body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}
        req = ChatRequest(body=body, model=model, stream=False, wants_usage=False,
                          upstream_model=ch.upstream_model(model))
        adapter = adapter_for(ch.type)
        transport = transport_for(ch.type)
        key = ch.next_key()
        started = time.perf_counter()
        result: dict[str, Any] = {"ok": False, "status_code": None, "model": model, "error": None}
        timeout = timeout_for(self.rt.settings, ch.timeout_s or 30, False)
        probe = getattr(adapter, "build_probe", None)  # channels that carry no chat (image generation)
        try:
            if probe is not None:
                up = probe(ch, key)
                probed = await send_upstream(self.client, up.method, up.url, headers=up.headers, timeout=timeout)
                try:  # through send_upstream: a keep-alive connection the upstream dropped is not a failure
                    raw = await probed.read()
                    status = probed.status
                finally:
                    probed.release()
            elif transport is None:
                up = adapter.build_chat(ch, key, req)
                resp = await self.request(up.method, up.url, up.body, up.headers, timeout)
                try:
                    raw = await resp.read()
                    status = resp.status
                finally:
                    resp.release()
            else:
                up = adapter.build_chat(ch, key, req)
                answer = await transport.send(self.client, ch, key, up, req, timeout)
                try:
                    raw = await answer.read()
                    status = answer.status
                finally:
                    await answer.aclose()
            result["status_code"] = status
            if status >= 300:
                result["error"] = adapter.parse_error(status, raw).message
            else:
                if probe is None:
                    adapter.parse_chat(req, raw)
                result["ok"] = True
        except UpstreamFailure as exc:
            result["error"] = exc.error.message
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            result["error"] = f"{type(exc).__name__}: {exc}"
        result["latency_ms"] = int((time.perf_counter() - started) * 1000)
        return result
