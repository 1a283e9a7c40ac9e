"""Downloads caller-supplied image URLs for upstreams that only take inline bytes (Gemini).

The gateway fetching a URL on a caller's behalf is a server-side request forgery risk, so every
fetch here is bounded: http(s) only, on the allowed ports, credentials stripped from the URL,
every hop's address vetted (:mod:`.media_guard`) and pinned for the connection, at most
``MAX_REDIRECTS`` redirects, a byte limit enforced while reading (a lying or absent
Content-Length does not help), one deadline for the whole fetch, and the answer must be an image
(by its Content-Type or its magic bytes). Nothing else is sent: no cookies, no proxy from the
environment, no caller headers.

The client session is separate from the upstream pool (its resolver is the vetting one) and is
created at the first fetch, so a gateway whose callers never send image URLs pays nothing.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import aiohttp
from yarl import URL

from relaygate.config import Settings
from relaygate.relay.media_guard import (
    AddressPolicy,
    MediaFetchError,
    Resolve,
    VettedResolver,
    system_resolve,
    vet_host,
)

MAX_REDIRECTS = 3
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_GENERIC_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream"})
_MAGIC: tuple[tuple[bytes, int, str], ...] = (  # (signature, offset, type)
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"WEBP", 8, "image/webp"),
    (b"BM", 0, "image/bmp"),
    (b"ftypheic", 4, "image/heic"),
    (b"ftypheix", 4, "image/heic"),
    (b"ftypmif1", 4, "image/heif"),
    (b"ftypavif", 4, "image/avif"),
)


def sniff(data: bytes) -> str | None:
    """The image type the bytes start with, if they start like a known image format."""
    for magic, offset, mime in _MAGIC:
        if data[offset:offset + len(magic)] == magic and (mime != "image/webp" or data.startswith(b"RIFF")):
            return mime
    return None


@dataclass(frozen=True, slots=True)
class Media:
    mime: str
    data: bytes


@dataclass(frozen=True, slots=True)
class FetchLimits:
    max_bytes: int  # one image
    max_total_bytes: int  # all images of one request
    timeout_s: float  # everything one request fetches, redirects included
    ports: frozenset[int] | None  # None: any port

    @classmethod
    def from_settings(cls, settings: Settings) -> FetchLimits:
        raw = settings.media_fetch_ports.strip()
        ports = None if raw in ("", "*") else frozenset(int(p) for p in raw.split(",") if p.strip())
        return cls(settings.media_fetch_max_bytes, settings.media_fetch_max_total_bytes,
                   settings.media_fetch_timeout_s, ports)


def clean_url(url: URL) -> URL:
    """The URL without user:password (never sent on to a third party) or fragment."""
    return url.with_user(None).with_fragment(None) if url.user or url.password or url.fragment else url


class MediaFetcher:
    def __init__(self, policy: AddressPolicy, limits: FetchLimits, resolve: Resolve = system_resolve) -> None:
        self.policy = policy
        self.limits = limits
        self._resolve = resolve
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> MediaFetcher:
        return cls(AddressPolicy.parse(settings.media_fetch_allow_private, settings.media_fetch_allow_hosts),
                   FetchLimits.from_settings(settings))

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(resolver=VettedResolver(self.policy, self._resolve),
                                             use_dns_cache=False, limit=64, keepalive_timeout=15)
            self._session = aiohttp.ClientSession(
                connector=connector, cookie_jar=aiohttp.DummyCookieJar(), trust_env=False,
                skip_auto_headers=("User-Agent",),
                headers={"User-Agent": "relaygate-media-fetch", "Accept": "image/*", "Accept-Encoding": "identity"},
                timeout=aiohttp.ClientTimeout(total=self.limits.timeout_s))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def check_url(self, url: URL) -> None:
        """What can be judged from the URL alone: scheme, port, host as written."""
        if url.scheme not in ("http", "https"):
            raise MediaFetchError("only http and https image URLs can be fetched")
        if not url.host:
            raise MediaFetchError("the image URL has no host")
        vet_host(self.policy, url.host)
        port = url.port
        if self.limits.ports is not None and port not in self.limits.ports:
            raise MediaFetchError(f"port {port} is not one this gateway fetches from "
                                  f"(allowed: {', '.join(map(str, sorted(self.limits.ports)))})")

    async def fetch(self, raw_url: str, max_bytes: int | None = None) -> Media:
        """One image, following at most MAX_REDIRECTS redirects, each hop vetted again."""
        try:
            url = clean_url(URL(raw_url))
        except ValueError as exc:
            raise MediaFetchError("the image URL is not a valid URL") from exc
        limit = self.limits.max_bytes if max_bytes is None else min(max_bytes, self.limits.max_bytes)
        for _hop in range(MAX_REDIRECTS + 1):
            self.check_url(url)
            try:
                async with self._client().get(url, allow_redirects=False) as resp:
                    if resp.status in _REDIRECTS:
                        location = resp.headers.get("Location")
                        if not location:
                            raise MediaFetchError(f"the server answered HTTP {resp.status} without a Location")
                        url = clean_url(url.join(URL(location)))
                        continue
                    if resp.status != 200:
                        raise MediaFetchError(f"the server answered HTTP {resp.status}")
                    return await _read_image(resp, limit)
            except MediaFetchError:
                raise
            except TimeoutError as exc:
                raise MediaFetchError(f"the image did not arrive within {self.limits.timeout_s:g} s") from exc
            except aiohttp.InvalidURL as exc:
                raise MediaFetchError("the image URL is not a valid URL") from exc
            except aiohttp.ClientConnectorCertificateError as exc:
                raise MediaFetchError("the server's TLS certificate was not accepted") from exc
            except (aiohttp.ClientError, OSError, ValueError) as exc:
                raise MediaFetchError(f"the image could not be fetched ({type(exc).__name__})") from exc
        raise MediaFetchError(f"more than {MAX_REDIRECTS} redirects")

    async def fetch_all(self, urls: list[str]) -> dict[str, Media | MediaFetchError]:
        """Several images at once under one deadline and one byte budget; each URL's outcome."""
        budget = [self.limits.max_total_bytes]
        gate = asyncio.Semaphore(4)

        over = MediaFetchError("the request's images are larger than this gateway fetches "
                               f"({self.limits.max_total_bytes} bytes in all)")

        async def one(url: str) -> Media | MediaFetchError:
            async with gate:
                if budget[0] <= 0:
                    return over
                try:
                    media = await self.fetch(url, budget[0])
                except MediaFetchError as exc:
                    return exc
                budget[0] -= len(media.data)
                return media if budget[0] >= 0 else over

        try:
            async with asyncio.timeout(self.limits.timeout_s):
                results = await asyncio.gather(*(one(u) for u in urls))
        except TimeoutError:
            late = MediaFetchError(f"the image did not arrive within {self.limits.timeout_s:g} s")
            return dict.fromkeys(urls, late)
        return dict(zip(urls, results, strict=True))


async def _read_image(resp: aiohttp.ClientResponse, limit: int) -> Media:
    declared = (resp.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
    if not (declared.startswith("image/") or declared in _GENERIC_TYPES):
        raise MediaFetchError(f"the URL is not an image (Content-Type {declared})")
    length = resp.headers.get("Content-Length")
    too_big = MediaFetchError(f"the image is larger than this gateway fetches ({limit} bytes)")
    if length and length.isdigit() and int(length) > limit:
        raise too_big
    data = bytearray()
    async for chunk in resp.content.iter_chunked(65536):
        data += chunk
        if len(data) > limit:
            raise too_big
    mime = sniff(bytes(data[:16])) or (declared if declared.startswith("image/") else None)
    if mime is None:
        raise MediaFetchError("the URL's content is not an image")
    return Media(mime, bytes(data))
