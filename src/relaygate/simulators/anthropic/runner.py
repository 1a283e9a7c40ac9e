"""The chat simulators' runner (Anthropic, Gemini, the Chinese providers, translation).

The common runner (lifecycle, fault knobs, request recording, ``/__sim/*`` control plane) plus
what chat protocols add: stream knobs, accepted keys and models, and the stream helpers.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from relaygate.simulators.common import runner as common
from relaygate.simulators.common.runner import json_response
from relaygate.simulators.openai import tokens

__all__ = ["STATE", "BaseKnobs", "SimState", "SimulatorBase", "abort", "end_stream", "json_response", "new_app",
           "pause"]


@dataclass
class BaseKnobs(common.BaseKnobs):
    """The common fault knobs plus the streaming ones."""

    stream_cut_after: int | None = None
    """After N content events, drop the TCP connection (no closing events)."""
    stream_error_after: int | None = None
    """After N content events, send the provider's in-stream error and end the stream."""
    trickle_ms: int = 0
    """Delay between stream events."""
    reply_words: int = 20
    """Words in the default generated reply."""
    linger_ms: int = 0
    """Delay between a stream's last event and the end of the body: a caller that closes on the last
    event leaves while the gateway still waits for the upstream's end."""


@dataclass
class SimState(common.BaseState):
    api_keys: frozenset[str] | None = None
    models: frozenset[str] | None = None

    def accepts_key(self, key: str) -> bool:
        return bool(key) and (self.api_keys is None or key in self.api_keys)

    def accepts_model(self, model: str) -> bool:
        return self.models is None or model in self.models


STATE = web.AppKey("relaygate_sim_state", SimState)


def new_app(state: SimState) -> web.Application:
    return common.new_app(state, STATE)


async def pause(ms: int, stopping: asyncio.Event) -> None:
    try:
        await asyncio.wait_for(stopping.wait(), ms / 1000)
    except TimeoutError:
        pass


async def end_stream(response: web.StreamResponse, knobs: BaseKnobs, stopping: asyncio.Event) -> None:
    """End the body after the last event, ``linger_ms`` late."""
    if knobs.linger_ms:
        await pause(knobs.linger_ms, stopping)
    await response.write_eof()


def abort(request: web.Request) -> None:
    """Drop the TCP connection mid-body: the client sees a stream that never terminates."""
    if request.transport is not None:
        request.transport.abort()


class SimulatorBase(common.SimulatorBase):
    thread_name = "simulator"

    @property
    def knobs(self) -> Any:
        return self._state.knobs

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        await asyncio.to_thread(tokens.encoding)  # load BPE tables off-loop before the first request
        return await super().start(host=host, port=port)
