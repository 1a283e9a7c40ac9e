"""``BaiduSimulator``: the fake Qianfan v1 API (OAuth token endpoint + ERNIE chat), in-process or in a thread."""

from __future__ import annotations

from aiohttp import web

from relaygate.simulators.anthropic.runner import SimState, SimulatorBase

from .knobs import Knobs
from .server import create_app
from .state import BaiduState


class BaiduSimulator(SimulatorBase):
    """A faithful fake ``aip.baidubce.com``; ``base_url`` is the root. ``credentials`` maps API key
    -> secret key (None accepts any), ``models`` limits the endpoint suffixes (None: the known ones).

    ``tokens_issued`` counts token fetches since the last ``reset()``; ``expire_tokens()`` makes every
    token issued so far expire (the next chat call with one gets error 111).
    """

    thread_name = "baidu-simulator"

    def __init__(self, credentials: dict[str, str] | None = None, models: set[str] | None = None, *,
                 knobs: Knobs | None = None) -> None:
        super().__init__(BaiduState(api_keys=None, models=frozenset(models) if models is not None else None,
                                    knobs=knobs if knobs is not None else Knobs(), credentials=credentials))

    @property
    def knobs(self) -> Knobs:
        return self._state.knobs  # type: ignore[return-value]

    @property
    def tokens_issued(self) -> int:
        return self._state.tokens_issued  # type: ignore[attr-defined, no-any-return]

    def expire_tokens(self) -> None:
        self._state.expire_tokens()  # type: ignore[attr-defined]

    def _create_app(self, state: SimState) -> web.Application:
        return create_app(state)  # type: ignore[arg-type]
