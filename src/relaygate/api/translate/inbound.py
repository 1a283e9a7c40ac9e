"""DeepL's ``POST /v2/translate`` as an inbound protocol of the chat pipeline (relay/inbound.py).

Admission, the reservation, failover, settlement and the usage record are the chat pipeline's;
what differs lives here: the request (:mod:`.request`), answers in DeepL's shape from any channel
type with a :class:`~relaygate.providers.base.Translator` (others are skipped, so failover moves
on), and errors as DeepL clients expect them: ``{"message": ...}`` with DeepL's statuses -- 403 for
a refused key, 456 when the balance cannot cover the request, 400/404/429/5xx otherwise.
"""

from __future__ import annotations

import orjson

from relaygate.api.errors import GatewayError
from relaygate.api.http import Scope
from relaygate.providers.base import (
    ChatAdapter,
    ChatRequest,
    TranslationJob,
    Translator,
    UpstreamError,
    UpstreamFailure,
    UpstreamRequest,
    Usage,
)
from relaygate.providers.deepl.chat import usage_of
from relaygate.providers.registry import translator_for
from relaygate.state.snapshot import ChannelInfo

from .request import parse_translate


def deepl_status(err: GatewayError) -> int:
    if err.status == 401:
        return 403
    if err.code == "insufficient_quota":
        return 456
    return err.status


def deepl_error_body(message: str) -> bytes:
    return orjson.dumps({"message": message})


class ToDeepL:
    """A translation channel's translator, answering in DeepL's response shape."""

    def __init__(self, translator: Translator) -> None:
        self.translator = translator

    def build_chat(self, channel: ChannelInfo, key: str, req: ChatRequest) -> UpstreamRequest:
        return self.translator.build_translate(channel, key, req.native)

    def parse_chat(self, req: ChatRequest, body: bytes) -> tuple[bytes, Usage | None]:
        job: TranslationJob = req.native
        translations = self.translator.parse_translate(job, body)
        show = job.options.get("show_billed_characters") in (True, "1", "true")
        out = []
        for text, t in zip(job.texts, translations, strict=True):
            item: dict[str, object] = {"detected_source_language": t.detected_source, "text": t.text}
            if show:
                item["billed_characters"] = len(text)
            out.append(item)
        return orjson.dumps({"translations": out}), usage_of(job)

    def completion_text(self, body: bytes) -> str:
        return ""

    def stream_relay(self, req: ChatRequest):  # type: ignore[no-untyped-def]
        raise NotImplementedError("translation requests are never streamed")

    def parse_error(self, status: int, body: bytes) -> UpstreamError:
        return self.translator.parse_error(status, body)


class NotATranslator(ToDeepL):
    """Channels that cannot translate (chat types serving the model name): skipped, not failed."""

    def __init__(self) -> None:
        pass

    def build_chat(self, channel: ChannelInfo, key: str, req: ChatRequest) -> UpstreamRequest:
        raise UpstreamFailure(UpstreamError(400, f"The model `{req.model}` is not served by a translation "
                                                 "channel (deepl, baidu-fanyi).", "invalid_request_error",
                                            "not_a_translation_model", retryable=True, channel_fault=False))


class DeepLTranslate:
    endpoint = "translate"

    def __init__(self) -> None:
        self._adapters: dict[str, ChatAdapter] = {}
        self._none = NotATranslator()

    def parse(self, raw: bytes, scope: Scope) -> ChatRequest:
        return parse_translate(raw, scope)

    def adapter(self, channel_type: str) -> ChatAdapter:
        adapter = self._adapters.get(channel_type)
        if adapter is None:
            translator = translator_for(channel_type)
            adapter = self._adapters[channel_type] = ToDeepL(translator) if translator else self._none
        return adapter

    def error(self, err: GatewayError) -> tuple[int, bytes]:
        return deepl_status(err), deepl_error_body(err.message)

    def stream_error(self, message: str, type: str, code: str | None) -> bytes:
        return b""


DEEPL_TRANSLATE = DeepLTranslate()
