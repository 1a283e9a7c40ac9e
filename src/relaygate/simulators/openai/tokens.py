"""Token accounting with the real ``o200k_base`` tables (bundled by ``bpe_openai``, no network).

Prompt formula (the one OpenAI's cookbook uses for gpt-4o-class chat models), so gateway billing
tests can predict the numbers::

    prompt_tokens = 3                                   # priming of the assistant reply
      + sum over messages of (
            3                                           # per-message framing
          + tok(role) + tok(every text part / string content / refusal)
          + (1 + tok(name) if name)
          + tok(tool_call.function.name) + tok(tool_call.function.arguments)   # assistant history
          + tok(function_call.name) + tok(function_call.arguments)             # legacy history
          + 85 per image_url part with detail "low", 765 otherwise (never fetched)
          + 50 per input_audio part (also reported as prompt_tokens_details.audio_tokens)
          + tok(file.filename) per file part )
      + tok(compact JSON of ``tools``) + tok(compact JSON of ``functions``)

Completion tokens are ``tok(content)`` plus ``tok(name) + tok(arguments)`` per tool/function call,
summed over all ``n`` choices.
"""

from __future__ import annotations

import functools
from typing import Any

import bpe_openai
import orjson

IMAGE_TOKENS_LOW = 85
IMAGE_TOKENS_HIGH = 765
AUDIO_TOKENS = 50
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING = 3


@functools.cache
def encoding() -> bpe_openai.Encoding:
    """Loaded once per process (~1 s); ``OpenAISimulator.start`` warms it up."""
    return bpe_openai.get_encoding("o200k_base")


def encode(text: str) -> list[int]:
    # encode_ordinary: user text containing "<|endoftext|>" is just text, never a special token.
    return encoding().encode_ordinary(text)


def count(text: str | None) -> int:
    return len(encode(text)) if text else 0


def truncate(text: str, max_tokens: int) -> tuple[str, int]:
    """Cut ``text`` to at most ``max_tokens`` tokens; returns (text, tokens kept)."""
    ids = encode(text)
    if len(ids) <= max_tokens:
        return text, len(ids)
    kept = ids[:max_tokens]
    return encoding().decode_bytes(kept).decode("utf-8", errors="ignore"), len(kept)


def token_pieces(text: str) -> list[tuple[int, bytes]]:
    """(token id, raw bytes) for every token of ``text`` (used for fake logprobs)."""
    enc = encoding()
    return [(tid, enc.decode_single_token_bytes(tid)) for tid in encode(text)]


def _content_cost(content: Any) -> tuple[int, int]:
    """(tokens, audio tokens) of a message ``content`` (string or list of parts)."""
    if isinstance(content, str):
        return count(content), 0
    if not isinstance(content, list):
        return 0, 0
    tokens = audio = 0
    for part in content:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind == "text":
            tokens += count(part.get("text"))
        elif kind == "refusal":
            tokens += count(part.get("refusal"))
        elif kind == "image_url":
            detail = (part.get("image_url") or {}).get("detail")
            tokens += IMAGE_TOKENS_LOW if detail == "low" else IMAGE_TOKENS_HIGH
        elif kind == "input_audio":
            tokens += AUDIO_TOKENS
            audio += AUDIO_TOKENS
        elif kind == "file":
            tokens += count((part.get("file") or {}).get("filename"))
    return tokens, audio


def _call_cost(call: Any) -> int:
    if not isinstance(call, dict):
        return 0
    return count(call.get("name")) + count(call.get("arguments"))


def prompt_usage(body: dict[str, Any]) -> tuple[int, int]:
    """(prompt tokens, of which audio tokens) for a validated chat request body."""
    total, audio = REPLY_PRIMING, 0
    for message in body["messages"]:
        content_tokens, content_audio = _content_cost(message.get("content"))
        total += TOKENS_PER_MESSAGE + count(message.get("role")) + content_tokens
        audio += content_audio
        if isinstance(message.get("refusal"), str):
            total += count(message["refusal"])
        if isinstance(message.get("name"), str):
            total += TOKENS_PER_NAME + count(message["name"])
        for call in message.get("tool_calls") or []:
            total += _call_cost(call.get("function") if isinstance(call, dict) else None)
        total += _call_cost(message.get("function_call"))
    for key in ("tools", "functions"):
        if body.get(key):
            total += count(orjson.dumps(body[key]).decode())
    return total, audio


def usage_object(prompt: int, completion: int, audio: int = 0) -> dict[str, Any]:
    """Usage with the detail objects real responses carry (all zero except what we simulate)."""
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": audio},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }
