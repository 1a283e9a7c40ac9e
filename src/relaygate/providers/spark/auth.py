"""iFlytek's signed WebSocket URL (HMAC-SHA256 over host, date and request line; notes §3).

The channel key is ``APPID|APISecret|APIKey`` (the order one-api uses and documents). The URL is
signed per request with the current date (the server refuses dates more than about five minutes
off, so the gateway's clock matters). The signature covers ``host`` exactly as sent in the query,
port included when there is one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from email.utils import formatdate
from urllib.parse import urlencode, urlsplit

from relaygate.providers.base import UpstreamError, UpstreamFailure


def split_key(key: str) -> tuple[str, str, str]:
    """(app_id, api_secret, api_key) from ``APPID|APISecret|APIKey``."""
    parts = [p.strip() for p in key.split("|")]
    if len(parts) != 3 or not all(parts):
        raise UpstreamFailure(UpstreamError(502, "the channel key must be APPID|APISecret|APIKey (iFlytek Spark)",
                                            "upstream_error", "channel_misconfigured", True, True))
    return parts[0], parts[1], parts[2]


def signature(api_secret: str, host: str, date: str, path: str) -> str:
    origin = f"host: {host}\ndate: {date}\nGET {path} HTTP/1.1"
    digest = hmac.new(api_secret.encode(), origin.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def signed_url(url: str, api_key: str, api_secret: str, date: str | None = None) -> str:
    """``url`` (ws:// or wss://, no query) with the ``authorization``, ``date`` and ``host`` query."""
    parts = urlsplit(url)
    date = date or formatdate(usegmt=True)  # RFC 1123, e.g. "Tue, 22 Nov 2025 02:04:05 GMT"
    sig = signature(api_secret, parts.netloc, date, parts.path)
    origin = (f'api_key="{api_key}", algorithm="hmac-sha256", headers="host date request-line", '
              f'signature="{sig}"')
    authorization = base64.b64encode(origin.encode()).decode()
    return url + "?" + urlencode({"authorization": authorization, "date": date, "host": parts.netloc})
