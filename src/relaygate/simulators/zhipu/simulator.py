"""``ZhipuSimulator``: the fake GLM v4 API (open.bigmodel.cn), in-process or in a thread."""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web

from relaygate.simulators.anthropic.runner import SimState, SimulatorBase

from .knobs import Knobs
from .server import create_app
from .state import ZhipuState


class ZhipuSimulator(SimulatorBase):
    """``base_url`` is the root (the API lives under ``/api/paas/v4``). ``api_keys`` are full
    ``<id>.<secret>`` keys; ``jwts_seen`` holds the distinct valid JWTs received since the last reset."""

    thread_name = "zhipu-simulator"

    def __init__(self, api_keys: Iterable[str], models: Iterable[str] | None = None, *,
                 knobs: Knobs | None = None) -> None:
        keys = dict(k.split(".", 1) for k in api_keys)
        super().__init__(ZhipuState(api_keys=None, models=frozenset(models) if models is not None else None,
                                    knobs=knobs if knobs is not None else Knobs(), keys=keys))

    @property
    def knobs(self) -> Knobs:
        return self._state.knobs  # type: ignore[return-value]

    @property
    def jwts_seen(self) -> set[str]:
        return self._state.jwts_seen  # type: ignore[attr-defined, no-any-return]

    @property
    def plain_key_requests(self) -> int:
        return self._state.plain_key_requests  # type: ignore[attr-defined, no-any-return]

    def _create_app(self, state: SimState) -> web.Application:
        return create_app(state)  # type: ignore[arg-type]
