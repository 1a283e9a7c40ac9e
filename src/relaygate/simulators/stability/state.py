"""Knobs and shared state of the Stability simulator (engines, credit balance)."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from relaygate.simulators.common.runner import BaseKnobs, BaseState

ENGINES: dict[str, tuple[str, str]] = {
    "stable-diffusion-xl-1024-v1-0": ("Stable Diffusion XL v1.0", "Stability-AI Stable Diffusion XL v1.0"),
    "stable-diffusion-v1-6": ("Stable Diffusion v1.6", "Stability-AI Stable Diffusion v1.6"),
    "stable-diffusion-xl-1024-v0-9": ("Stable Diffusion XL v0.9", "Stability-AI Stable Diffusion XL Beta v0.9"),
}


@dataclass
class StabilityKnobs(BaseKnobs):
    """Base fault knobs; nothing Stability-specific yet (credits are state, see ``sim.credits``)."""


@dataclass
class StabilityState(BaseState):
    api_keys: frozenset[str] | None = None
    engines: dict[str, tuple[str, str]] = field(default_factory=lambda: dict(ENGINES))
    credits: float = 1000.0
    initial_credits: float = 1000.0

    def accepts_key(self, key: str) -> bool:
        return bool(key) and (self.api_keys is None or key in self.api_keys)


STATE = web.AppKey("relaygate_stability_state", StabilityState)
