"""The narrow interface every upstream protocol implements.

An adapter knows one wire protocol and nothing about keys, quotas or the database: it builds
the upstream request from the canonical (OpenAI-shaped) chat request, turns the upstream's
answer into canonical bytes plus usage, and classifies upstream errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from relaygate.state.snapshot import ChannelInfo


@dataclass(slots=True)
class Usage:
    prompt_tokens: int = 0  # all input tokens, cached ones included
    completion_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0


@dataclass(slots=True)
class ChatRequest:
    """The caller's chat request as parsed once at the edge; adapters read, never re-parse."""

    body: dict[str, Any]
    model: str  # as the caller named it
    stream: bool
    wants_usage: bool  # the caller asked for stream_options.include_usage
    raw: bytes = b""  # the body as received, forwarded as is when nothing changes
    upstream_model: str = ""
    # Output tokens the reservation covers: adapters whose upstream requires a limit when the
    # caller gave none (Anthropic's max_tokens) send this one, so the reservation stays an upper bound.
    output_limit: int = 0
    # The caller's request in its own protocol when it did not speak OpenAI (see relay/inbound.py);
    # an adapter for that same protocol forwards it instead of the canonical body.
    native: Any = None


@dataclass(slots=True)
class UpstreamRequest:
    url: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    method: str = "POST"


@dataclass(slots=True)
class UpstreamError:
    status: int  # what the caller gets
    message: str
    type: str = "upstream_error"
    code: str | None = None
    retryable: bool = False  # another channel may succeed
    channel_fault: bool = False  # counts toward disabling the channel
    retry_after: str | None = None


class UpstreamFailure(Exception):
    """Raised by adapters when a 200 answer turns out to be unusable (not JSON, wrong shape)."""

    def __init__(self, error: UpstreamError) -> None:
        super().__init__(error.message)
        self.error = error


class StreamRelay(Protocol):
    """Turns upstream stream bytes into the bytes the caller receives, as they arrive."""

    usage: Usage | None
    done: bool  # the upstream ended the stream properly
    error: UpstreamError | None  # an error event arrived mid-stream

    def feed(self, data: bytes) -> bytes: ...
    def completion_text(self) -> str: ...


class ChatAdapter(Protocol):
    def build_chat(self, channel: ChannelInfo, key: str, req: ChatRequest) -> UpstreamRequest: ...
    def parse_chat(self, req: ChatRequest, body: bytes) -> tuple[bytes, Usage | None]: ...
    def completion_text(self, body: bytes) -> str: ...
    def stream_relay(self, req: ChatRequest) -> StreamRelay: ...
    def parse_error(self, status: int, body: bytes) -> UpstreamError: ...


def classify_status(status: int) -> tuple[bool, bool]:
    """(retryable, channel_fault) for an upstream HTTP status.

    429 and 5xx are worth another channel; 401/403 mean the channel's own key is bad, which
    another channel fixes too. 400-class errors are the caller's and go straight back.
    """
    if status == 429 or status >= 500:
        return True, status >= 500
    if status in (401, 403):
        return True, True
    return False, False
