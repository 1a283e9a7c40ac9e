"""Knobs of the fake Zhipu GLM v4 upstream (the shared fault knobs plus GLM-specific ones)."""

from __future__ import annotations

from dataclasses import dataclass

from relaygate.simulators.anthropic.runner import BaseKnobs


@dataclass
class Knobs(BaseKnobs):
    sensitive: bool = False
    """Answers end with GLM's ``finish_reason: "sensitive"`` (content filtered)."""
    clock_offset_s: int = 0
    """The server's clock runs this far ahead: a JWT's ``exp`` looks that much older."""
    accept_plain_keys: bool = True
    """Accept ``Bearer <id>.<secret>`` itself (the v4 API does); False: JWTs only."""
