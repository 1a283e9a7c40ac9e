"""``StabilitySimulator``: the fake ``api.stability.ai``; ``base_url`` is the root (clients append
``/v1/...`` or ``/v2beta/...``). Same lifecycle as ``OpenAISimulator`` (see :mod:`..common.runner`)."""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web

from relaygate.simulators.common.runner import BaseState, SimulatorBase

from .server import create_app
from .state import StabilityKnobs, StabilityState


class StabilitySimulator(SimulatorBase):
    """``api_keys=None`` accepts any non-empty key; ``credits`` is the starting balance that every
    generated image draws down (``reset()`` restores it)."""

    thread_name = "stability-simulator"

    def __init__(self, api_keys: Iterable[str] | None = None, *, credits: float = 1000.0,
                 knobs: StabilityKnobs | None = None) -> None:
        state = StabilityState(knobs=knobs if knobs is not None else StabilityKnobs(),
                               api_keys=frozenset(api_keys) if api_keys is not None else None,
                               credits=credits, initial_credits=credits)
        state.on_reset.append(lambda: setattr(state, "credits", state.initial_credits))
        super().__init__(state)

    @property
    def knobs(self) -> StabilityKnobs:
        return self._state.knobs  # type: ignore[return-value]

    @property
    def credits(self) -> float:
        return self._state.credits  # type: ignore[attr-defined,no-any-return]

    @credits.setter
    def credits(self, value: float) -> None:
        self._state.credits = value  # type: ignore[attr-defined]

    def _create_app(self, state: BaseState) -> web.Application:
        assert isinstance(state, StabilityState)
        return create_app(state)
