"""The chat relay's preparation step for channels whose upstream cannot fetch image URLs.

Adapters stay pure (canonical request -> upstream request, no network). An adapter whose protocol
needs image bytes inline says so with ``must_inline(url)`` (see ``providers/base.py``); before
such a channel's request is built, :func:`inline_images` downloads those URLs (concurrently, under
the fetcher's limits) and returns the request with each one replaced by a ``data:`` URL, which
every adapter already converts. An inbound protocol with its own message layout names a failing
part its own way (``part_name``, see api/anthropic/inbound.py). Requests without such parts cost
one scan of their messages; the result is kept per adapter, so failover to another channel of the
same kind fetches nothing again.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from relaygate.errors import GatewayError
from relaygate.providers.base import ChatRequest, MediaInliner
from relaygate.relay.media_fetch import Media, MediaFetcher

Site = tuple[int, int, str]  # messages[i].content[j] holds an image URL to inline


def image_sites(body: dict[str, Any], inliner: MediaInliner) -> list[Site]:
    sites: list[Site] = []
    messages = body.get("messages")
    for i, msg in enumerate(messages if isinstance(messages, list) else ()):
        content = msg.get("content") if isinstance(msg, dict) else None
        if not isinstance(content, list):
            continue
        for j, part in enumerate(content):
            if not isinstance(part, dict) or part.get("type") != "image_url":
                continue
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if isinstance(url, str) and inliner.must_inline(url):
                sites.append((i, j, url))
    return sites


PartName = Callable[[ChatRequest, int, int], str]  # canonical messages[i].content[j] -> the caller's name


def canonical_name(req: ChatRequest, i: int, j: int) -> str:
    return f"messages[{i}].content[{j}]"


def media_error(where: str, reason: str) -> GatewayError:
    return GatewayError(400, f"{where}: the image URL cannot be used: {reason}.", "invalid_request_error",
                        "invalid_image_url", where)


async def inline_images(fetcher: MediaFetcher, req: ChatRequest, inliner: MediaInliner,
                        name: PartName = canonical_name) -> ChatRequest:
    """``req`` itself when nothing needs fetching; else a copy whose image URLs are data URLs.

    Raises a 400 :class:`GatewayError` naming the first part that could not be fetched (``name``
    says it the caller's way: ``messages[i].content[j]`` for OpenAI), before anything goes upstream.
    """
    sites = image_sites(req.body, inliner)
    if not sites:
        return req
    outcomes = await fetcher.fetch_all(list(dict.fromkeys(url for _, _, url in sites)))
    fetched: dict[str, Media] = {}
    for i, j, url in sites:
        outcome = outcomes[url]
        if not isinstance(outcome, Media):
            raise media_error(name(req, i, j), str(outcome))
        fetched[url] = outcome
    messages = list(req.body["messages"])
    for i, j, url in sites:
        media = fetched[url]
        msg = messages[i] = dict(messages[i])
        content = msg["content"] = list(msg["content"])
        part = content[j]
        image = part.get("image_url")
        data_url = f"data:{media.mime};base64,{base64.b64encode(media.data).decode()}"
        inlined = {**image, "url": data_url} if isinstance(image, dict) else {"url": data_url}
        content[j] = {**part, "image_url": inlined}
    return replace(req, body={**req.body, "messages": messages}, raw=b"")
