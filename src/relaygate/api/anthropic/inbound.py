"""The Anthropic Messages protocol as an inbound protocol of the chat pipeline (relay/inbound.py).

``anthropic`` channels get the caller's body as is (:class:`AnthropicPassthrough`); every other
channel type gets the canonical request through its own adapter, wrapped to answer in
Anthropic's shapes (:class:`ToAnthropic`).
"""

from __future__ import annotations

from relaygate.api.anthropic.adapter import ToAnthropic
from relaygate.api.anthropic.errors import anthropic_error, error_event, error_type
from relaygate.api.anthropic.request import image_path, parse_messages
from relaygate.api.errors import GatewayError
from relaygate.api.http import Scope
from relaygate.providers.anthropic.native import AnthropicPassthrough
from relaygate.providers.base import ChatAdapter, ChatRequest
from relaygate.providers.registry import adapter_for

NATIVE_TYPE = "anthropic"


class AnthropicMessages:
    endpoint = "messages"

    def __init__(self) -> None:
        self._native = AnthropicPassthrough()
        self._wrapped: dict[str, ChatAdapter] = {}

    def parse(self, raw: bytes, scope: Scope) -> ChatRequest:
        return parse_messages(raw, scope)

    def adapter(self, channel_type: str) -> ChatAdapter:
        if channel_type == NATIVE_TYPE:
            return self._native
        wrapped = self._wrapped.get(channel_type)
        if wrapped is None:
            wrapped = self._wrapped[channel_type] = ToAnthropic(adapter_for(channel_type))
        return wrapped

    def part_name(self, req: ChatRequest, message: int, part: int) -> str:
        """The caller's own path (``messages.0.content.1``) of the canonical part at [message][part]."""
        return image_path(req, message, part) or f"messages[{message}].content[{part}]"

    def error(self, err: GatewayError) -> tuple[int, bytes]:
        return anthropic_error(err)

    def stream_error(self, message: str, type: str, code: str | None) -> bytes:
        return error_event(message, error_type(529 if code == "overloaded" else 500))


ANTHROPIC_MESSAGES = AnthropicMessages()
