"""``POST /v1/audio/speech`` — JSON in, binary audio out (chunked), or SSE with ``stream_format: "sse"``.

Deterministic rules: the audio lasts ``max(0.5, len(input) / 15 / speed)`` seconds (about 15
characters per second of speech); bytes come from :mod:`.audiofmt` seeded by
``sha256(model | voice | input)``, so the same request always returns the same bytes and a longer
input returns proportionally more. The body is written in at least four chunks (512 B - 16 KiB each)
with chunked transfer encoding; ``trickle_ms`` pauses between chunks and ``stream_cut_after: N``
drops the connection after N chunks. SSE mode sends ``speech.audio.delta`` events (base64 chunks)
then ``speech.audio.done`` with usage (input = text tokens, output = 10 audio tokens per second).
"""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import math
from typing import Any

import orjson
from aiohttp import web

from . import audiofmt, params, tokens
from .errors import APIError
from .messages import invalid_type, invalid_value
from .plumbing import api, check_model, headers, read_json_object
from .state import SimState
from .streaming import abort

VOICES = ("alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer", "verse",
          "marin", "cedar")
FORMATS = ("mp3", "opus", "aac", "flac", "wav", "pcm")
CHARS_PER_SECOND = 15
AUDIO_TOKENS_PER_SECOND = 10


@api(faults=True)
async def speech(request: web.Request, state: SimState) -> web.StreamResponse:
    knobs = copy.copy(state.knobs)
    body = await read_json_object(request)
    model = params.string(body, "model", required=True) or ""
    text = params.string(body, "input", required=True, max_len=4096) or ""
    if not text:
        raise APIError(400, "Invalid 'input': string too short. Expected a string with minimum length 1, but got "
                       "an empty string instead.", param="input", code="string_below_min_length")
    voice = _voice(params.require(body, "voice"))
    fmt = params.choice(body, "response_format", FORMATS, "mp3") or "mp3"
    speed = params.number(body, "speed", 0.25, 4.0) or 1.0
    params.string(body, "instructions", max_len=4096)
    stream_format = params.choice(body, "stream_format", ("sse", "audio"), "audio")
    if stream_format == "sse" and model.startswith(("tts-1", "tts-1-hd")):
        raise APIError(400, f"stream_format 'sse' is not supported for model '{model}'.", param="stream_format",
                       code="unsupported_value")
    check_model(state, model)
    seconds = round(max(0.5, len(text) / CHARS_PER_SECOND / speed), 3)
    audio = audiofmt.render(fmt, seconds, hashlib.sha256(f"{model}|{voice}|{text}".encode()).digest())
    size = min(16384, max(512, math.ceil(len(audio) / 4)))
    chunks = [audio[i : i + size] for i in range(0, len(audio), size)]
    hdrs = headers(state)
    if stream_format == "sse":
        response = web.StreamResponse(status=200, headers=hdrs)
        response.content_type = "text/event-stream"
        usage = {"input_tokens": tokens.count(text), "output_tokens": math.ceil(seconds * AUDIO_TOKENS_PER_SECOND)}
        usage["total_tokens"] = usage["input_tokens"] + usage["output_tokens"]
        events = [{"type": "speech.audio.delta", "audio": base64.b64encode(c).decode()} for c in chunks]
        events.append({"type": "speech.audio.done", "usage": usage})
        frames = [b"data: " + orjson.dumps(e) + b"\n\n" for e in events]
    else:
        response = web.StreamResponse(status=200, headers=hdrs)
        response.content_type = audiofmt.CONTENT_TYPES[fmt]
        frames = chunks
    response.enable_chunked_encoding()
    await response.prepare(request)
    stopping = state.stopping or asyncio.Event()
    for sent, frame in enumerate(frames):
        if knobs.stream_cut_after is not None and sent >= knobs.stream_cut_after:
            abort(request)
            return response
        if sent and knobs.trickle_ms:
            try:
                await asyncio.wait_for(stopping.wait(), knobs.trickle_ms / 1000)
            except TimeoutError:
                pass
        await response.write(frame)
    await response.write_eof()
    return response


def _voice(value: Any) -> str:
    if isinstance(value, dict):
        voice_id = value.get("id")
        if not isinstance(voice_id, str) or not voice_id:
            raise invalid_type("voice.id", "a string", voice_id)
        return voice_id
    if not isinstance(value, str):
        raise invalid_type("voice", "one of a string or object", value)
    if value not in VOICES:
        raise invalid_value("voice", value, VOICES)
    return value
