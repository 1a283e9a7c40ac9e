"""Knobs of the fake Gemini upstream (the shared fault knobs plus Gemini-specific ones)."""

from __future__ import annotations

from dataclasses import dataclass

from relaygate.simulators.anthropic.runner import BaseKnobs


@dataclass
class Knobs(BaseKnobs):
    block_prompt: str | None = None
    """Block every prompt with this ``promptFeedback.blockReason`` (e.g. "SAFETY"): no candidates."""
    finish_reason: str | None = None
    """Force this ``finishReason`` (e.g. "SAFETY", "RECITATION") on every candidate."""
    thoughts: bool = False
    """Return a ``thought: true`` part first even when the request did not ask for thoughts."""
    cached_tokens: int = 0
    """Report this many prompt tokens as ``cachedContentTokenCount`` (part of ``promptTokenCount``)."""
    words_per_chunk: int = 4
    """Words of text per streamed chunk (Gemini streams several words at a time)."""
