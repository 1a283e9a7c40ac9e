"""``DeepLSimulator``: the fake DeepL API v2, in-process or in a thread."""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web

from relaygate.simulators.anthropic.runner import SimState, SimulatorBase

from .knobs import Knobs
from .server import create_app
from .state import DeepLState


class DeepLSimulator(SimulatorBase):
    """A fake ``api.deepl.com``; ``base_url`` is the root. ``api_keys=None`` accepts any key;
    ``character_count`` is what the account translated since the last reset."""

    thread_name = "deepl-simulator"

    def __init__(self, api_keys: Iterable[str] | None = None, *, knobs: Knobs | None = None) -> None:
        super().__init__(DeepLState(api_keys=frozenset(api_keys) if api_keys is not None else None, models=None,
                                    knobs=knobs if knobs is not None else Knobs()))

    @property
    def knobs(self) -> Knobs:
        return self._state.knobs  # type: ignore[return-value]

    @property
    def character_count(self) -> int:
        return self._state.character_count  # type: ignore[attr-defined, no-any-return]

    def _create_app(self, state: SimState) -> web.Application:
        return create_app(state)  # type: ignore[arg-type]
