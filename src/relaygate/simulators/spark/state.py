"""State of the fake Spark API: the shared simulator state plus credentials and WebSocket sessions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from relaygate.simulators.anthropic.runner import SimState


@dataclass
class SparkState(SimState):
    credentials: dict[str, tuple[str, str]] = field(default_factory=dict)
    """API key -> (app_id, API secret)."""
    sessions: list[dict[str, Any]] = field(default_factory=list)
    """One entry per accepted WebSocket: ``path``, ``frame`` (the request frame), ``frames_sent``,
    ``closed_by`` ("server" after the last frame, "client" for a closing handshake from the
    client, "dropped" when the connection just went away) and ``close_code``."""
    handshakes_refused: int = 0

    def reset(self) -> None:
        super().reset()
        self.sessions.clear()
        self.handshakes_refused = 0
