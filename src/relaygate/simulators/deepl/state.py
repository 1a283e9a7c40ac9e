"""State of the fake DeepL API: the shared simulator state plus the characters translated."""

from __future__ import annotations

from dataclasses import dataclass

from relaygate.simulators.anthropic.runner import SimState


@dataclass
class DeepLState(SimState):
    character_count: int = 0
    """Characters translated since the last reset (what ``/v2/usage`` reports)."""

    def reset(self) -> None:
        super().reset()
        self.character_count = 0
