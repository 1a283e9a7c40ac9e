"""State of the fake Baidu Fanyi API: the shared simulator state plus apps and characters."""

from __future__ import annotations

from dataclasses import dataclass, field

from relaygate.simulators.anthropic.runner import SimState


@dataclass
class FanyiState(SimState):
    apps: dict[str, str] = field(default_factory=dict)
    """APPID -> secret key."""
    characters: int = 0

    def reset(self) -> None:
        super().reset()
        self.characters = 0
