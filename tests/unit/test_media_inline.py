"""The relay's inlining step: which parts are fetched, how they are replaced, how failures are named."""

from __future__ import annotations

import pytest

from relaygate.api.anthropic.inbound import ANTHROPIC_MESSAGES
from relaygate.api.anthropic.request import parse_messages
from relaygate.errors import GatewayError
from relaygate.providers.base import ChatRequest
from relaygate.providers.gemini import GeminiAdapter
from relaygate.relay.media_fetch import FetchLimits, Media, MediaFetcher
from relaygate.relay.media_guard import AddressPolicy, MediaFetchError
from relaygate.relay.media_inline import image_sites, inline_images

GEMINI = GeminiAdapter()
PNG = Media("image/png", b"\x89PNG\r\n\x1a\nxyz")


class FakeFetcher(MediaFetcher):
    """Answers from a table and counts what was asked, without a network."""

    def __init__(self, answers: dict[str, Media | MediaFetchError]) -> None:
        super().__init__(AddressPolicy(), FetchLimits(100, 100, 1.0, None))
        self.answers = answers
        self.asked: list[list[str]] = []

    async def fetch_all(self, urls: list[str]) -> dict[str, Media | MediaFetchError]:
        self.asked.append(urls)
        return {u: self.answers[u] for u in urls}


def chat(messages: list) -> ChatRequest:
    return ChatRequest(body={"model": "g", "messages": messages}, model="g", stream=False, wants_usage=False,
                       raw=b"{...}")


def image(url: str, **extra: object) -> dict:
    return {"type": "image_url", "image_url": {"url": url, **extra}}


async def test_nothing_to_fetch_returns_the_request_itself() -> None:
    fetcher = FakeFetcher({})
    req = chat([{"role": "user", "content": [{"type": "text", "text": "hi"}, image("data:image/png;base64,AA"),
                                             image("gs://b/c.png")]}, {"role": "user", "content": "plain"}])
    assert await inline_images(fetcher, req, GEMINI) is req and fetcher.asked == []


async def test_urls_replaced_by_data_urls_once_each_original_untouched() -> None:
    fetcher = FakeFetcher({"https://a.test/1.png": PNG, "https://a.test/2.png": PNG})
    messages = [{"role": "system", "content": "s"},
                {"role": "user", "content": [image("https://a.test/1.png", detail="low"), image("https://a.test/2.png")]},
                {"role": "user", "content": [{"type": "text", "text": "again"}, image("https://a.test/1.png")]}]
    req = chat(messages)
    assert image_sites(req.body, GEMINI) == [(1, 0, "https://a.test/1.png"), (1, 1, "https://a.test/2.png"),
                                             (2, 1, "https://a.test/1.png")]
    out = await inline_images(fetcher, req, GEMINI)
    assert fetcher.asked == [["https://a.test/1.png", "https://a.test/2.png"]]
    data = "data:image/png;base64,iVBORw0KGgp4eXo="
    assert out.body["messages"][1]["content"] == [image(data, detail="low"), image(data)]
    assert out.body["messages"][2]["content"][1] == image(data) and out.raw == b""
    assert req.body["messages"] is messages and messages[1]["content"][0] == image("https://a.test/1.png", detail="low")


async def test_first_failing_part_is_named() -> None:
    fetcher = FakeFetcher({"https://a.test/ok.png": PNG, "https://a.test/bad": MediaFetchError("HTTP 404")})
    req = chat([{"role": "user", "content": [image("https://a.test/ok.png")]},
                {"role": "user", "content": [{"type": "text", "text": "x"}, image("https://a.test/bad")]}])
    with pytest.raises(GatewayError) as info:
        await inline_images(fetcher, req, GEMINI)
    err = info.value
    assert (err.status, err.code, err.param) == (400, "invalid_image_url", "messages[1].content[1]")
    assert err.message == "messages[1].content[1]: the image URL cannot be used: HTTP 404."


async def test_anthropic_callers_get_their_own_paths() -> None:
    body = (b'{"model": "g", "max_tokens": 5, "system": "s", "messages": ['
            b'{"role": "user", "content": [{"type": "image", "source": {"type": "url", "url": "https://a.test/1"}}]},'
            b'{"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}]},'
            b'{"role": "user", "content": [{"type": "text", "text": "see"},'
            b' {"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "r"},'
            b' {"type": "image", "source": {"type": "url",'
            b' "url": "https://a.test/2"}}]}]}]}')
    req = parse_messages(body, {"headers": []})
    fetcher = FakeFetcher({"https://a.test/1": PNG, "https://a.test/2": MediaFetchError("too slow")})
    with pytest.raises(GatewayError) as info:
        await inline_images(fetcher, req, GEMINI, ANTHROPIC_MESSAGES.part_name)
    assert info.value.message.startswith("messages.2.content.1.content.1: the image URL cannot be used")
    fetcher.answers["https://a.test/1"] = MediaFetchError("too slow")
    with pytest.raises(GatewayError, match=r"^messages\.0\.content\.0: "):
        await inline_images(fetcher, req, GEMINI, ANTHROPIC_MESSAGES.part_name)
