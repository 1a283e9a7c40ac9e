"""Channel type ``baidu-fanyi``: Baidu Fanyi as chat models and behind ``POST /v2/translate``.

The chat side is the shared translation shim (:mod:`relaygate.providers.deepl.chat`). Baidu answers
errors with HTTP 200, so the adapter is also a small transport: it reads the answer and hands an
error code on with an error status, which lets failover and streams treat it as the error it is.
"""

from __future__ import annotations

import aiohttp
import orjson

from relaygate.providers.baidu.transport import BufferedAnswer, HttpAnswer
from relaygate.providers.baidu_fanyi.translator import FanyiTranslator, error_of, status_of
from relaygate.providers.base import ChatRequest, UpstreamRequest
from relaygate.providers.deepl.chat import TranslationChatAdapter
from relaygate.state.snapshot import ChannelInfo


class FanyiAdapter(TranslationChatAdapter):
    def __init__(self) -> None:
        super().__init__(FanyiTranslator())

    async def send(self, client: aiohttp.ClientSession, channel: ChannelInfo, key: str, up: UpstreamRequest,
                   req: ChatRequest, limits: aiohttp.ClientTimeout) -> HttpAnswer | BufferedAnswer:
        resp = await client.request(up.method, up.url, data=up.body, headers=up.headers, timeout=limits)
        if resp.status >= 300:
            return HttpAnswer(resp)
        try:
            raw = await resp.read()
        finally:
            resp.release()
        try:
            err = error_of(orjson.loads(raw))
        except orjson.JSONDecodeError:
            err = None
        return BufferedAnswer(status_of(err[0]) if err else resp.status, resp.headers, raw)
