"""Knobs of the fake Spark WebSocket API (the shared fault knobs plus Spark-specific ones)."""

from __future__ import annotations

from dataclasses import dataclass

from relaygate.simulators.anthropic.runner import BaseKnobs


@dataclass
class Knobs(BaseKnobs):
    fail_code: int = 10012
    """``header.code`` of injected failures (``fail_next``/``error_rate``): sent as the first (and
    only) frame, then the server closes. E.g. 11202 (rate), 11201 (daily quota), 10013 (input
    moderation), 10907 (too long), 10012 (engine error)."""
    moderation_after: int | None = None
    """After N text frames, the output fails moderation: error frame 10014, then close."""
    clock_offset_s: int = 0
    """The server's clock runs this far ahead (negative: behind): the date check sees a skew."""
    max_skew_s: int = 300
    """Allowed difference between the signed ``date`` and the server's clock."""
    usage_as_strings: bool = False
    """Send the usage numbers as strings, as older API versions did."""
    words_per_frame: int = 3
    """Words of text per answer frame."""
