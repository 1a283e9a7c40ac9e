"""``/v1/audio/speech`` (JSON in, audio streamed out) and ``/transcriptions`` / ``/translations`` (uploads).

Speech is priced per character of ``input`` (the price's ``per_character``, per 1M characters, shared
with translation models; without one, characters are billed as prompt tokens at the input price, the
same convention). The count is known before the call, so the reservation is the exact cost. The audio
is streamed to the caller chunk by chunk in whatever format the upstream produced.

Transcriptions and translations are priced per second of audio (``per_second``, whole seconds rounded
up). The seconds come from the upstream's answer (``verbose_json``'s ``duration``, or a ``usage`` of type
``duration``), else from the file itself (a WAV header gives the exact length), else from the last
subtitle cue (``srt``/``vtt``), else from the file size at ``TYPICAL_BYTES_PER_SECOND``. The reservation
is the WAV length when the file is a WAV, else the size at ``MIN_BYTES_PER_SECOND``, an upper bound for
speech in any common codec. Without ``per_second`` the token usage the upstream reports
(gpt-4o-transcribe) is billed at the token prices. Usage records keep characters (speech) or seconds
(audio in) in ``prompt_tokens`` when billed by those units.
"""

from __future__ import annotations

import math
import re
import struct
from typing import TYPE_CHECKING, Any

import orjson

from relaygate.api.errors import bad_request
from relaygate.api.http import Receive, Scope, Send
from relaygate.billing.pricing import cost_of, worst_case_cost
from relaygate.providers.base import Usage
from relaygate.relay import pipeline
from relaygate.relay.pipeline import Call, CallContext, Endpoint
from relaygate.state.snapshot import PriceInfo

if TYPE_CHECKING:
    from relaygate.relay.service import Relay

MIN_BYTES_PER_SECOND = 4000  # 32 kbit/s: lower than any common speech codec setting, so an upper bound
TYPICAL_BYTES_PER_SECOND = 16000  # 128 kbit/s, when nothing else tells the length
AUDIO_TOKENS_PER_SECOND = 10  # reservation for token-priced transcription models
FORMATS = ("json", "text", "srt", "verbose_json", "vtt", "diarized_json")
_CUE_END = re.compile(rb"--> ?(\d+):(\d\d):(\d\d)[,.](\d{3})")


# --- speech ----------------------------------------------------------------------------------


def read_speech(call: Call) -> None:
    assert call.body is not None
    text = call.body.get("input")
    if not isinstance(text, str) or not text:
        raise bad_request("you must provide an input parameter", "input", "missing_required_parameter")
    if not isinstance(call.body.get("voice"), str | dict):
        raise bad_request("you must provide a voice parameter", "voice", "missing_required_parameter")
    call.units = len(text)


def reserve_speech(call: Call, price: PriceInfo | None) -> int:
    return worst_case_cost(price, call.units, 0, call.units)


def settle_speech(call: Call, ctx: CallContext) -> None:
    ctx.usage, ctx.usage_source = Usage(prompt_tokens=call.units, characters=call.units), "local"


def no_whole_answer(call: Call, ctx: CallContext, raw: bytes, ctype: str) -> bytes:
    raise AssertionError("speech answers are streamed")


SPEECH = Endpoint("audio.speech", "/audio/speech", read_speech, reserve_speech, no_whole_answer, streams=True,
                  piped=settle_speech)


# --- transcriptions and translations ---------------------------------------------------------


def wav_seconds(head: bytes, size: int) -> float | None:
    """Length of a RIFF/WAVE file from its header (``head``: its first bytes, ``size``: all of it)."""
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    position, byte_rate = 12, 0
    while position + 8 <= len(head):
        chunk, length = struct.unpack_from("<4sI", head, position)
        if chunk == b"fmt " and position + 20 <= len(head):
            byte_rate = struct.unpack_from("<I", head, position + 16)[0]
        elif chunk == b"data":
            if not byte_rate:
                return None
            data = min(length, size - position - 8)  # streamed WAVs announce 0xFFFFFFFF
            return max(0, data) / byte_rate
        position += 8 + length + (length & 1)
    return None


def read_transcription(call: Call) -> None:
    assert call.form is not None
    files = call.form.files("file")
    if not files:
        raise bad_request("you must provide a file", "file", "missing_required_parameter")
    fmt = call.form.get("response_format") or "json"
    if fmt not in FORMATS:
        raise bad_request(f"'response_format' must be one of {', '.join(FORMATS)}.", "response_format",
                          "invalid_value")
    call.stream = call.form.get("stream") == "true"
    upload = files[0]
    exact = wav_seconds(call.form.head(upload, 64 * 1024), upload.size)
    call.info.update(format=fmt, file_bytes=upload.size, wav_seconds=exact)
    call.units = math.ceil(exact if exact is not None else upload.size / MIN_BYTES_PER_SECOND)


def reserve_transcription(call: Call, price: PriceInfo | None) -> int:
    if price is None:
        return 0
    if price.per_second is not None:
        return call.units * price.per_second + price.per_request
    tokens = call.units * AUDIO_TOKENS_PER_SECOND
    return worst_case_cost(price, tokens + 1000, tokens)


def _seconds_from(call: Call, data: dict[str, Any] | None, raw: bytes) -> tuple[float, str]:
    if data is not None:
        if isinstance(data.get("duration"), int | float):
            return float(data["duration"]), "upstream"
        usage = data.get("usage")
        if isinstance(usage, dict) and usage.get("type") == "duration" and isinstance(usage.get("seconds"),
                                                                                      int | float):
            return float(usage["seconds"]), "upstream"
    if call.info["wav_seconds"] is not None:
        return call.info["wav_seconds"], "local"
    ends = _CUE_END.findall(raw[-4096:]) if data is None else []
    if ends:
        h, m, s, ms = map(int, ends[-1])
        return h * 3600 + m * 60 + s + ms / 1000, "local"
    return call.info["file_bytes"] / TYPICAL_BYTES_PER_SECOND, "local"


def settle_transcription(call: Call, ctx: CallContext, data: dict[str, Any] | None, raw: bytes) -> None:
    price = ctx.price
    if price is None:
        ctx.unit_cost = 0
    if price is not None and price.per_second is None:
        usage = (data or {}).get("usage")
        if isinstance(usage, dict) and usage.get("type") == "tokens":
            ctx.usage = Usage(prompt_tokens=_int(usage.get("input_tokens")),
                              completion_tokens=_int(usage.get("output_tokens")))
            ctx.unit_cost = cost_of(price, ctx.usage)
            return
    seconds, ctx.usage_source = _seconds_from(call, data, raw)
    whole = math.ceil(round(seconds, 3))
    ctx.usage = Usage(prompt_tokens=whole)
    if price is not None:
        ctx.unit_cost = (whole * price.per_second if price.per_second is not None else 0) + price.per_request


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def answer_transcription(call: Call, ctx: CallContext, raw: bytes, ctype: str) -> bytes:
    data = None
    if ctype.startswith("application/json"):
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise pipeline.malformed("transcription") from None
        if not isinstance(data, dict) or not isinstance(data.get("text", data.get("segments")), str | list):
            raise pipeline.malformed("transcription")
    settle_transcription(call, ctx, data, raw)
    return raw


def piped_transcription(call: Call, ctx: CallContext) -> None:
    settle_transcription(call, ctx, None, b"")


TRANSCRIPTIONS = Endpoint("audio.transcriptions", "/audio/transcriptions", read_transcription,
                          reserve_transcription, answer_transcription, multipart=True, piped=piped_transcription)
TRANSLATIONS = Endpoint("audio.translations", "/audio/translations", read_transcription, reserve_transcription,
                        answer_transcription, multipart=True, piped=piped_transcription)


async def handle_speech(relay: Relay, scope: Scope, receive: Receive, send: Send) -> None:
    await pipeline.run(relay, SPEECH, scope, receive, send)


async def handle_transcriptions(relay: Relay, scope: Scope, receive: Receive, send: Send) -> None:
    await pipeline.run(relay, TRANSCRIPTIONS, scope, receive, send)


async def handle_translations(relay: Relay, scope: Scope, receive: Receive, send: Send) -> None:
    await pipeline.run(relay, TRANSLATIONS, scope, receive, send)

