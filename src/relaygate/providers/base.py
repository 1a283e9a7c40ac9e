"""The narrow interface every upstream protocol implements.

An adapter knows one wire protocol and nothing about keys, quotas or the database: it builds
the upstream request from the canonical (OpenAI-shaped) chat request, turns the upstream's
answer into canonical bytes plus usage, and classifies upstream errors.

Most protocols are one HTTP request built synchronously and sent with the relay's pooled
HTTP/1.1 client (relay/h1client.py). A protocol that needs more (an async credential step first,
or a WebSocket instead of HTTP) registers a :class:`Transport` for its channel type: the pipeline
then asks it, instead of the pooled client, to perform the call (with the shared aiohttp session),
and treats what it returns like the HTTP response.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from relaygate.state.snapshot import ChannelInfo

if TYPE_CHECKING:
    import aiohttp


@dataclass(slots=True)
class Usage:
    prompt_tokens: int = 0  # all input tokens, cached ones included
    completion_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    # Characters of translated text (translation channels): billed at the price's per_character
    # rate when it has one; prompt_tokens then carries the same count for the usage record.
    characters: int = 0


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


class MediaInliner(Protocol):
    """An adapter whose upstream cannot fetch image URLs itself (Gemini takes bytes inline).

    Optional: an adapter that has ``must_inline`` gets, for every ``image_url`` part whose URL it
    returns True for, the image downloaded by the relay and the URL replaced by a ``data:`` URL
    before ``build_chat`` (relay/media_inline.py), so the adapter itself stays free of I/O.
    """

    def must_inline(self, url: str) -> bool: ...


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


# --- the transport hook ----------------------------------------------------------------------


class ByteStream(Protocol):
    def iter_any(self) -> AsyncIterator[bytes]: ...


class UpstreamResponse(Protocol):
    """The part of an HTTP response the pipeline reads (``H1Response``, ``aiohttp.ClientResponse``);
    a transport returns one of these.

    ``status`` >= 300 means an error whose body ``read()`` returns for ``parse_error``. Otherwise
    ``read()`` is the whole answer for ``parse_chat`` and ``content.iter_any()`` yields the stream
    for ``stream_relay().feed`` (a transport may define its own framing, e.g. one WebSocket frame
    per item, as long as its adapter's stream relay reads that framing). ``close()`` aborts at once
    (the caller left mid-stream); ``aclose()`` releases everything and always runs last.
    """

    status: int
    headers: Mapping[str, str]

    @property
    def content(self) -> ByteStream: ...
    async def read(self) -> bytes: ...
    def close(self) -> None: ...
    async def aclose(self) -> None: ...


class Transport(Protocol):
    """Performs one upstream call for a channel type that cannot be a plain pooled HTTP request.

    ``up`` is what the (possibly wrapped) adapter's ``build_chat`` produced; the transport may
    complete it (an access token, a signed URL) and send it any way the protocol needs, within
    ``limits`` (the channel's connect, idle and total timeouts). It raises ``TimeoutError``,
    ``aiohttp.ClientError`` or ``OSError`` like the pooled client (failover follows), or
    ``UpstreamFailure`` for an error it already classified (e.g. refused channel credentials).
    """

    async def send(self, client: aiohttp.ClientSession, channel: ChannelInfo, key: str, up: UpstreamRequest,
                   req: ChatRequest, limits: aiohttp.ClientTimeout) -> UpstreamResponse: ...


# --- machine translation ---------------------------------------------------------------------


@dataclass(slots=True)
class TranslationJob:
    """Texts to translate, as the caller asked (DeepL's vocabulary: ``ZH``, ``EN-US``, ``ja``...).

    Each translation protocol normalises the language codes to its own. ``options`` are DeepL's
    optional fields (formality, tag_handling, glossary_id...), passed on where the upstream has them.
    """

    texts: list[str]
    target: str
    source: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def characters(self) -> int:
        """What translation is billed by: the source text's characters (code points)."""
        return sum(len(t) for t in self.texts)


@dataclass(slots=True)
class Translation:
    text: str
    detected_source: str  # upper-case, DeepL style ("EN", "ZH", "JA")


class Translator(Protocol):
    """A translation upstream (channel types ``deepl``, ``baidu-fanyi``): one request per job."""

    def build_translate(self, channel: ChannelInfo, key: str, job: TranslationJob) -> UpstreamRequest: ...
    def parse_translate(self, job: TranslationJob, body: bytes) -> list[Translation]: ...
    def parse_error(self, status: int, body: bytes) -> UpstreamError: ...
