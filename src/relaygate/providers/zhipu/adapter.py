"""Channel type ``zhipu``: GLM v4 (open.bigmodel.cn), OpenAI-shaped, authenticated with a JWT.

Everything but the credential is the ``openai`` adapter's (pass-through body, usage from the
upstream): the ``Authorization`` header carries a JWT built from the ``<id>.<secret>`` key and
cached until shortly before it expires (:mod:`.jwt`; channel config ``jwt_ttl_s``, default one
hour; ``auth: "api_key"`` sends the key itself, which the v4 API also accepts). GLM's own
``finish_reason: "sensitive"`` (content filtered) becomes OpenAI's ``content_filter``.
"""

from __future__ import annotations

from relaygate.providers.base import ChatRequest, UpstreamRequest, Usage
from relaygate.providers.openai.adapter import OpenAIAdapter
from relaygate.providers.openai.stream import OpenAIStreamRelay
from relaygate.providers.zhipu.jwt import DEFAULT_TTL_S, JwtCache
from relaygate.state.snapshot import ChannelInfo

SENSITIVE = (b'"finish_reason":"sensitive"', b'"finish_reason": "sensitive"')
FILTERED = b'"finish_reason":"content_filter"'


def _filtered(data: bytes) -> bytes:
    for mark in SENSITIVE:
        if mark in data:
            data = data.replace(mark, FILTERED)
    return data


class ZhipuStreamRelay(OpenAIStreamRelay):
    __slots__ = ()

    def feed(self, data: bytes) -> bytes:
        return _filtered(super().feed(data))


class ZhipuAdapter(OpenAIAdapter):
    def __init__(self) -> None:
        self.jwts = JwtCache()

    def build_chat(self, channel: ChannelInfo, key: str, req: ChatRequest) -> UpstreamRequest:
        up = super().build_chat(channel, key, req)
        if channel.config.get("auth") != "api_key":
            ttl = channel.config.get("jwt_ttl_s")
            ttl = ttl if isinstance(ttl, int | float) and not isinstance(ttl, bool) and ttl >= 60 else DEFAULT_TTL_S
            up.headers["Authorization"] = "Bearer " + self.jwts.get((channel.id, key), key, float(ttl))
        return up

    def parse_chat(self, req: ChatRequest, body: bytes) -> tuple[bytes, Usage | None]:
        out, usage = super().parse_chat(req, body)
        return _filtered(out), usage

    def stream_relay(self, req: ChatRequest) -> ZhipuStreamRelay:
        return ZhipuStreamRelay(strip_usage=not req.wants_usage)
