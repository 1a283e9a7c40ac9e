"""Deterministic reply text: pure functions, no clock, no global RNG.

Rules (what tests can rely on):

* The seed is ``sha256(canonical JSON of messages)`` — key order inside messages does not matter,
  anything else in the body (``stream``, ``n``, unknown fields...) does not change the text. So a
  streamed and a non-streamed request with the same messages produce the same content.
* The default reply is ``reply_words`` words drawn from :data:`VOCABULARY` with an RNG seeded from
  (seed, choice index): choice 0 and choice 1 of ``n=2`` differ, but every run is identical.
  Sentences are 10 words long, start with a capital and end with ``.``.
* If the last message is a ``tool`` (or legacy ``function``) result, the reply quotes the trailing
  results instead: ``According to the tool results: get_weather returned {"t": 21}; ...``.
* ``response_format`` ``json_object`` -> ``{"reply": "<default reply>"}``; ``json_schema`` -> a JSON
  document generated from the schema (see :mod:`.toolcalls`).
* ``stop`` sequences cut the text before the first occurrence (``finish_reason`` stays ``stop``).
"""

from __future__ import annotations

import hashlib
import random
import re
from typing import Any

import orjson

VOCABULARY: tuple[str, ...] = (
    "the", "relay", "gateway", "model", "answer", "signal", "quiet", "river", "bright", "simple",
    "token", "stream", "upstream", "request", "reply", "garden", "paper", "window", "steady", "clear",
    "morning", "orange", "copper", "harbor", "little", "forest", "lantern", "velvet", "mountain",
    "echo", "circuit", "planet", "meadow", "silver", "canvas", "thunder", "pocket", "marble", "island",
    "falcon", "ribbon", "compass", "summer", "crystal", "engine", "shadow", "violet", "anchor", "breeze",
    "candle", "desert", "feather", "glacier", "horizon", "journey", "kettle", "ladder", "melody",
    "notebook", "ocean", "puzzle", "rocket", "sunrise", "timber",
)
SENTENCE_WORDS = 10


def request_seed(messages: Any) -> bytes:
    """Stable digest of the conversation; the only input of the reply RNG besides the choice index."""
    return hashlib.sha256(orjson.dumps(messages, option=orjson.OPT_SORT_KEYS)).digest()


def derived_rng(seed: bytes, *labels: object) -> random.Random:
    """An RNG for one purpose (reply of choice i, call id j...) derived from the request seed."""
    digest = hashlib.sha256(seed + "|".join(map(str, labels)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def reply_text(seed: bytes, index: int, words: int) -> str:
    """``words`` vocabulary words in 10-word sentences; empty string for ``words <= 0``."""
    rng = derived_rng(seed, "reply", index)
    out: list[str] = []
    for i in range(max(0, words)):
        word = rng.choice(VOCABULARY)
        if i % SENTENCE_WORDS == 0:
            word = word.capitalize()
        if i == words - 1 or i % SENTENCE_WORDS == SENTENCE_WORDS - 1:
            word += "."
        out.append(word)
    return " ".join(out)


def message_text(message: dict[str, Any]) -> str:
    """Plain text of a message's content (string, or the text parts of a part list)."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
        )
    return ""


def last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return message_text(message)
    return ""


def tool_results_text(messages: list[dict[str, Any]]) -> str | None:
    """Quote the trailing tool/function results, or None when the last message is not one."""
    names: dict[str, str] = {}
    for message in messages:
        for call in message.get("tool_calls") or []:
            names[call.get("id", "")] = (call.get("function") or {}).get("name", "")
    quoted: list[str] = []
    for message in reversed(messages):
        role = message.get("role")
        if role == "tool":
            call_id = message.get("tool_call_id", "")
            quoted.append(f"{names.get(call_id) or call_id} returned {message_text(message)}")
        elif role == "function":
            quoted.append(f"{message.get('name', 'function')} returned {message_text(message)}")
        else:
            break
    if not quoted:
        return None
    return "According to the tool results: " + "; ".join(reversed(quoted)) + "."


def apply_stop(text: str, stop: str | list[str] | None) -> str:
    """Cut before the earliest stop sequence, as the real API does (the sequence is not returned)."""
    sequences = [stop] if isinstance(stop, str) else list(stop or [])
    cut = len(text)
    for seq in sequences:
        if seq and (pos := text.find(seq)) != -1:
            cut = min(cut, pos)
    return text[:cut]


_PIECE = re.compile(r"\s*\S+")


def stream_pieces(text: str, max_len: int = 16) -> list[str]:
    """Split into stream deltas: one word (with its leading space) per piece, long words sliced.

    ``"".join(stream_pieces(t)) == t`` always holds, which is what stream parity rests on.
    """
    pieces: list[str] = []
    for word in _PIECE.findall(text):
        pieces.extend(word[i : i + max_len] for i in range(0, len(word), max_len))
    consumed = sum(map(len, pieces))
    if consumed < len(text):  # trailing whitespace
        if pieces:
            pieces[-1] += text[consumed:]
        else:
            pieces.append(text[consumed:])
    return pieces


def argument_fragments(arguments: str, size: int = 8) -> list[str]:
    """Tool-call ``arguments`` split into several fragments, like the real stream does."""
    return [arguments[i : i + size] for i in range(0, len(arguments), size)] or [""]
