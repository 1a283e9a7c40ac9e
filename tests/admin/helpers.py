"""Test helpers: fresh migrated databases, and the admin server on a background thread.

The server runs uvicorn with its own event loop, so tests talk to it over real HTTP (loopback)
with httpx.Client and reach its Runtime through `AdminServer.run`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn

from relaygate.api.admin import build_admin_app
from relaygate.config import Settings
from relaygate.runtime import Runtime
from relaygate.store.db import migrate

ADMIN_KEY = "admin-test-key"
PG_ADMIN_URL = os.environ.get("RELAYGATE_TEST_PG", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
BACKENDS = ["sqlite", "postgresql"]
T = TypeVar("T")


def run_sync(factory: Callable[[], Coroutine[Any, Any, T]], timeout: float = 60) -> T:
    """Run a coroutine on a throwaway loop in another thread (pytest-asyncio owns this one)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(factory())).result(timeout)


def _pg_dsn(database: str) -> str:
    base = PG_ADMIN_URL.replace("postgresql+asyncpg://", "postgresql://")
    return base.rsplit("/", 1)[0] + "/" + database


_pg_status: dict[str, str | None] = {}


def postgres_unavailable() -> str | None:
    """None if PostgreSQL answers; otherwise why not (checked once per session)."""
    if "reason" not in _pg_status:
        async def probe() -> None:
            import asyncpg

            conn = await asyncpg.connect(_pg_dsn(PG_ADMIN_URL.rsplit("/", 1)[1]), timeout=3)
            await conn.close()

        try:
            run_sync(probe, timeout=10)
            _pg_status["reason"] = None
        except Exception as exc:
            _pg_status["reason"] = f"{type(exc).__name__}: {exc}"
    return _pg_status["reason"]


@contextlib.contextmanager
def fresh_database(backend: str, tmp: Path) -> Iterator[str]:
    """Yield the URL of an empty, migrated database; drop it afterwards (PostgreSQL)."""
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{(tmp / 'relaygate.db').resolve()}"
        run_sync(lambda: migrate(url))
        yield url
        return
    reason = postgres_unavailable()
    if reason is not None:
        pytest.skip(f"!!! PostgreSQL NOT TESTED: not reachable at {PG_ADMIN_URL} ({reason}) !!!")
    import asyncpg

    name = f"relaygate_admin_{secrets.token_hex(6)}"
    admin_dsn = _pg_dsn(PG_ADMIN_URL.rsplit("/", 1)[1])

    async def admin_sql(sql: str) -> None:
        conn = await asyncpg.connect(admin_dsn, timeout=10)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    run_sync(lambda: admin_sql(f'CREATE DATABASE "{name}"'))
    try:
        url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
        run_sync(lambda: migrate(url))
        yield url
    finally:
        run_sync(lambda: admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


class AdminServer:
    """uvicorn + Runtime on a private event loop in a daemon thread."""

    def __init__(self, database_url: str, data_dir: Path) -> None:
        self.database_url = database_url
        self.data_dir = data_dir
        self.loop: asyncio.AbstractEventLoop | None = None
        self.runtime: Runtime | None = None
        self.uvicorn: uvicorn.Server | None = None
        self.error: BaseException | None = None
        # proto must say TCP: asyncio sets TCP_NODELAY on accepted sockets only when it does, and
        # without it every keep-alive response waits ~40 ms on Nagle and delayed ACKs.
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.base_url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._thread = threading.Thread(target=self._main, name="admin-server", daemon=True)

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self.loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:
            self.error = exc
        finally:
            loop.close()

    async def _serve(self) -> None:
        settings = Settings.load({"data_dir": self.data_dir, "admin_key": ADMIN_KEY,
                                  "database_url": self.database_url}, environ={})
        rt = Runtime(settings)
        await rt.start()
        self.runtime = rt
        try:
            config = uvicorn.Config(build_admin_app(rt), log_level="warning", lifespan="off",
                                    access_log=False)
            self.uvicorn = uvicorn.Server(config)
            await self.uvicorn.serve(sockets=[self._sock])
        finally:
            await rt.stop()

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not (self.uvicorn is not None and self.uvicorn.started):
            if self.error is not None or not self._thread.is_alive():
                raise RuntimeError(f"admin server failed to start: {self.error!r}")
            if time.monotonic() > deadline:
                raise RuntimeError("admin server did not start within 30s")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.uvicorn is not None:
            self.uvicorn.should_exit = True
        self._thread.join(timeout=30)
        self._sock.close()
        if self.error is not None:
            raise RuntimeError(f"admin server stopped with an error: {self.error!r}")

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        """Run a coroutine on the server's loop (the Runtime's sessions and ledger live there)."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)


def assert_error(resp: httpx.Response, status: int, type_: str | None = None) -> dict[str, Any]:
    """The response is an error in the agreed shape; returns its `error` object."""
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"}, body
    err = body["error"]
    assert isinstance(err["message"], str) and err["message"], body
    assert "Traceback" not in err["message"]
    if type_ is not None:
        assert err["type"] == type_, body
    return err


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def create_user(client: httpx.Client, balance: str = "10.00", **fields: Any) -> dict[str, Any]:
    resp = client.post("/api/users", json={"name": unique("user"), "balance": balance, **fields})
    assert resp.status_code == 201, resp.text
    return resp.json()


def create_key(client: httpx.Client, user_id: int, **fields: Any) -> dict[str, Any]:
    resp = client.post("/api/keys", json={"user_id": user_id, **fields})
    assert resp.status_code == 201, resp.text
    return resp.json()
