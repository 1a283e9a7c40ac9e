"""``POST /v1/audio/transcriptions`` and ``/v1/audio/translations`` (multipart ``file`` + ``model``).

Deterministic rules:

* Duration: read from the header when the upload is a RIFF/WAVE file (``data`` size / byte rate),
  otherwise estimated as ``size / 16000`` s (128 kbit/s). Under 0.1 s -> the real 400
  ``audio_too_short``. The file extension must be one the real API accepts.
* Text: ``max(1, round(duration * 2.5))`` words (150 words/min, capped at 3000) of the shared
  vocabulary, seeded by ``sha256(task | file bytes)`` — the same audio always gives the same text;
  translations differ from transcriptions and always report ``language: "english"``.
* Timing: words share the duration evenly; one segment per 10-word sentence.
* ``response_format``: ``json`` (default) -> ``{"text", "usage"}`` (translations: ``{"text"}``);
  ``text`` -> the text plus ``\\n`` as text/plain; ``srt`` / ``vtt`` -> one cue per segment;
  ``verbose_json`` -> ``task``, ``language``, ``duration``, ``text``, ``segments`` (unless only
  ``word`` granularity was asked), ``words`` (when ``timestamp_granularities[]`` has ``word``), usage;
  ``diarized_json`` (``*-diarize`` models) -> segments alternating speakers ``A``/``B``.
* Models: ``whisper*`` accept every format and report usage ``{"type": "duration", "seconds":
  ceil(duration)}``; other models (gpt-4o-transcribe...) accept ``json``/``text`` only and report
  token usage: input = ``ceil(duration * 10)`` audio tokens + prompt tokens, output = text tokens.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

from aiohttp import web

from . import audiofmt, params, replies, tokens
from .errors import APIError
from .messages import invalid_value, missing
from .plumbing import api, check_model, form_float, headers, ok, read_form
from .state import SimState

EXTENSIONS = ("flac", "m4a", "mp3", "mp4", "mpeg", "mpga", "oga", "ogg", "wav", "webm")
FORMATS = ("json", "text", "srt", "verbose_json", "vtt", "diarized_json")
LANGUAGES = {
    "en": "english", "zh": "chinese", "de": "german", "es": "spanish", "ru": "russian", "ko": "korean",
    "fr": "french", "ja": "japanese", "pt": "portuguese", "tr": "turkish", "pl": "polish", "ca": "catalan",
    "nl": "dutch", "ar": "arabic", "sv": "swedish", "it": "italian", "id": "indonesian", "hi": "hindi",
    "fi": "finnish", "vi": "vietnamese", "he": "hebrew", "uk": "ukrainian", "el": "greek", "ms": "malay",
    "cs": "czech", "ro": "romanian", "da": "danish", "hu": "hungarian", "ta": "tamil", "no": "norwegian",
    "th": "thai", "ur": "urdu", "hr": "croatian", "bg": "bulgarian", "lt": "lithuanian", "la": "latin",
}
WORDS_PER_SECOND = 2.5
MAX_WORDS = 3000
AUDIO_TOKENS_PER_SECOND = 10


@api(faults=True)
async def transcribe(request: web.Request, state: SimState) -> web.StreamResponse:
    return await _handle(request, state, "transcribe")


@api(faults=True)
async def translate(request: web.Request, state: SimState) -> web.StreamResponse:
    return await _handle(request, state, "translate")


async def _handle(request: web.Request, state: SimState, task: str) -> web.StreamResponse:
    form = await read_form(request, state)
    upload = form.file("file")
    if upload is None:
        raise missing("file")
    model = form.get("model")
    if not model:
        raise missing("model")
    whisper = model.startswith("whisper")
    if task == "translate" and not whisper:
        raise invalid_value("model", model, ("whisper-1",))
    fmt = params.choice({"response_format": form.get("response_format")}, "response_format", FORMATS, "json")
    allowed = FORMATS[:5] if whisper else ("json", "text", "diarized_json") if "diarize" in model else ("json", "text")
    if fmt not in allowed:
        raise APIError(400, f"response_format '{fmt}' is not compatible with model '{model}'. Use "
                       + " or ".join(f"'{f}'" for f in allowed) + ".", param="response_format",
                       code="unsupported_value")
    language = form.get("language") or None
    if language is not None and language not in LANGUAGES:
        raise APIError(400, f"Invalid language '{language}'. Language parameter must be specified in ISO-639-1 "
                       "format.", param="language", code="invalid_language_format")
    temperature = form_float(form, "temperature", 0.0) or 0.0
    params.in_range("temperature", temperature, 0, 1, "decimal")
    granularities = form.getall("timestamp_granularities[]", "timestamp_granularities")
    for value in granularities:
        if value not in ("word", "segment"):
            raise invalid_value("timestamp_granularities", value, ("word", "segment"))
    if granularities and fmt != "verbose_json":
        raise APIError(400, "timestamp_granularities is only supported when response_format is verbose_json.",
                       param="timestamp_granularities")
    extension = upload.filename.rsplit(".", 1)[-1].lower() if "." in upload.filename else ""
    if extension not in EXTENSIONS:
        raise APIError(400, f"Invalid file format. Supported formats: {list(EXTENSIONS)}", param="file",
                       code="invalid_value")
    duration = audiofmt.duration_of(upload.data)
    if duration < 0.1:
        raise APIError(400, "Audio file is too short. Minimum audio length is 0.1 seconds.", param="file",
                       code="audio_too_short")
    check_model(state, model)
    words = transcript_words(task, upload.data, duration)
    text = " ".join(w for w, _, _ in words)
    segments = _segments(words, text, temperature)
    usage = _usage(whisper, duration, text, form.get("prompt") or "")
    if fmt == "text":
        return web.Response(text=text + "\n", content_type="text/plain", headers=headers(state))
    if fmt in ("srt", "vtt"):
        return web.Response(text=subtitles(fmt, segments), content_type="text/plain", headers=headers(state))
    language_name = "english" if task == "translate" else LANGUAGES[language or "en"]
    if fmt == "verbose_json":
        body: dict[str, Any] = {"task": task, "language": language_name, "duration": round(duration, 2),
                                "text": text}
        if not granularities or "segment" in granularities:
            body["segments"] = segments
        if "word" in granularities and task == "transcribe":
            body["words"] = [{"word": w, "start": s, "end": e} for w, s, e in words]
        if whisper and task == "transcribe":
            body["usage"] = usage
        return ok(state, body)
    if fmt == "diarized_json":
        diarized = [{"type": "transcript.text.segment", "id": f"seg_{s['id']:03d}", "start": s["start"],
                     "end": s["end"], "text": s["text"].strip(), "speaker": "AB"[s["id"] % 2]} for s in segments]
        return ok(state, {"task": "transcribe", "duration": round(duration, 2), "text": text,
                          "segments": diarized, "usage": usage})
    return ok(state, {"text": text, "usage": usage} if task == "transcribe" else {"text": text})


def transcript_words(task: str, data: bytes, duration: float) -> list[tuple[str, float, float]]:
    """(word, start, end) for the whole transcript; words share the duration evenly."""
    count = min(MAX_WORDS, max(1, round(duration * WORDS_PER_SECOND)))
    seed = hashlib.sha256(task.encode() + b"|" + data).digest()
    text = replies.reply_text(seed, 0, count)
    step = duration / count
    return [(w, round(i * step, 2), round((i + 1) * step, 2)) for i, w in enumerate(text.split())]


def _segments(words: list[tuple[str, float, float]], text: str, temperature: float) -> list[dict[str, Any]]:
    segments = []
    size = replies.SENTENCE_WORDS
    for index in range(0, len(words), size):
        group = words[index : index + size]
        seg_text = " " + " ".join(w for w, _, _ in group)
        start = group[0][1]
        segments.append({
            "id": index // size, "seek": int(start * 100) // 3000 * 3000, "start": start, "end": group[-1][2],
            "text": seg_text, "tokens": tokens.encode(seg_text), "temperature": temperature,
            "avg_logprob": -0.25, "compression_ratio": 1.35, "no_speech_prob": 0.01,
        })
    return segments


def _usage(whisper: bool, duration: float, text: str, prompt: str) -> dict[str, Any]:
    if whisper:
        return {"type": "duration", "seconds": math.ceil(duration)}
    audio_tokens = math.ceil(duration * AUDIO_TOKENS_PER_SECOND)
    text_tokens = tokens.count(prompt)
    output = tokens.count(text)
    return {"type": "tokens", "input_tokens": audio_tokens + text_tokens,
            "input_token_details": {"text_tokens": text_tokens, "audio_tokens": audio_tokens},
            "output_tokens": output, "total_tokens": audio_tokens + text_tokens + output}


def timestamp(seconds: float, separator: str) -> str:
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def subtitles(fmt: str, segments: list[dict[str, Any]]) -> str:
    """SRT (``1\\n00:00:00,000 --> 00:00:04,000\\nText\\n\\n``) or WebVTT (``WEBVTT\\n\\n00:00:00.000 --> ...``)."""
    if fmt == "srt":
        return "".join(f"{i + 1}\n{timestamp(s['start'], ',')} --> {timestamp(s['end'], ',')}\n{s['text'].strip()}\n\n"
                       for i, s in enumerate(segments))
    cues = "".join(f"{timestamp(s['start'], '.')} --> {timestamp(s['end'], '.')}\n{s['text'].strip()}\n\n"
                   for s in segments)
    return "WEBVTT\n\n" + cues
