"""Image URLs sent to a Gemini channel: downloaded by the gateway (safely) and inlined.

A real gateway process, the Gemini simulator, and a local image server in this test. By default
the gateway refuses loopback URLs (SSRF); a gateway that allows 127.0.0.1 inlines the exact bytes.
Every refusal is a 400 in the caller's protocol, charges nothing and never reaches the upstream.
"""

from __future__ import annotations

import asyncio
import base64
import threading
from collections.abc import Iterator
from pathlib import Path

import anthropic
import openai
import pytest
from aiohttp import web

from relaygate.simulators.common.png import render
from tests.conftest import GEMINI_KEY
from tests.gateway import Gateway, micro, unique_model
from tests.services import create_pg_database, drop_pg_database

PNG = render(4, 3, b"media-fetch")
MAX_BYTES = 64 * 1024


class ImageServer:
    """A loopback HTTP server in a thread: images, oversize, slow, HTML, redirects; counts hits."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self._runner: web.AppRunner | None = None

    def _app(self) -> web.Application:
        async def record(request: web.Request) -> None:
            self.hits.append(request.path_qs)

        async def png(request: web.Request) -> web.StreamResponse:
            await record(request)
            return web.Response(body=PNG, content_type="image/png")

        async def big(request: web.Request) -> web.StreamResponse:
            await record(request)
            return web.Response(body=PNG + b"\0" * (MAX_BYTES * 2), content_type="image/png")

        async def slow(request: web.Request) -> web.StreamResponse:
            await record(request)
            await asyncio.sleep(2)
            return web.Response(body=PNG, content_type="image/png")

        async def html(request: web.Request) -> web.StreamResponse:
            await record(request)
            return web.Response(text="<html>not an image</html>", content_type="text/html")

        async def redirect(request: web.Request) -> web.StreamResponse:
            await record(request)
            raise web.HTTPFound(request.query["to"])

        app = web.Application()
        app.add_routes([web.get("/cat.png", png), web.get("/big.png", big), web.get("/slow.png", slow),
                        web.get("/page.html", html), web.get("/redirect", redirect)])
        return app

    def __enter__(self) -> ImageServer:
        ready = threading.Event()

        async def start() -> None:
            self._runner = web.AppRunner(self._app(), shutdown_timeout=0.1)
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            ready.set()

        def run() -> None:
            self.loop.run_until_complete(start())
            self.loop.run_forever()

        threading.Thread(target=run, daemon=True, name="image-server").start()
        assert ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            assert self._runner is not None
            await self._runner.cleanup()
            for task in asyncio.all_tasks() - {asyncio.current_task()}:  # a slow answer still waiting
                task.cancel()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"


@pytest.fixture(scope="module")
def images() -> Iterator[ImageServer]:
    with ImageServer() as server:
        yield server


@pytest.fixture(autouse=True)
def _clear_hits(images: ImageServer) -> None:
    images.hits.clear()


@pytest.fixture(scope="module")
def open_gateway(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """A gateway that may fetch from 127.0.0.1 (only), on any port, with small limits."""
    data: Path = tmp_path_factory.mktemp("media-gw")
    name = None
    url = f"sqlite+aiosqlite:///{data / 'own.db'}"
    if not database_url.startswith("sqlite"):
        url, name = create_pg_database("relaygate_media")
    gw = Gateway(data / "gw", url, media_fetch_allow_hosts="127.0.0.1/32", media_fetch_ports="*",
                 media_fetch_timeout_s="1", media_fetch_max_bytes=str(MAX_BYTES)).start()
    yield gw
    assert gw.stop() == 0, gw.log()
    if name:
        drop_pg_database(name)


def _setup(gw: Gateway, sim, channels: int = 1):  # type: ignore[no-untyped-def]
    model = unique_model("gemini-2.5-flash")
    for _ in range(channels):
        gw.channel(sim.base_url, [model], keys=[GEMINI_KEY], type="gemini")
    gw.price(model, "0.30", "2.50")
    user, key = gw.funded_key("10.00")
    return model, user, key


def _ask(url: str, text: str = "What is this?") -> list[dict]:
    return [{"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": text},
                                         {"type": "image_url", "image_url": {"url": url, "detail": "low"}}]}]


def _refused(gw: Gateway, sim, images: ImageServer, url: str, reason: str, hits: int = 0) -> None:  # type: ignore[no-untyped-def]
    model, user, key = _setup(gw, sim)
    with pytest.raises(openai.BadRequestError) as info:
        gw.client(key["key"]).chat.completions.create(model=model, messages=_ask(url))
    error = info.value.body
    assert error["code"] == "invalid_image_url" and error["param"] == "messages[1].content[1]"
    assert error["message"].startswith("messages[1].content[1]: the image URL cannot be used:")
    assert reason in error["message"], error["message"]
    assert sim.requests == [] and len(images.hits) == hits
    [rec] = gw.logs(key_id=key["id"])
    assert rec["status_code"] == 400 and micro(rec["cost"]) == 0
    assert micro(gw.get_user(user["id"])["balance"]) == 10_000_000


# --- default settings: SSRF refused -----------------------------------------------------------------------------

def test_loopback_url_refused_by_default(gateway: Gateway, gemini_sim, images: ImageServer) -> None:  # type: ignore[no-untyped-def]
    _refused(gateway, gemini_sim, images, images.url("/cat.png"), "loopback")


@pytest.mark.parametrize(("url", "reason"), [
    ("http://169.254.169.254/latest/meta-data/", "metadata"),
    ("http://2130706433/cat.png", "unusual spelling"),
    ("http://0x7f.1/cat.png", "unusual spelling"),
    ("http://[::ffff:10.0.0.1]/cat.png", "private"),
    ("http://localhost:8080/cat.png", "port 8080"),
])
def test_other_refusals_by_default(gateway: Gateway, gemini_sim, images, url: str, reason: str) -> None:  # type: ignore[no-untyped-def]
    _refused(gateway, gemini_sim, images, url, reason)


def test_stream_refused_before_it_starts(gateway: Gateway, gemini_sim, images) -> None:  # type: ignore[no-untyped-def]
    model, _user, key = _setup(gateway, gemini_sim)
    with pytest.raises(openai.BadRequestError, match="loopback"):
        gateway.client(key["key"]).chat.completions.create(model=model, messages=_ask(images.url("/cat.png")),
                                                             stream=True)
    assert gemini_sim.requests == []


def test_anthropic_sdk_gets_anthropic_error_shape(gateway: Gateway, gemini_sim, images) -> None:  # type: ignore[no-untyped-def]
    model, user, key = _setup(gateway, gemini_sim)
    client = anthropic.Anthropic(base_url=gateway.url, api_key=key["key"], max_retries=0)
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.create(model=model, max_tokens=100, system="Be brief.", messages=[
            {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"},
            {"role": "user", "content": [{"type": "text", "text": "What is this?"},
                                         {"type": "image", "source": {"type": "url", "url": images.url("/cat.png")}}]}])
    assert info.value.status_code == 400
    body = info.value.body
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    message = body["error"]["message"]  # the part named in the caller's own body, not the converted one
    assert message.startswith("messages.2.content.1: the image URL cannot be used:") and "loopback" in message
    assert gemini_sim.requests == [] and images.hits == []
    assert micro(gateway.get_user(user["id"])["balance"]) == 10_000_000


def test_openai_channel_still_gets_the_url(gateway: Gateway, sim, images) -> None:  # type: ignore[no-untyped-def]
    model = unique_model("gpt-4o")
    gateway.channel(sim.base_url, [model])
    gateway.price(model)
    _user, key = gateway.funded_key()
    url = images.url("/cat.png")
    gateway.client(key["key"]).chat.completions.create(model=model, messages=_ask(url))
    assert sim.requests[-1].json["messages"][1]["content"][1]["image_url"]["url"] == url and images.hits == []


# --- 127.0.0.1 allowed: inlined --------------------------------------------------------------------------------

def test_image_inlined_with_exact_bytes(open_gateway: Gateway, gemini_sim, images) -> None:  # type: ignore[no-untyped-def]
    model, _user, key = _setup(open_gateway, gemini_sim)
    url = images.url("/cat.png")
    reply = open_gateway.client(key["key"]).chat.completions.create(model=model, messages=[
        {"role": "user", "content": [{"type": "text", "text": "Compare"},
                                     {"type": "image_url", "image_url": {"url": url}},
                                     {"type": "image_url", "image_url": {"url": url}}]}])
    assert reply.choices[0].message.content
    inline = {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(PNG).decode()}}
    assert gemini_sim.requests[-1].json["contents"][0]["parts"] == [{"text": "Compare"}, inline, inline]
    assert images.hits == ["/cat.png"]  # the same URL twice: fetched once
    [rec] = open_gateway.logs(key_id=key["id"])
    assert rec["status_code"] == 200 and micro(rec["cost"]) > 0


def test_fetched_once_across_failover(open_gateway: Gateway, gemini_sim, images) -> None:  # type: ignore[no-untyped-def]
    model, _user, key = _setup(open_gateway, gemini_sim, channels=2)
    gemini_sim.knobs.fail_next, gemini_sim.knobs.fail_status = 1, 503
    open_gateway.client(key["key"]).chat.completions.create(model=model, messages=_ask(images.url("/cat.png")))
    assert len(gemini_sim.requests) == 2 and images.hits == ["/cat.png"]
    assert gemini_sim.requests[0].json == gemini_sim.requests[1].json


def test_anthropic_sdk_url_image_inlined(open_gateway: Gateway, gemini_sim, images) -> None:  # type: ignore[no-untyped-def]
    model, _user, key = _setup(open_gateway, gemini_sim)
    client = anthropic.Anthropic(base_url=open_gateway.url, api_key=key["key"], max_retries=0)
    msg = client.messages.create(model=model, max_tokens=100, messages=[{"role": "user", "content": [
        {"type": "image", "source": {"type": "url", "url": images.url("/cat.png")}}]}])
    assert msg.type == "message"
    assert gemini_sim.requests[-1].json["contents"][0]["parts"] == [
        {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(PNG).decode()}}]


@pytest.mark.parametrize(("path", "reason", "hits"), [
    ("/big.png", "larger than", 1),
    ("/slow.png", "did not arrive within 1 s", 1),
    ("/page.html", "not an image", 1),
    ("/redirect?to=http://127.0.0.2:{port}/cat.png", "loopback", 1),
    ("/redirect?to=http://169.254.169.254/latest/meta-data/", "metadata", 1),
    ("/redirect?to=http://[::1]:{port}/cat.png", "loopback", 1),
])
def test_refusals_when_fetching(open_gateway: Gateway, gemini_sim, images, path: str, reason: str,  # type: ignore[no-untyped-def]
                                hits: int) -> None:
    _refused(open_gateway, gemini_sim, images, images.url(path.format(port=images.port)), reason, hits)
