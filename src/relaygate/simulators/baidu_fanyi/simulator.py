"""``FanyiSimulator``: the fake Baidu Fanyi general translation API, in-process or in a thread."""

from __future__ import annotations

from aiohttp import web

from relaygate.simulators.anthropic.runner import SimState, SimulatorBase

from .knobs import Knobs
from .server import create_app
from .state import FanyiState


class FanyiSimulator(SimulatorBase):
    """A fake ``fanyi-api.baidu.com``; ``base_url`` is the root. ``apps`` maps APPID -> secret key."""

    thread_name = "baidu-fanyi-simulator"

    def __init__(self, apps: dict[str, str], *, knobs: Knobs | None = None) -> None:
        super().__init__(FanyiState(api_keys=None, models=None, knobs=knobs if knobs is not None else Knobs(),
                                    apps=dict(apps)))

    @property
    def knobs(self) -> Knobs:
        return self._state.knobs  # type: ignore[return-value]

    @property
    def characters(self) -> int:
        return self._state.characters  # type: ignore[attr-defined, no-any-return]

    def _create_app(self, state: SimState) -> web.Application:
        return create_app(state)  # type: ignore[arg-type]
