"""Translation as chat models (one-api's shim): ``deepl-zh``, ``baidu-fanyi-en``... on /v1/chat/completions.

The last user message is translated; the target language is the model name's suffix after the
provider prefix (``deepl-zh`` -> ``zh``, ``deepl-en-gb`` -> ``en-gb``; channel config
``target_lang`` for a bare name, else ``ZH``), the source is detected. The answer is a chat
completion with the translation as its content; a stream is the same answer as chunks (role and
text, finish, the usage chunk when asked, ``[DONE]``), sent once the upstream's whole answer is in
(translation upstreams do not stream). Usage: ``prompt_tokens`` = characters translated (the
billing unit, see billing/pricing.py), ``completion_tokens`` = 0. Any :class:`Translator` fits.
"""

from __future__ import annotations

import os
import time
from typing import Any

import orjson

from relaygate.providers.anthropic.tools import reject
from relaygate.providers.baidu.request import flatten
from relaygate.providers.base import (
    ChatRequest,
    Translation,
    TranslationJob,
    Translator,
    UpstreamError,
    UpstreamFailure,
    UpstreamRequest,
    Usage,
)
from relaygate.state.snapshot import ChannelInfo

PREFIXES = ("baidu-fanyi", "fanyi", "deepl")
DEFAULT_TARGET = "ZH"
DONE = b"data: [DONE]\n\n"


def target_of(model: str, config: dict[str, Any]) -> str:
    name = model.lower()
    for prefix in PREFIXES:
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    name = name.lstrip("-_")
    return name or str(config.get("target_lang") or DEFAULT_TARGET)


def job_of(req: ChatRequest, config: dict[str, Any]) -> TranslationJob:
    if isinstance(req.native, TranslationJob):
        return req.native
    for i in range(len(req.body["messages"]) - 1, -1, -1):
        msg = req.body["messages"][i]
        if msg["role"] == "user":
            text = flatten(msg.get("content"), f"messages[{i}]")
            if text.strip():
                return TranslationJob([text], target_of(req.upstream_model or req.model, config))
            break
    raise reject("A translation model translates the last user message, which is missing or empty.")


def _job(req: ChatRequest) -> TranslationJob:
    """The job build_chat made (kept in ``native`` unless another inbound protocol uses that)."""
    return req.native if isinstance(req.native, TranslationJob) else job_of(req, {})


def usage_of(job: TranslationJob) -> Usage:
    chars = job.characters
    return Usage(prompt_tokens=chars, completion_tokens=0, characters=chars)


def completion(req: ChatRequest, translations: list[Translation], usage: Usage) -> dict[str, Any]:
    text = "\n".join(t.text for t in translations)
    return {"id": "chatcmpl-" + os.urandom(12).hex(), "object": "chat.completion", "created": int(time.time()),
            "model": req.upstream_model or req.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": None},
                         "logprobs": None, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": usage.prompt_tokens, "completion_tokens": 0,
                      "total_tokens": usage.prompt_tokens}}


class TranslationChatAdapter:
    def __init__(self, translator: Translator) -> None:
        self.translator = translator

    def build_chat(self, channel: ChannelInfo, key: str, req: ChatRequest) -> UpstreamRequest:
        job = job_of(req, channel.config)
        if req.native is None:
            req.native = job  # parse_chat and the stream relay read the same job back
        return self.translator.build_translate(channel, key, job)

    def parse_chat(self, req: ChatRequest, body: bytes) -> tuple[bytes, Usage | None]:
        job = _job(req)
        translations = self.translator.parse_translate(job, body)
        usage = usage_of(job)
        return orjson.dumps(completion(req, translations, usage)), usage

    def completion_text(self, body: bytes) -> str:
        return ""

    def stream_relay(self, req: ChatRequest) -> TranslationStreamRelay:
        return TranslationStreamRelay(self.translator, req)

    def parse_error(self, status: int, body: bytes) -> UpstreamError:
        return self.translator.parse_error(status, body)


class TranslationStreamRelay:
    """The whole upstream answer, then the chat chunks; nothing before it is complete JSON."""

    __slots__ = ("_body", "_req", "_text", "_translator", "done", "error", "usage")

    def __init__(self, translator: Translator, req: ChatRequest) -> None:
        self._translator = translator
        self._req = req
        self._body = b""
        self._text = ""
        self.usage: Usage | None = None
        self.done = False
        self.error: UpstreamError | None = None

    def feed(self, data: bytes) -> bytes:
        if self.done or self.error is not None:
            return b""
        self._body += data
        if not self._body.rstrip().endswith(b"}"):
            return b""
        try:
            orjson.loads(self._body)
        except orjson.JSONDecodeError:
            return b""  # not all of it yet
        job = _job(self._req)
        try:
            translations = self._translator.parse_translate(job, self._body)
        except UpstreamFailure as exc:
            self.error = exc.error
            return b"data: " + orjson.dumps({"error": {"message": exc.error.message, "type": exc.error.type,
                                                       "param": None, "code": exc.error.code}}) + b"\n\n" + DONE
        self.usage = usage_of(job)
        whole = completion(self._req, translations, self.usage)
        self._text = whole["choices"][0]["message"]["content"]
        base = {"id": whole["id"], "object": "chat.completion.chunk", "created": whole["created"],
                "model": whole["model"]}
        out = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": self._text},
                                     "logprobs": None, "finish_reason": None}]},
               {**base, "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}]}]
        if self._req.wants_usage:
            out.append({**base, "choices": [], "usage": whole["usage"]})
        self.done = True
        return b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in out) + DONE

    def completion_text(self) -> str:
        return self._text
