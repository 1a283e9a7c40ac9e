"""``SDWebUISimulator``: a fake AUTOMATIC1111 WebUI started with ``--api``; ``base_url`` is the root
(clients append ``/sdapi/v1/...``). Same lifecycle as ``OpenAISimulator`` (see :mod:`..common.runner`)."""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web

from relaygate.simulators.common.runner import BaseState, SimulatorBase

from .server import create_app
from .state import DEFAULT_CHECKPOINTS, SDWebUIKnobs, SDWebUIState


class SDWebUISimulator(SimulatorBase):
    """``api_auth`` mirrors ``--api-auth``: ``"user:pass"`` (comma-separated for several) or pairs;
    None disables auth. ``checkpoints`` are the file names listed by ``/sdapi/v1/sd-models``."""

    thread_name = "sdwebui-simulator"

    def __init__(self, api_auth: str | Iterable[tuple[str, str]] | None = None, *,
                 checkpoints: Iterable[str] = DEFAULT_CHECKPOINTS, knobs: SDWebUIKnobs | None = None) -> None:
        if isinstance(api_auth, str):
            pairs = [tuple(item.split(":", 1)) for item in api_auth.split(",") if ":" in item]
            credentials: frozenset[tuple[str, str]] | None = frozenset((u, p) for u, p in pairs)
        else:
            credentials = frozenset(api_auth) if api_auth is not None else None
        super().__init__(SDWebUIState(knobs=knobs if knobs is not None else SDWebUIKnobs(),
                                      credentials=credentials, checkpoints=tuple(checkpoints)))

    @property
    def knobs(self) -> SDWebUIKnobs:
        return self._state.knobs  # type: ignore[return-value]

    @property
    def options(self) -> dict:
        """The current ``/sdapi/v1/options`` (``sd_model_checkpoint`` etc.)."""
        return self._state.options  # type: ignore[attr-defined,no-any-return]

    def _create_app(self, state: BaseState) -> web.Application:
        assert isinstance(state, SDWebUIState)
        return create_app(state)
