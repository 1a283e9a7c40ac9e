"""Zhipu's short-lived API tokens: a JWT (HS256) signed with the secret half of ``<id>.<secret>``.

Header ``{"alg": "HS256", "sign_type": "SIGN"}``, payload ``{"api_key": <id>, "exp": ms,
"timestamp": ms}`` -- both times in milliseconds (protocol notes §1). A token is cached per
(channel id, key) in the adapter instance and rebuilt a margin before it expires (a tenth of its
lifetime, at most five minutes). Building one is a local HMAC, so there is nothing to share
between concurrent requests; each worker process keeps its own cache.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable, Hashable

import orjson

from relaygate.providers.base import UpstreamError, UpstreamFailure

DEFAULT_TTL_S = 3600
MAX_MARGIN_S = 300.0


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def split_key(key: str) -> tuple[str, str]:
    kid, _, secret = key.partition(".")
    if not kid or not secret:
        raise UpstreamFailure(UpstreamError(502, "the channel key must be <id>.<secret> (Zhipu API key)",
                                            "upstream_error", "channel_misconfigured", True, True))
    return kid, secret


def make_jwt(key: str, ttl_s: float, now_s: float) -> str:
    kid, secret = split_key(key)
    now_ms = int(now_s * 1000)
    header = b64url(orjson.dumps({"alg": "HS256", "sign_type": "SIGN"}))
    payload = b64url(orjson.dumps({"api_key": kid, "exp": now_ms + int(ttl_s * 1000), "timestamp": now_ms}))
    sig = b64url(hmac.new(secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest())
    return f"{header}.{payload}.{sig}"


class JwtCache:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._tokens: dict[Hashable, tuple[str, float]] = {}
        self.built = 0

    def get(self, cache_key: Hashable, key: str, ttl_s: float = DEFAULT_TTL_S) -> str:
        now = self._clock()
        cached = self._tokens.get(cache_key)
        if cached is not None and cached[1] > now:
            return cached[0]
        token = make_jwt(key, ttl_s, now)
        self._tokens[cache_key] = (token, now + ttl_s - min(MAX_MARGIN_S, ttl_s / 10))
        self.built += 1
        return token
