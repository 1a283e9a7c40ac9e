"""``OpenAISimulator``: start/stop the fake upstream in-process, on the current loop or a thread.

Async tests use ``await sim.start()`` / ``await sim.stop()`` (or ``async with sim``); sync tests
use ``with OpenAISimulator(...).run_in_thread() as sim`` which runs the server on a private event
loop in a daemon thread, so blocking clients (the sync ``openai`` SDK, httpx) can call it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable
from types import TracebackType
from typing import Literal

from aiohttp import web

from . import azure, tokens
from .knobs import Knobs
from .server import create_app
from .state import RecordedRequest, SimState

Mode = Literal["openai", "azure"]


class OpenAISimulator:
    """A faithful fake OpenAI (``mode="openai"``) or Azure OpenAI (``mode="azure"``) upstream.

    ``api_keys=None`` accepts any non-empty key; ``models=None`` accepts any model name (a set
    restricts it, unknown -> 404 ``model_not_found``). Azure mode routes by ``deployments``
    (name -> underlying model reported in responses). ``model_aliases`` optionally rewrites the
    reported model in OpenAI mode (e.g. ``{"gpt-4o-mini": "gpt-4o-mini-2024-07-18"}``, as the
    real API reports snapshots); by default the requested name is echoed.

    OpenAI mode serves the whole surface: ``/v1/models``, ``/v1/chat/completions``,
    ``/v1/completions``, ``/v1/embeddings``, ``/v1/moderations``, ``/v1/images/{generations,edits,
    variations}``, ``/v1/audio/{speech,transcriptions,translations}``, ``/v1/files`` and
    ``/v1/fine_tuning/jobs`` (one module per family; their docstrings state the deterministic rules).
    ``ft:`` models are served once a fine-tuning job of this simulator has produced them.
    """

    def __init__(
        self,
        api_keys: Iterable[str] | None = None,
        mode: Mode = "openai",
        models: Iterable[str] | None = None,
        deployments: dict[str, str] | None = None,
        *,
        model_aliases: dict[str, str] | None = None,
        api_versions: Iterable[str] | None = None,
        knobs: Knobs | None = None,
        keepalive_timeout: float = 75.0,
    ) -> None:
        if mode not in ("openai", "azure"):
            raise ValueError(f"mode must be 'openai' or 'azure', not {mode!r}")
        self.mode: Mode = mode
        self._state = SimState(
            mode=mode,
            api_keys=frozenset(api_keys) if api_keys is not None else None,
            models=frozenset(models) if models is not None else None,
            deployments=dict(deployments if deployments is not None else azure.DEFAULT_DEPLOYMENTS),
            model_aliases=dict(model_aliases or {}),
            api_versions=frozenset(api_versions) if api_versions is not None else azure.API_VERSIONS,
            knobs=knobs if knobs is not None else Knobs(),
        )
        self.keepalive_timeout = keepalive_timeout
        """Seconds an idle keep-alive connection stays open (aiohttp's default 75, as nginx)."""
        self.base_url: str | None = None
        self.host: str | None = None
        self.port: int | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._thread_loop: asyncio.AbstractEventLoop | None = None

    # --- state seen by tests ---

    @property
    def knobs(self) -> Knobs:
        return self._state.knobs

    @property
    def requests(self) -> list[RecordedRequest]:
        return self._state.requests

    def reset(self) -> None:
        """Clear the request log, stored files, fine-tuning jobs, fine-tuned models and generated
        images, and restore the default knobs (in place)."""
        self._state.reset()

    # --- async lifecycle ---

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on ``host:port`` (0 = ephemeral) and return the base URL clients should use."""
        if self._runner is not None:
            raise RuntimeError("simulator already started")
        await asyncio.to_thread(tokens.encoding)  # load BPE tables off-loop before the first request
        self._state.stopping = asyncio.Event()
        # handler_cancellation: a client that gives up (hang, trickled stream) frees the handler.
        runner = web.AppRunner(create_app(self._state), handler_cancellation=True, shutdown_timeout=2.0,
                               access_log=None, keepalive_timeout=self.keepalive_timeout)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runner = runner
        self.host, self.port = host, int(runner.addresses[0][1])
        root = f"http://{host}:{self.port}"
        self.base_url = root + "/v1" if self.mode == "openai" else root
        return self.base_url

    async def stop(self) -> None:
        """Release hung requests and trickling streams, then close the listener."""
        if self._runner is None:
            return
        if self._state.stopping is not None:
            self._state.stopping.set()
        runner, self._runner = self._runner, None
        await runner.cleanup()

    async def __aenter__(self) -> OpenAISimulator:
        if self._runner is None:
            await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    # --- threaded lifecycle for sync tests ---

    def run_in_thread(self, host: str = "127.0.0.1", port: int = 0, timeout: float = 15.0) -> OpenAISimulator:
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
        self._thread = threading.Thread(target=serve, name="openai-simulator", daemon=True)
        self._thread.start()
        if not ready.wait(timeout) or failure:
            self._thread, self._thread_loop = None, None
            raise RuntimeError("simulator failed to start") from (failure[0] if failure else None)
        return self

    def stop_thread(self, timeout: float = 10.0) -> None:
        """Stop the threaded server and wait for its thread to finish."""
        loop, thread = self._thread_loop, self._thread
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self.stop(), loop).result(timeout)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        self._thread, self._thread_loop = None, None

    def __enter__(self) -> OpenAISimulator:
        if self._thread is None and self._runner is None:
            self.run_in_thread()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop_thread()
