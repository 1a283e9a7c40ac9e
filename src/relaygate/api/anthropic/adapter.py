"""Any channel's adapter, answering in Anthropic's shapes (for channels that do not speak it).

Wraps the registry's adapter for the channel type: the request goes out from the canonical
(OpenAI) form as for any OpenAI caller, and the canonical answer is converted on the way back:
a whole completion into a ``message``, the chunk stream into the Messages event stream, one
upstream read at a time. Usage, errors and failover are the inner adapter's.
"""

from __future__ import annotations

import orjson

from relaygate.api.anthropic.response import to_message
from relaygate.api.anthropic.stream import AnthropicEvents
from relaygate.providers.anthropic.native import NativeMessages
from relaygate.providers.anthropic.tools import reject
from relaygate.providers.base import ChatAdapter, ChatRequest, StreamRelay, UpstreamError, UpstreamRequest, Usage
from relaygate.state.snapshot import ChannelInfo


class ToAnthropic:
    def __init__(self, inner: ChatAdapter) -> None:
        self.inner = inner

    def build_chat(self, channel: ChannelInfo, key: str, req: ChatRequest) -> UpstreamRequest:
        native: NativeMessages | None = req.native
        if native is not None and native.unsupported:
            raise reject(f"This model's provider cannot take {native.unsupported}.")
        return self.inner.build_chat(channel, key, req)

    def parse_chat(self, req: ChatRequest, body: bytes) -> tuple[bytes, Usage | None]:
        canonical, usage = self.inner.parse_chat(req, body)
        return orjson.dumps(to_message(orjson.loads(canonical), req.model, usage)), usage

    def completion_text(self, body: bytes) -> str:
        return self.inner.completion_text(body)

    def stream_relay(self, req: ChatRequest) -> ConvertedStream:
        return ConvertedStream(self.inner.stream_relay(req), AnthropicEvents(req))

    def parse_error(self, status: int, body: bytes) -> UpstreamError:
        return self.inner.parse_error(status, body)


class ConvertedStream:
    """The inner relay's canonical bytes, converted; usage, end and errors as the inner saw them."""

    __slots__ = ("_events", "_inner")

    def __init__(self, inner: StreamRelay, events: AnthropicEvents) -> None:
        self._inner = inner
        self._events = events

    @property
    def usage(self) -> Usage | None:
        return self._inner.usage

    @property
    def done(self) -> bool:
        return self._inner.done

    @property
    def error(self) -> UpstreamError | None:
        return self._inner.error

    def feed(self, data: bytes) -> bytes:
        canonical = self._inner.feed(data)
        return self._events.feed(canonical) if canonical else b""

    def completion_text(self) -> str:
        return self._inner.completion_text()
