"""Channel type ``baidu``: OpenAI chat over Baidu Qianfan v1 (ERNIE, "wenxinworkshop").

Key: ``API_KEY|SECRET_KEY``. Base URL: ``https://aip.baidubce.com`` (the default). The chat URL
is ``<base>/rpc/2.0/ai_custom/v1/wenxinworkshop/chat/<endpoint>`` with the endpoint from the
model name (:data:`.request.ENDPOINTS`, channel config ``endpoints`` for others); the access
token comes from ``<base>/oauth/2.0/token`` (config ``oauth_url`` to override) and is cached per
(channel, key) in this instance (:mod:`.token`). The adapter is its own transport: the token step
and the refresh-once on a refused token happen in :meth:`BaiduAdapter.send`.
"""

from __future__ import annotations

from functools import partial

import aiohttp
import orjson

from relaygate.providers.baidu.errors import baidu_error, error_code, parse_error
from relaygate.providers.baidu.request import CHAT_PATH, build_body, endpoint_for
from relaygate.providers.baidu.response import answer_text, legacy_caller, to_openai
from relaygate.providers.baidu.stream import BaiduStreamRelay
from relaygate.providers.baidu.token import TokenCache
from relaygate.providers.baidu.transport import (
    BufferedAnswer,
    HttpAnswer,
    fetch_token,
    is_token_error,
    post_chat,
    root_url,
    split_key,
    token_url,
)
from relaygate.providers.base import ChatRequest, UpstreamError, UpstreamFailure, UpstreamRequest, Usage
from relaygate.state.snapshot import ChannelInfo


def malformed() -> UpstreamFailure:
    return UpstreamFailure(UpstreamError(502, "The upstream returned a malformed chat answer.", "upstream_error",
                                         "bad_upstream_response", retryable=True, channel_fault=True))


def chat_url(channel: ChannelInfo, model: str) -> str:
    return root_url(channel) + CHAT_PATH + endpoint_for(model, channel.config)


class BaiduAdapter:
    def __init__(self) -> None:
        self.tokens = TokenCache()

    def build_chat(self, channel: ChannelInfo, key: str, req: ChatRequest) -> UpstreamRequest:
        return UpstreamRequest(url=chat_url(channel, req.upstream_model), body=orjson.dumps(build_body(req)),
                               headers={"Content-Type": "application/json"})

    async def send(self, client: aiohttp.ClientSession, channel: ChannelInfo, key: str, up: UpstreamRequest,
                   req: ChatRequest, limits: aiohttp.ClientTimeout) -> HttpAnswer | BufferedAnswer:
        api_key, secret = split_key(key)
        cache_key = (channel.id, key)
        fetch = partial(fetch_token, client, token_url(channel), api_key, secret, limits)
        token = await self.tokens.get(cache_key, fetch)
        answer, code = await post_chat(client, up, token, limits)
        if is_token_error(code):
            token = await self.tokens.refresh(cache_key, token, fetch)
            answer, _ = await post_chat(client, up, token, limits)  # refused again: that error goes on
        return answer

    def parse_chat(self, req: ChatRequest, body: bytes) -> tuple[bytes, Usage | None]:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise malformed() from None
        code = error_code(data)
        if code is not None:
            raise UpstreamFailure(baidu_error(code, str(data.get("error_msg") or "")))
        if not isinstance(data, dict) or not ("result" in data or "function_call" in data):
            raise malformed()
        out, usage = to_openai(data, req.upstream_model, legacy_caller(req.body))
        return orjson.dumps(out), usage

    def completion_text(self, body: bytes) -> str:
        return answer_text(orjson.loads(body))

    def stream_relay(self, req: ChatRequest) -> BaiduStreamRelay:
        return BaiduStreamRelay(req.upstream_model, legacy_caller(req.body), req.wants_usage)

    def parse_error(self, status: int, body: bytes) -> UpstreamError:
        return parse_error(status, body)
