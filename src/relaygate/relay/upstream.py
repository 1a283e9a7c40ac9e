"""One pooled aiohttp client per process: keep-alive connections to every upstream."""

from __future__ import annotations

from typing import Any

import aiohttp

from relaygate.config import Settings
from relaygate.providers.base import UpstreamError


def make_client(settings: Settings) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, ttl_dns_cache=300,
                                     keepalive_timeout=60)
    return aiohttp.ClientSession(
        connector=connector,
        auto_decompress=True,
        skip_auto_headers=("User-Agent",),
        headers={"User-Agent": "relaygate", "Accept-Encoding": "identity"},
        timeout=aiohttp.ClientTimeout(total=None, connect=settings.upstream_connect_timeout_s),
    )


_TIMEOUTS: dict[tuple[float, float, float, float | None, bool], aiohttp.ClientTimeout] = {}


def timeout_for(settings: Settings, channel_timeout: float | None, stream: bool) -> aiohttp.ClientTimeout:
    """Streams have no total limit, only an idle limit between reads; whole responses have both.

    The objects are immutable and few (per channel timeout and mode), so they are built once.
    """
    key = (settings.first_byte_timeout_s, settings.upstream_timeout_s, settings.upstream_connect_timeout_s,
           channel_timeout, stream)
    timeout = _TIMEOUTS.get(key)
    if timeout is None:
        idle = channel_timeout or settings.first_byte_timeout_s
        total = None if stream else (channel_timeout or settings.upstream_timeout_s)
        timeout = _TIMEOUTS[key] = aiohttp.ClientTimeout(total=total, connect=settings.upstream_connect_timeout_s,
                                                         sock_read=idle)
    return timeout


async def send(client: aiohttp.ClientSession, method: str, url: str, data: Any = None,
               **kwargs: Any) -> aiohttp.ClientResponse:
    """``client.request``, sent once more when a pooled connection turns out to be dead.

    Upstreams close idle keep-alive connections on their own schedule (nginx after 75 s, others
    sooner); a request that reuses one just as it closes fails before any answer, with a reset or
    a disconnect, though the upstream is fine. The soak (bench/soak.py, upstreams with a 1 s
    keep-alive) showed these as 502s to callers. A second try goes out on a fresh connection; a
    body that cannot be read twice (a stream) is not resent, nor is a refused connection retried.
    """
    try:
        return await client.request(method, url, data=data, **kwargs)
    except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
        if isinstance(exc, aiohttp.ClientConnectorError) or not isinstance(data, bytes | bytearray | str | None):
            raise
        return await client.request(method, url, data=data, **kwargs)


def no_answer(exc: BaseException) -> UpstreamError:
    """An upstream call that failed before any answer: a timeout (504) or no connection (502); the
    next channel may do better."""
    if isinstance(exc, TimeoutError):
        return UpstreamError(504, "The upstream did not answer in time.", "upstream_error", "upstream_timeout",
                             retryable=True, channel_fault=True)
    return UpstreamError(502, f"Could not reach the upstream: {type(exc).__name__}.", "upstream_error",
                         "upstream_unreachable", retryable=True, channel_fault=True)
