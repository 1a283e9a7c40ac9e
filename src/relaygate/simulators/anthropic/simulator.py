"""``AnthropicSimulator``: the fake Messages API, in-process or in a thread (see :mod:`.runner`)."""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web

from .knobs import Knobs
from .runner import SimState, SimulatorBase
from .server import create_app


class AnthropicSimulator(SimulatorBase):
    """A faithful fake ``api.anthropic.com``; ``base_url`` is the root (clients append ``/v1/...``).

    ``api_keys=None`` accepts any non-empty key; ``models=None`` any model name.
    """

    thread_name = "anthropic-simulator"

    def __init__(self, api_keys: Iterable[str] | None = None, models: Iterable[str] | None = None, *,
                 knobs: Knobs | None = None) -> None:
        super().__init__(SimState(api_keys=frozenset(api_keys) if api_keys is not None else None,
                                  models=frozenset(models) if models is not None else None,
                                  knobs=knobs if knobs is not None else Knobs()))

    @property
    def knobs(self) -> Knobs:
        return self._state.knobs  # type: ignore[return-value]

    def _create_app(self, state: SimState) -> web.Application:
        return create_app(state)
