"""One pooled aiohttp client per process: keep-alive connections to every upstream."""

from __future__ import annotations

import aiohttp

from relaygate.config import Settings


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


def timeout_for(settings: Settings, channel_timeout: float | None, stream: bool) -> aiohttp.ClientTimeout:
    """Streams have no total limit, only an idle limit between reads; whole responses have both."""
    idle = channel_timeout or settings.first_byte_timeout_s
    total = None if stream else (channel_timeout or settings.upstream_timeout_s)
    return aiohttp.ClientTimeout(total=total, connect=settings.upstream_connect_timeout_s, sock_read=idle)
