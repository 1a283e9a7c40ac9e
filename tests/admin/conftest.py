"""Fixtures: a real admin server per test module (migrated database, started Runtime, uvicorn on
loopback), run against SQLite and, when one is reachable, PostgreSQL (a fresh database each time).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest

from relaygate.runtime import Runtime

from .helpers import ADMIN_KEY, BACKENDS, AdminServer, fresh_database


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def database_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with fresh_database(backend, tmp_path_factory.mktemp("db")) as url:
        yield url


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AdminServer]:
    srv = AdminServer(database_url, tmp_path_factory.mktemp("data"))
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def admin(server: AdminServer) -> tuple[str, Runtime]:
    """(base_url, runtime) of a running admin server."""
    assert server.runtime is not None
    return server.base_url, server.runtime


def _transport() -> httpx.HTTPTransport:
    # httpx may write a request's headers and body separately: no Nagle wait between them.
    return httpx.HTTPTransport(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])


@pytest.fixture
def client(server: AdminServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {ADMIN_KEY}"},
                      timeout=30, transport=_transport()) as c:
        yield c


@pytest.fixture
def anon(server: AdminServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=30, transport=_transport()) as c:
        yield c
