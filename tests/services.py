"""Reachability of the machine's database services, and throwaway databases on them."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket

PG_HOST = os.environ.get("RELAYGATE_TEST_PG_HOST", "127.0.0.1")
PG_ADMIN_DSN = f"postgresql://postgres@{PG_HOST}:5432/test"
REDIS_URL = os.environ.get("RELAYGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def postgres_available() -> bool:
    return port_open(PG_HOST, 5432)


def redis_available() -> bool:
    return port_open("127.0.0.1", 6379)


def create_pg_database(prefix: str) -> tuple[str, str]:
    """Returns (sqlalchemy url, name) of a fresh database; drop it with drop_pg_database."""
    import asyncpg

    name = f"{prefix}_{secrets.token_hex(4)}"

    async def go() -> None:
        conn = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(go())
    return f"postgresql+asyncpg://postgres@{PG_HOST}:5432/{name}", name


def drop_pg_database(name: str) -> None:
    import asyncpg

    async def go() -> None:
        conn = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(go())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
