"""Knobs of the fake Anthropic upstream (the shared fault knobs plus Anthropic-specific ones)."""

from __future__ import annotations

from dataclasses import dataclass

from .runner import BaseKnobs


@dataclass
class Knobs(BaseKnobs):
    thinking: bool = False
    """Answer with a thinking block first even when the request did not enable thinking."""
    cache_read_tokens: int = 0
    """Report this many prompt tokens as ``cache_read_input_tokens`` (taken out of ``input_tokens``)."""
    cache_write_tokens: int = 0
    """Report this many prompt tokens as ``cache_creation_input_tokens``."""
    delta_usage_full: bool = True
    """``message_delta.usage`` carries input and cache counts too (newer API); False: output only."""
    stream_error_type: str = "overloaded_error"
    """Error type of the ``stream_error_after`` event."""
