"""Inbound protocols: how a caller speaks to the gateway, apart from how channels are spoken to.

One chat pipeline (:mod:`relay.chat`: admit -> reserve -> failover loop -> settle) serves every
caller protocol. What differs per protocol is small and lives in an :class:`InboundProtocol`:

* ``parse``: the caller's body -> the canonical (OpenAI-shaped) :class:`ChatRequest`, which is what
  routing, reservation and every adapter read. A non-OpenAI caller's own body rides along in
  ``ChatRequest.native`` for an upstream that speaks the same protocol.
* ``adapter``: for a channel type, an adapter whose answers (whole bodies and stream bytes) are
  already in the caller's protocol: the registry's adapter itself for OpenAI callers; for others a
  pass-through when the channel speaks the caller's protocol, or a wrapper converting the
  canonical OpenAI answer otherwise.
* ``error``/``stream_error``: errors in the caller's shape, before and during a stream.

The OpenAI protocol is the identity: no conversion, no extra per-chunk work, no extra JSON pass.
"""

from __future__ import annotations

from typing import Protocol

import orjson

from relaygate.api.errors import GatewayError
from relaygate.api.http import Scope
from relaygate.providers.base import ChatAdapter, ChatRequest
from relaygate.providers.registry import adapter_for
from relaygate.relay.validate import parse_chat


class InboundProtocol(Protocol):
    endpoint: str  # recorded on usage records

    def parse(self, raw: bytes, scope: Scope) -> ChatRequest: ...
    def adapter(self, channel_type: str) -> ChatAdapter: ...
    def error(self, err: GatewayError) -> tuple[int, bytes]: ...
    def stream_error(self, message: str, type: str, code: str | None) -> bytes: ...


class OpenAIChat:
    """``POST /v1/chat/completions``: the canonical protocol itself."""

    endpoint = "chat.completions"

    def parse(self, raw: bytes, scope: Scope) -> ChatRequest:
        return parse_chat(raw)

    def adapter(self, channel_type: str) -> ChatAdapter:
        return adapter_for(channel_type)

    def error(self, err: GatewayError) -> tuple[int, bytes]:
        return err.status, err.openai_body()

    def stream_error(self, message: str, type: str, code: str | None) -> bytes:
        return b"data: " + orjson.dumps({"error": {"message": message, "type": type, "param": None,
                                                   "code": code}}) + b"\n\n"


OPENAI_CHAT = OpenAIChat()
