"""Anthropic callers on ``anthropic`` channels: pass-through, reading only what billing needs.

The caller's own Messages body is forwarded unchanged (only ``model`` mapped), with the
caller's ``anthropic-version`` and ``anthropic-beta`` (merged with the channel's beta flags),
so features the gateway knows nothing about (new block types, betas, server tools) keep
working. Answers go back byte for byte: a whole message after a check that it is one, a stream
one upstream read at a time, cut at the last complete event. Of the stream, only the events
that carry usage, an error or the end (``message_start``/``message_delta``/``message_stop``/
``error``) are parsed; deltas are skipped with a prefix test.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from relaygate.providers.anthropic.adapter import endpoint, headers, malformed
from relaygate.providers.anthropic.errors import native_error
from relaygate.providers.anthropic.response import message_text
from relaygate.providers.anthropic.sse import data_of
from relaygate.providers.anthropic.usage import usage_from_anthropic
from relaygate.providers.base import ChatRequest, UpstreamError, UpstreamRequest, Usage
from relaygate.state.snapshot import ChannelInfo

_DELTA = b"event: content_block_delta"
_PING = b"event: ping"


@dataclass(slots=True)
class NativeMessages:
    """The caller's Messages request as received (``ChatRequest.native`` for Anthropic callers)."""

    body: dict[str, Any]
    raw: bytes
    version: str | None = None
    beta: str | None = None
    unsupported: str | None = None  # why the canonical (OpenAI) form is lossy, if it is


class AnthropicPassthrough:
    def build_chat(self, channel: ChannelInfo, key: str, req: ChatRequest) -> UpstreamRequest:
        native: NativeMessages = req.native
        if native.body.get("model") == req.upstream_model:
            body = native.raw
        else:
            body = orjson.dumps({**native.body, "model": req.upstream_model})
        return UpstreamRequest(url=endpoint(channel), body=body,
                               headers=headers(channel, key, native.version, native.beta))

    def parse_chat(self, req: ChatRequest, body: bytes) -> tuple[bytes, Usage | None]:
        try:
            msg = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise malformed() from None
        if not isinstance(msg, dict) or not isinstance(msg.get("content"), list):
            raise malformed()
        return body, usage_from_anthropic(msg.get("usage"))

    def completion_text(self, body: bytes) -> str:
        return message_text(orjson.loads(body))

    def stream_relay(self, req: ChatRequest) -> PassthroughStream:
        return PassthroughStream()

    def parse_error(self, status: int, body: bytes) -> UpstreamError:
        return native_error(status, body)


class PassthroughStream:
    __slots__ = ("_events", "_rest", "done", "error", "usage")

    def __init__(self) -> None:
        self.usage: Usage | None = None
        self.done = False
        self.error: UpstreamError | None = None
        self._rest = b""
        self._events: list[bytes] = []  # forwarded bytes, parsed only for a local count

    def feed(self, data: bytes) -> bytes:
        if self._rest:
            data = self._rest + data
        cut = data.rfind(b"\n\n")
        crlf = data.rfind(b"\r\n\r\n")
        if crlf >= 0 and crlf + 2 > cut:
            cut = crlf + 2
        if cut < 0:
            self._rest = data
            return b""
        complete, self._rest = data[: cut + 2], data[cut + 2:]
        for event in complete.replace(b"\r\n", b"\n").split(b"\n\n"):
            if event and not event.startswith((_DELTA, _PING)):
                self._inspect(event)
        self._events.append(complete)
        return complete

    def _inspect(self, event: bytes) -> None:
        payload = data_of(event)
        if not payload:
            return
        try:
            obj = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return
        kind = obj.get("type") if isinstance(obj, dict) else None
        if kind == "message_start" and isinstance(obj.get("message"), dict):
            self.usage = usage_from_anthropic(obj["message"].get("usage"), self.usage)
        elif kind == "message_delta":
            self.usage = usage_from_anthropic(obj.get("usage"), self.usage)
        elif kind == "message_stop":
            self.done = True
        elif kind == "error":
            err = obj.get("error") if isinstance(obj.get("error"), dict) else {}
            etype = str(err.get("type") or "api_error")
            self.error = UpstreamError(529 if etype == "overloaded_error" else 502,
                                       str(err.get("message") or "upstream error mid-stream"), etype)

    def completion_text(self) -> str:
        parts: list[str] = []
        for block in self._events:
            for event in block.replace(b"\r\n", b"\n").split(b"\n\n"):
                if not event.startswith(_DELTA):
                    continue
                payload = data_of(event)
                try:
                    delta = orjson.loads(payload or b"{}").get("delta") or {}
                except (orjson.JSONDecodeError, AttributeError):
                    continue
                for field in ("text", "thinking", "partial_json"):
                    if isinstance(delta.get(field), str):
                        parts.append(delta[field])
        return "".join(parts)
