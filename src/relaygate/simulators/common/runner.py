"""Lifecycle, knobs and control plane for the image simulators (Stability, AUTOMATIC1111).

Same public surface as ``relaygate.simulators.openai.OpenAISimulator``: ``await sim.start()`` /
``await sim.stop()`` (or ``async with sim``) on the current loop, or ``with Sim(...).run_in_thread()
as sim`` for sync tests; ``sim.base_url`` (the server root: clients append ``/v1/...`` /
``/sdapi/v1/...``), ``sim.knobs``, ``sim.requests``, ``sim.reset()``; and ``GET/POST
/__sim/knobs``, ``GET /__sim/requests``, ``POST /__sim/reset`` for out-of-process use.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import random
import threading
import types
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import orjson
from aiohttp import web

from .recording import DEFAULT_MAX_UPLOAD, RecordedRequest


@dataclass
class BaseKnobs:
    """Fault knobs every image simulator has; each defaults to "behave like a healthy upstream"."""

    latency_ms: int = 0
    """Delay before response headers (all API routes, errors included)."""
    fail_next: int = 0
    """The next N generation requests (after auth) fail with ``fail_status``."""
    fail_status: int = 500
    """HTTP status of injected failures."""
    fail_body: dict[str, Any] | None = None
    """Full JSON body of injected failures; None -> the provider's own error shape for the status."""
    error_rate: float = 0.0
    """Probability (0..1) that a generation request fails, from an RNG seeded with ``seed``."""
    seed: int = 0
    retry_after: int | None = None
    """Seconds for ``Retry-After`` on injected 429 responses."""
    hang: bool = False
    """Accept generation requests and never answer (until the client leaves or the sim stops)."""
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD
    """Cap on multipart request bodies (413 over it)."""

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
            setattr(self, name, float(value) if hints[name] is float else value)

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
class BaseState:
    knobs: BaseKnobs
    requests: list[RecordedRequest] = field(default_factory=list)
    stopping: asyncio.Event | None = None
    on_reset: list[Callable[[], None]] = field(default_factory=list)
    _rng: random.Random = field(default_factory=random.Random, repr=False)
    _rng_seed: int | None = field(default=None, repr=False)

    def take_fault(self) -> bool:
        """Consume one ``fail_next`` or roll ``error_rate``; True means this request must fail."""
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

    async def hang_or_fault(self) -> bool:
        """Apply ``hang`` (wait for stop / disconnect) then the fault knobs; True means "fail now"."""
        if self.knobs.hang:
            await (self.stopping or asyncio.Event()).wait()
            return True
        return self.take_fault()

    def reset(self) -> None:
        self.requests.clear()
        self.knobs.reset()
        self._rng_seed = None
        for hook in self.on_reset:
            hook()


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json", headers=headers)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def new_app(state: BaseState, state_key: web.AppKey[Any]) -> web.Application:
    """An app with request recording, ``latency_ms`` and the ``/__sim/*`` control routes."""

    @web.middleware
    async def record_and_delay(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/__sim/"):
            return await handler(request)
        state.requests.append(await RecordedRequest.capture(request, state.knobs.max_upload_bytes))
        if state.knobs.latency_ms > 0:
            await asyncio.sleep(state.knobs.latency_ms / 1000)
        return await handler(request)

    app = web.Application(client_max_size=64 * 1024 * 1024, middlewares=[record_and_delay])
    app[state_key] = state

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


class SimulatorBase:
    """Start/stop the aiohttp app built by :meth:`_create_app`, on the current loop or in a thread."""

    thread_name = "simulator"

    def __init__(self, state: BaseState) -> None:
        self._state = state
        self.base_url: str | None = None
        self.host: str | None = None
        self.port: int | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._thread_loop: asyncio.AbstractEventLoop | None = None

    def _create_app(self, state: BaseState) -> web.Application:
        raise NotImplementedError

    @property
    def requests(self) -> list[RecordedRequest]:
        return self._state.requests

    def reset(self) -> None:
        """Clear the request log and any stored state; restore the default knobs (in place)."""
        self._state.reset()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on ``host:port`` (0 = ephemeral) and return the base URL (the server root)."""
        if self._runner is not None:
            raise RuntimeError("simulator already started")
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

    async def __aenter__(self) -> Self:
        if self._runner is None:
            await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    def run_in_thread(self, host: str = "127.0.0.1", port: int = 0, timeout: float = 15.0) -> Self:
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
            except BaseException as exc:  # surfaced in the calling thread
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

    def __enter__(self) -> Self:
        if self._thread is None and self._runner is None:
            self.run_in_thread()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop_thread()


def serve_forever(sim: SimulatorBase, host: str, port: int, banner: str) -> None:
    """Entry point helper for ``python -m ...``: start, print ``banner`` with the URL, wait for Ctrl-C."""

    async def run() -> None:
        url = await sim.start(host=host, port=port)
        print(f"{banner} listening on {url}  (control plane: /__sim/knobs)", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await sim.stop()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass


def run_cli(package: str | None, port: int, banner: str, options: Callable[[argparse.ArgumentParser], Any],
            build: Callable[[argparse.Namespace], SimulatorBase], argv: list[str] | None = None) -> None:
    """``python -m <package>``: ``--host``, ``--port`` and the simulator's own ``options``, then serve."""
    parser = argparse.ArgumentParser(prog=f"python -m {package}", description=f"{banner}.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=port)
    options(parser)
    args = parser.parse_args(argv)
    serve_forever(build(args), args.host, args.port, banner)
