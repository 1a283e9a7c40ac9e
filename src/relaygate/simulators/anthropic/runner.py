"""Lifecycle, knobs and control plane shared by the Anthropic and Gemini simulators.

Same usage as ``relaygate.simulators.openai.OpenAISimulator``: ``await sim.start()`` on the
current loop, or ``with Sim(...).run_in_thread() as sim`` for sync tests (a private loop in a
daemon thread, so blocking SDK clients can call it), ``sim.base_url``, ``sim.knobs``,
``sim.requests`` and ``sim.reset()``; ``/__sim/knobs|requests|reset`` for out-of-process use.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import threading
import types
import typing
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from relaygate.simulators.openai import tokens
from relaygate.simulators.openai.state import RecordedRequest


@dataclass
class BaseKnobs:
    """Fault knobs every simulator has; each defaults to "behave like a healthy upstream"."""

    latency_ms: int = 0
    """Delay before response headers (all API routes, errors included)."""
    fail_next: int = 0
    """The next N generation requests (after auth) fail with ``fail_status``."""
    fail_status: int = 500
    """HTTP status of injected failures (e.g. 429, 500, 503, Anthropic's 529)."""
    fail_body: dict[str, Any] | None = None
    """Full JSON body of injected failures; None -> the provider's real error shape for the status."""
    error_rate: float = 0.0
    """Probability (0..1) that a generation request fails, from an RNG seeded with ``seed``."""
    seed: int = 0
    retry_after: int | None = None
    """Seconds for ``retry-after`` on injected 429/529 responses."""
    hang: bool = False
    """Accept generation requests and never answer (until the client leaves or the sim stops)."""
    stream_cut_after: int | None = None
    """After N content events, drop the TCP connection (no closing events)."""
    stream_error_after: int | None = None
    """After N content events, send the provider's in-stream error and end the stream."""
    trickle_ms: int = 0
    """Delay between stream events."""
    reply_words: int = 20
    """Words in the default generated reply."""

    def __post_init__(self) -> None:
        self._defaults = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def update(self, changes: dict[str, Any]) -> None:
        """Partial update; names and types are checked first, so a bad update changes nothing."""
        hints = typing.get_type_hints(type(self))
        known = {f.name for f in dataclasses.fields(self)}
        for name, value in changes.items():
            if name not in known:
                raise ValueError(f"unknown knob {name!r}; known knobs: {', '.join(sorted(known))}")
            if not _type_ok(value, hints[name]):
                raise ValueError(f"knob {name!r} does not accept {value!r}")
        for name, value in changes.items():
            setattr(self, name, value)

    def reset(self) -> None:
        for name, value in self._defaults.items():
            setattr(self, name, dict(value) if isinstance(value, dict) else value)


def _type_ok(value: Any, hint: Any) -> bool:
    if isinstance(hint, types.UnionType):
        return any(_type_ok(value, arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return value is None
    origin = typing.get_origin(hint) or hint
    if origin is bool:
        return isinstance(value, bool)
    if origin is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, origin)


@dataclass
class SimState:
    api_keys: frozenset[str] | None
    models: frozenset[str] | None
    knobs: BaseKnobs
    requests: list[RecordedRequest] = field(default_factory=list)
    stopping: asyncio.Event | None = None
    _rng: random.Random = field(default_factory=random.Random, repr=False)
    _rng_seed: int | None = field(default=None, repr=False)

    def take_fault(self) -> bool:
        knobs = self.knobs
        if knobs.fail_next > 0:
            knobs.fail_next -= 1
            return True
        if knobs.error_rate <= 0:
            return False
        if self._rng_seed != knobs.seed:
            self._rng.seed(knobs.seed)
            self._rng_seed = knobs.seed
        return self._rng.random() < knobs.error_rate

    def accepts_key(self, key: str) -> bool:
        return bool(key) and (self.api_keys is None or key in self.api_keys)

    def accepts_model(self, model: str) -> bool:
        return self.models is None or model in self.models

    def reset(self) -> None:
        self.requests.clear()
        self.knobs.reset()
        self._rng_seed = None


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json", headers=headers)


@web.middleware
async def record_and_delay(request: web.Request, handler: Any) -> web.StreamResponse:
    state: SimState = request.app[STATE]
    if request.path.startswith("/__sim/"):
        return await handler(request)
    state.requests.append(await RecordedRequest.capture(request))
    if state.knobs.latency_ms > 0:
        await asyncio.sleep(state.knobs.latency_ms / 1000)
    return await handler(request)


STATE = web.AppKey("relaygate_sim_state", SimState)


def new_app(state: SimState) -> web.Application:
    app = web.Application(client_max_size=64 * 1024 * 1024, middlewares=[record_and_delay])
    app[STATE] = state

    async def get_knobs(_: web.Request) -> web.Response:
        return json_response(200, state.knobs.to_dict())

    async def post_knobs(request: web.Request) -> web.Response:
        try:
            changes = orjson.loads(await request.read())
            if not isinstance(changes, dict):
                raise ValueError("expected a JSON object of knob values")
            state.knobs.update(changes)
        except (orjson.JSONDecodeError, ValueError) as exc:
            return json_response(400, {"error": str(exc)})
        return json_response(200, state.knobs.to_dict())

    async def get_requests(_: web.Request) -> web.Response:
        return json_response(200, [r.to_dict() for r in state.requests])

    async def post_reset(_: web.Request) -> web.Response:
        state.reset()
        return json_response(200, {"ok": True})

    app.router.add_get("/__sim/knobs", get_knobs)
    app.router.add_post("/__sim/knobs", post_knobs)
    app.router.add_get("/__sim/requests", get_requests)
    app.router.add_post("/__sim/reset", post_reset)
    return app


async def pause(ms: int, stopping: asyncio.Event) -> None:
    try:
        await asyncio.wait_for(stopping.wait(), ms / 1000)
    except TimeoutError:
        pass


def abort(request: web.Request) -> None:
    """Drop the TCP connection mid-body: the client sees a stream that never terminates."""
    if request.transport is not None:
        request.transport.abort()


class SimulatorBase:
    """Start/stop an aiohttp app built by ``_create_app``, on the current loop or in a thread."""

    thread_name = "simulator"

    def __init__(self, state: SimState) -> None:
        self._state = state
        self.base_url: str | None = None
        self.host: str | None = None
        self.port: int | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._thread_loop: asyncio.AbstractEventLoop | None = None

    def _create_app(self, state: SimState) -> web.Application:
        raise NotImplementedError

    @property
    def knobs(self) -> Any:
        return self._state.knobs

    @property
    def requests(self) -> list[RecordedRequest]:
        return self._state.requests

    def reset(self) -> None:
        """Clear the request log and restore the default knobs (in place)."""
        self._state.reset()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        if self._runner is not None:
            raise RuntimeError("simulator already started")
        await asyncio.to_thread(tokens.encoding)  # load BPE tables off-loop before the first request
        self._state.stopping = asyncio.Event()
        runner = web.AppRunner(self._create_app(self._state), handler_cancellation=True, shutdown_timeout=2.0,
                               access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        self._runner = runner
        self.host, self.port = host, int(runner.addresses[0][1])
        self.base_url = f"http://{host}:{self.port}"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is None:
            return
        if self._state.stopping is not None:
            self._state.stopping.set()
        runner, self._runner = self._runner, None
        await runner.cleanup()

    async def __aenter__(self) -> Any:
        if self._runner is None:
            await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    def run_in_thread(self, host: str = "127.0.0.1", port: int = 0, timeout: float = 15.0) -> Any:
        """Start on a private loop in a daemon thread; returns ``self`` (usable as a context manager)."""
        if self._thread is not None:
            raise RuntimeError("simulator thread already running")
        ready = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()

        def serve() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start(host, port))
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.stop())
            loop.close()

        self._thread_loop = loop
        self._thread = threading.Thread(target=serve, name=self.thread_name, daemon=True)
        self._thread.start()
        if not ready.wait(timeout) or failure:
            self._thread, self._thread_loop = None, None
            raise RuntimeError("simulator failed to start") from (failure[0] if failure else None)
        return self

    def stop_thread(self, timeout: float = 10.0) -> None:
        loop, thread = self._thread_loop, self._thread
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self.stop(), loop).result(timeout)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        self._thread, self._thread_loop = None, None

    def __enter__(self) -> Any:
        if self._thread is None and self._runner is None:
            self.run_in_thread()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop_thread()
