"""Token counts of a chat request: a worst case for the reservation, a best guess for billing.

The reservation must not be below what the upstream will count, or a burst of requests could
overdraw an account. Byte-level BPE tokens (OpenAI's, and the SentencePiece vocabularies of
other providers) are at least one byte each, so the UTF-8 size of every text the upstream sees
is a true upper bound, and costs no tokenizer: no CPU per request and none of the tokenizer
tables' memory in a process that never needs them. The tokenizer count is used only to bill
answers whose upstream reported no usage.
"""

from __future__ import annotations

from typing import Any

import orjson

from relaygate.billing.tokens import count_tokens

PER_MESSAGE = 4
PER_REQUEST = 8
PER_IMAGE = 1600  # above a high-detail 2048px image's tile count
PER_AUDIO = 4000


def estimate_prompt_tokens(body: dict[str, Any], model: str) -> int:
    """The reservation's view: an upper bound, one token per UTF-8 byte of text."""
    texts, extra = _texts(body)
    return sum(len(t) if t.isascii() else len(t.encode()) for t in texts) + len(texts) + extra


def count_prompt_tokens(body: dict[str, Any], model: str) -> int:
    """What the upstream most likely counts, for billing when it reports nothing."""
    texts, extra = _texts(body)
    return count_tokens("\n".join(texts), model) + extra


def _texts(body: dict[str, Any]) -> tuple[list[str], int]:
    """Every text the upstream will read, and the fixed extra tokens of framing and media."""
    texts: list[str] = []
    extra = PER_REQUEST
    for msg in body.get("messages") or ():
        if not isinstance(msg, dict):
            continue
        extra += PER_MESSAGE
        extra += _content(msg.get("content"), texts)
        for key in ("name", "role"):
            if isinstance(msg.get(key), str):
                texts.append(msg[key])
        calls = msg.get("tool_calls")
        for call in calls if isinstance(calls, list) else ():
            if isinstance(call, dict):
                texts.append(orjson.dumps(call.get("function") or {}).decode())
        if isinstance(msg.get("function_call"), dict):
            texts.append(orjson.dumps(msg["function_call"]).decode())
    for field in ("tools", "functions", "response_format"):
        if body.get(field):
            texts.append(orjson.dumps(body[field]).decode())
    prompt = body.get("prompt")  # legacy completions
    if isinstance(prompt, str):
        texts.append(prompt)
    return texts, extra


def _content(content: Any, texts: list[str]) -> int:
    if isinstance(content, str):
        texts.append(content)
        return 0
    extra = 0
    if isinstance(content, list):
        for part in content:
            if not isinstance(part, dict):
                continue
            kind = part.get("type")
            if kind == "text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif kind in ("image_url", "image", "file"):
                extra += PER_IMAGE
            elif kind == "input_audio":
                extra += PER_AUDIO
            elif kind == "refusal" and isinstance(part.get("refusal"), str):
                texts.append(part["refusal"])
    return extra


# Output limits of model families whose upstream needs one (Anthropic requires max_tokens) or
# whose own default is larger than the gateway's: the reservation must cover what the upstream
# may generate when the caller gives no limit. Longest matching prefix wins; dots count as dashes.
DEFAULT_OUTPUT_LIMITS: dict[str, int] = {
    "claude-opus-4-5": 64000, "claude-opus-4-1": 32000, "claude-opus-4": 32000,
    "claude-sonnet-4": 64000, "claude-haiku-4": 64000, "claude-3-7-sonnet": 64000,
    "claude-3-5-sonnet": 8192, "claude-3-5-haiku": 8192, "claude-3": 4096, "claude-2": 4096,
    "claude-instant": 4096, "claude": 8192,
    "gemini-3": 65536, "gemini-2-5": 65536, "gemini-2-0": 8192, "gemini-1-5": 8192, "gemini-1-0": 2048,
    "gemini-pro": 2048, "gemini": 8192,
}
_LIMIT_PREFIXES = sorted(DEFAULT_OUTPUT_LIMITS, key=len, reverse=True)


def default_output_limit(model: str) -> int | None:
    """The model family's default output limit, or None for families the table does not know."""
    name = model.rsplit("/", 1)[-1].lower()
    if not name.startswith(("claude", "gemini")):
        return None
    name = name.replace(".", "-")
    for prefix in _LIMIT_PREFIXES:
        if name.startswith(prefix):
            return DEFAULT_OUTPUT_LIMITS[prefix]
    return None


def requested_output_tokens(body: dict[str, Any]) -> int | None:
    for field in ("max_completion_tokens", "max_tokens", "max_output_tokens"):
        value = body.get(field)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None
