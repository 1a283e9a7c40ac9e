"""The image fetcher against a real local HTTP server: limits, redirects, types, credentials."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from relaygate.relay.media_fetch import FetchLimits, Media, MediaFetcher, sniff
from relaygate.relay.media_guard import AddressPolicy, BlockedAddress, MediaFetchError
from relaygate.simulators.common.png import render

PNG = render(3, 2, b"fetch")
LIMITS = FetchLimits(max_bytes=4096, max_total_bytes=6000, timeout_s=2.0, ports=None)


def app(seen: list[web.Request]) -> web.Application:
    async def png(request: web.Request) -> web.StreamResponse:
        seen.append(request)
        return web.Response(body=PNG, content_type=request.query.get("type", "image/png"))

    async def big(request: web.Request) -> web.StreamResponse:
        return web.Response(body=b"\x89PNG\r\n\x1a\n" + b"0" * 5000, content_type="image/png")

    async def endless(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "image/png"})  # chunked, no length
        await resp.prepare(request)
        for _ in range(10_000):
            await resp.write(b"\x00" * 1024)
        return resp

    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(3)
        return web.Response(body=PNG, content_type="image/png")

    async def html(request: web.Request) -> web.StreamResponse:
        return web.Response(text="<html>hi</html>", content_type="text/html")

    async def octet(request: web.Request) -> web.StreamResponse:
        body = PNG if request.query.get("png") else b"not an image at all"
        return web.Response(body=body, content_type="application/octet-stream")

    async def hop(request: web.Request) -> web.StreamResponse:
        left = int(request.match_info["n"])
        target = request.query.get("to") or (f"/hop/{left - 1}" if left > 1 else "/png")
        raise web.HTTPFound(target)

    async def missing(request: web.Request) -> web.StreamResponse:
        raise web.HTTPNotFound()

    application = web.Application()
    application.add_routes([web.get("/png", png), web.get("/big", big), web.get("/endless", endless),
                            web.get("/slow", slow), web.get("/html", html), web.get("/octet", octet),
                            web.get("/hop/{n}", hop), web.get("/missing", missing)])
    return application


@pytest.fixture()
async def server() -> AsyncIterator[tuple[int, list[web.Request]]]:
    seen: list[web.Request] = []
    runner = web.AppRunner(app(seen))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield port, seen
    await runner.cleanup()


async def resolve(host: str, port: int) -> list[str]:
    table = {"img.test": ["127.0.0.1"], "internal.test": ["10.0.0.1"], "meta.test": ["169.254.169.254"]}
    if host not in table:
        raise OSError("unknown host")
    return table[host]


def fetcher(policy: AddressPolicy | None = None, limits: FetchLimits = LIMITS) -> MediaFetcher:
    return MediaFetcher(policy or AddressPolicy(allow_private=True), limits, resolve)


async def test_png_with_header_and_sniffed_types(server) -> None:  # type: ignore[no-untyped-def]
    port, seen = server
    f = fetcher()
    try:
        media = await f.fetch(f"http://img.test:{port}/png")
        assert media == Media("image/png", PNG)
        assert seen[-1].headers["Host"] == f"img.test:{port}"  # connected by address, the name kept
        assert (await f.fetch(f"http://img.test:{port}/png?type=image/jpeg")).mime == "image/png"  # bytes win
        assert (await f.fetch(f"http://img.test:{port}/octet?png=1")).mime == "image/png"
        with pytest.raises(MediaFetchError, match="not an image"):
            await f.fetch(f"http://img.test:{port}/octet")
        with pytest.raises(MediaFetchError, match="not an image"):
            await f.fetch(f"http://img.test:{port}/html")
        with pytest.raises(MediaFetchError, match="HTTP 404"):
            await f.fetch(f"http://img.test:{port}/missing")
    finally:
        await f.close()


async def test_credentials_and_fragment_are_stripped(server) -> None:  # type: ignore[no-untyped-def]
    port, seen = server
    f = fetcher()
    try:
        await f.fetch(f"http://alice:secret@img.test:{port}/png#frag")
        assert "Authorization" not in seen[-1].headers and "Cookie" not in seen[-1].headers
    finally:
        await f.close()


async def test_size_limits_stop_reading(server) -> None:  # type: ignore[no-untyped-def]
    port, _ = server
    f = fetcher()
    try:
        with pytest.raises(MediaFetchError, match="larger than"):
            await f.fetch(f"http://img.test:{port}/big")  # Content-Length says so
        started = asyncio.get_running_loop().time()
        with pytest.raises(MediaFetchError, match="larger than"):
            await f.fetch(f"http://img.test:{port}/endless")  # no length: counted while reading
        assert asyncio.get_running_loop().time() - started < 1.5
    finally:
        await f.close()


async def test_timeout(server) -> None:  # type: ignore[no-untyped-def]
    port, _ = server
    f = fetcher(limits=FetchLimits(4096, 6000, 0.5, None))
    try:
        with pytest.raises(MediaFetchError, match=r"within 0\.5 s"):
            await f.fetch(f"http://img.test:{port}/slow")
        [outcome] = (await f.fetch_all([f"http://img.test:{port}/slow"])).values()
        assert isinstance(outcome, MediaFetchError) and "within 0.5 s" in str(outcome)
    finally:
        await f.close()


async def test_redirects_are_followed_three_times_and_vetted(server) -> None:  # type: ignore[no-untyped-def]
    port, _ = server
    base = f"http://img.test:{port}"
    f = fetcher()
    strict = fetcher(AddressPolicy.parse(False, "img.test"))
    try:
        assert (await f.fetch(f"{base}/hop/3")).data == PNG
        with pytest.raises(MediaFetchError, match="more than 3 redirects"):
            await f.fetch(f"{base}/hop/4")
        assert (await strict.fetch(f"{base}/hop/1")).data == PNG  # the exempted name itself
        for target in (f"http://127.0.0.1:{port}/png", "http://internal.test/x", "http://meta.test/latest",
                       "http://2130706433/", "http://[::ffff:10.0.0.1]/"):
            with pytest.raises(BlockedAddress):
                await strict.fetch(f"{base}/hop/1?to={target}")
        with pytest.raises(MediaFetchError, match="http and https"):
            await f.fetch(f"{base}/hop/1?to=file:///etc/passwd")
    finally:
        await f.close()
        await strict.close()


async def test_url_checks_before_any_connection(server) -> None:  # type: ignore[no-untyped-def]
    port, seen = server
    f = fetcher(AddressPolicy(), FetchLimits(4096, 6000, 2.0, frozenset({80, 443})))
    try:
        for url, reason in ((f"http://img.test:{port}/png", f"port {port}"), ("ftp://img.test/x.png", "http and https"),
                            ("gopher://127.0.0.1/", "http and https"), ("http://127.0.0.1/png", "loopback"),
                            ("http://169.254.169.254/latest/meta-data/", "metadata"), ("http://0x7f.1/", "spelling"),
                            ("http://[::1]/", "loopback"), ("http://internal.test/", "private"),
                            ("https:///nohost", "host")):
            with pytest.raises(MediaFetchError, match=reason):
                await f.fetch(url)
        assert seen == []
    finally:
        await f.close()


async def test_fetch_all_concurrent_with_a_total_budget(server) -> None:  # type: ignore[no-untyped-def]
    port, _ = server
    f = fetcher(limits=FetchLimits(4096, len(PNG) * 2, 2.0, None))
    try:
        urls = [f"http://img.test:{port}/png?i={i}" for i in range(2)]
        assert all(isinstance(m, Media) for m in (await f.fetch_all(urls)).values())
        outcomes = await f.fetch_all([*urls, f"http://img.test:{port}/png?i=3"])
        assert any(isinstance(m, MediaFetchError) and "in all" in str(m) for m in outcomes.values())
    finally:
        await f.close()


def test_sniff() -> None:
    assert sniff(PNG) == "image/png"
    assert sniff(b"\xff\xd8\xff\xe0....") == "image/jpeg"
    assert sniff(b"GIF89a....") == "image/gif"
    assert sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert sniff(b"\x00\x00\x00\x18ftypheic") == "image/heic"
    assert sniff(b"<svg") is None and sniff(b"") is None
