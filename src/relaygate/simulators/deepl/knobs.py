"""Knobs of the fake DeepL API (the shared fault knobs plus DeepL-specific ones)."""

from __future__ import annotations

from dataclasses import dataclass

from relaygate.simulators.anthropic.runner import BaseKnobs


@dataclass
class Knobs(BaseKnobs):
    character_limit: int = 500_000
    """The account's character limit (Free: 500,000 a month): a request that would pass it gets 456."""
