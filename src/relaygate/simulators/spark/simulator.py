"""``SparkSimulator``: the fake iFlytek Spark WebSocket API, in-process or in a thread."""

from __future__ import annotations

from aiohttp import web

from relaygate.simulators.anthropic.runner import SimState, SimulatorBase

from .knobs import Knobs
from .server import create_app
from .state import SparkState


class SparkSimulator(SimulatorBase):
    """A faithful fake ``spark-api.xf-yun.com`` (a real WebSocket server). ``base_url`` is the
    ``http://`` root (clients connect to ``ws://<host>/<version path>``); ``credentials`` maps API key
    -> (app_id, API secret). ``sessions`` lists each WebSocket (request frame, frames sent, who
    closed it and how); ``handshakes_refused`` counts refused signatures."""

    thread_name = "spark-simulator"

    def __init__(self, credentials: dict[str, tuple[str, str]], *, knobs: Knobs | None = None) -> None:
        super().__init__(SparkState(api_keys=None, models=None, knobs=knobs if knobs is not None else Knobs(),
                                    credentials=dict(credentials)))

    @property
    def knobs(self) -> Knobs:
        return self._state.knobs  # type: ignore[return-value]

    @property
    def sessions(self) -> list[dict]:
        return self._state.sessions  # type: ignore[attr-defined, no-any-return]

    @property
    def handshakes_refused(self) -> int:
        return self._state.handshakes_refused  # type: ignore[attr-defined, no-any-return]

    def _create_app(self, state: SimState) -> web.Application:
        return create_app(state)  # type: ignore[arg-type]
