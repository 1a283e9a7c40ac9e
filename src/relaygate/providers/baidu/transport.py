"""The Qianfan v1 call: an access token first, the chat request, one refresh on a refused token.

Qianfan answers errors with HTTP 200 and an ``error_code`` body, even for stream requests (a
plain JSON object instead of the event stream). So a JSON answer is read here and classified
before the pipeline sees it: a refused token (110/111) is refreshed once through the shared
:class:`~.token.TokenCache` and the request sent again; any other code is handed on with an
error status, so failover and ``parse_error`` work as for an HTTP error. Event streams and HTTP
errors go on unread.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import orjson

from relaygate.providers.baidu.errors import TOKEN_INVALID, error_code, status_of
from relaygate.providers.base import UpstreamError, UpstreamFailure, UpstreamRequest
from relaygate.state.snapshot import ChannelInfo

TOKEN_PATH = "/oauth/2.0/token"
DEFAULT_LIFETIME_S = 30 * 86400.0


class HttpAnswer:
    """The pooled client's response, passed on as it is (an event stream or an HTTP error)."""

    __slots__ = ("_resp", "headers", "status")

    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self._resp = resp
        self.status = resp.status
        self.headers: Mapping[str, str] = resp.headers

    @property
    def content(self) -> aiohttp.StreamReader:
        return self._resp.content

    async def read(self) -> bytes:
        return await self._resp.read()

    def close(self) -> None:
        self._resp.close()

    async def aclose(self) -> None:
        self._resp.release()


class BufferedAnswer:
    """An answer already read in full (to look at its error code)."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def content(self) -> BufferedAnswer:
        return self

    async def iter_any(self) -> AsyncIterator[bytes]:
        yield self.body

    async def read(self) -> bytes:
        return self.body

    def close(self) -> None:
        pass

    async def aclose(self) -> None:
        pass


def split_key(key: str) -> tuple[str, str]:
    api_key, _, secret = key.partition("|")
    if not api_key.strip() or not secret.strip():
        raise UpstreamFailure(UpstreamError(502, "the channel key must be API_KEY|SECRET_KEY (Qianfan v1)",
                                            "upstream_error", "channel_misconfigured", True, True))
    return api_key.strip(), secret.strip()


def root_url(channel: ChannelInfo) -> str:
    """The host part of the base URL, also when an operator pasted a full endpoint path."""
    return channel.base_url.split("/rpc/", 1)[0].split(TOKEN_PATH, 1)[0]


def token_url(channel: ChannelInfo) -> str:
    return str(channel.config.get("oauth_url") or root_url(channel) + TOKEN_PATH)


async def fetch_token(client: aiohttp.ClientSession, url: str, api_key: str, secret: str,
                      limits: aiohttp.ClientTimeout) -> tuple[str, float]:
    params = {"grant_type": "client_credentials", "client_id": api_key, "client_secret": secret}
    timeout = aiohttp.ClientTimeout(total=limits.sock_read or 30.0, connect=limits.connect)
    async with client.post(url, params=params, headers={"Content-Type": "application/json"},
                           timeout=timeout) as resp:
        raw = await resp.read()
        status = resp.status
    try:
        data: Any = orjson.loads(raw)
    except orjson.JSONDecodeError:
        data = None
    if status == 200 and isinstance(data, dict) and isinstance(data.get("access_token"), str) \
            and data["access_token"]:
        lifetime = data.get("expires_in")
        ok = isinstance(lifetime, int | float) and not isinstance(lifetime, bool) and lifetime > 0
        return data["access_token"], float(lifetime) if ok else DEFAULT_LIFETIME_S
    message = raw[:200].decode("utf-8", "replace")
    if isinstance(data, dict):
        message = str(data.get("error_description") or data.get("error") or message)
    if status >= 500:
        raise UpstreamFailure(UpstreamError(502, f"the upstream's token endpoint failed ({status}): {message}",
                                            "upstream_error", "upstream_unavailable", True, True))
    raise UpstreamFailure(UpstreamError(502, f"upstream rejected the channel credentials ({status}): {message}",
                                        "upstream_error", "upstream_auth_failed", True, True))


async def post_chat(client: aiohttp.ClientSession, up: UpstreamRequest, token: str,
                    limits: aiohttp.ClientTimeout) -> tuple[HttpAnswer | BufferedAnswer, int | None]:
    """(answer, Qianfan error code or None)."""
    resp = await client.request(up.method, up.url, params={"access_token": token}, data=up.body,
                                headers=up.headers, timeout=limits)
    if resp.status >= 300 or "event-stream" in resp.headers.get("Content-Type", ""):
        return HttpAnswer(resp), None
    try:
        raw = await resp.read()
    finally:
        resp.release()
    try:
        code = error_code(orjson.loads(raw))
    except orjson.JSONDecodeError:
        code = None
    if code is None:
        return BufferedAnswer(resp.status, resp.headers, raw), None
    return BufferedAnswer(status_of(code), resp.headers, raw), code


def is_token_error(code: int | None) -> bool:
    return code in TOKEN_INVALID
