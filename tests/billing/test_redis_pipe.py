"""The ledger's lean Redis connection: the same replies and errors as redis-py, reconnection,
script reloading, and no call left waiting on a Redis that stopped answering."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from relaygate.billing.redis_pipe import ScriptPipe, pack
from tests.services import REDIS_URL, redis_available

SET_AND_GET = "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('GET', KEYS[1])"


@pytest.fixture()
async def client() -> AsyncIterator[object]:
    if not redis_available():
        pytest.skip("Redis is not reachable on 127.0.0.1:6379: Redis pipe tests are SKIPPED")
    import redis.asyncio as aioredis

    c = aioredis.from_url(REDIS_URL.rsplit("/", 1)[0] + "/14")
    yield c
    await c.aclose()


def test_commands_are_packed_as_resp_arrays() -> None:
    assert pack(b"EVALSHA", "ab", 1, "k:é") == b"*4\r\n$7\r\nEVALSHA\r\n$2\r\nab\r\n$1\r\n1\r\n$4\r\nk:\xc3\xa9\r\n"


async def test_replies_errors_and_the_database_of_the_url(client) -> None:  # type: ignore[no-untyped-def]
    pipe = ScriptPipe.for_client(client)
    assert pipe is not None and pipe.db == 14
    script = client.register_script(SET_AND_GET)
    await client.script_load(SET_AND_GET)
    key = f"test-pipe-{secrets.token_hex(4)}"
    replies = await asyncio.gather(*(pipe.call(script, [f"{key}:{i}"], [i]) for i in range(50)))
    assert replies == [str(i).encode() for i in range(50)]
    assert await client.get(f"{key}:7") == b"7"  # written in db 14, where redis-py reads
    failing = client.register_script("return redis.error_reply('nope')")
    await client.script_load("return redis.error_reply('nope')")
    with pytest.raises(ResponseError, match="nope"):
        await pipe.call(failing, [], [])
    await client.delete(*[f"{key}:{i}" for i in range(50)])
    await pipe.close()


async def test_a_forgotten_script_is_loaded_again(client) -> None:  # type: ignore[no-untyped-def]
    pipe = ScriptPipe.for_client(client)
    token = secrets.token_hex(8)
    script = client.register_script(f"return '{token}'")  # a script Redis never saw
    assert await pipe.call(script, [], []) == token.encode()
    await client.script_flush()
    assert await asyncio.gather(*(pipe.call(script, [], []) for _ in range(5))) == [token.encode()] * 5
    await pipe.close()


async def test_a_lost_connection_fails_its_calls_and_the_next_call_reconnects(client) -> None:  # type: ignore[no-untyped-def]
    pipe = ScriptPipe.for_client(client)
    slow = client.register_script("return 1")
    await client.script_load(slow.script)
    assert await pipe.call(slow, [], []) == 1
    name = f"pipe-{secrets.token_hex(4)}"
    assert pipe._conn is not None  # name the pipe's connection, to kill it as a network failure would
    reply: asyncio.Future = asyncio.get_running_loop().create_future()
    pipe._conn.send(pack(b"CLIENT", b"SETNAME", name), reply, asyncio.get_running_loop())
    assert await reply == b"OK"
    clients = await client.client_list()
    [victim] = [c for c in clients if c.get("name") == name]
    await client.client_kill_filter(_id=victim["id"])
    await asyncio.sleep(0.05)
    assert await pipe.call(slow, [], []) == 1  # reconnected
    await pipe.close()


async def test_a_redis_that_stops_answering_fails_the_calls_in_time() -> None:
    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1 << 16)  # takes the command, never answers
        await asyncio.sleep(30)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    pipe = ScriptPipe(host="127.0.0.1", port=port, timeout_s=0.3)

    class Script:
        sha, script = "0" * 40, "return 1"

    started = asyncio.get_running_loop().time()
    with pytest.raises(RedisConnectionError):
        await asyncio.wait_for(pipe.call(Script, [], []), 5)
    assert asyncio.get_running_loop().time() - started < 2
    server.close()
    await pipe.close()


async def test_a_refused_connection_is_a_connection_error() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    pipe = ScriptPipe(host="127.0.0.1", port=port)

    class Script:
        sha, script = "0" * 40, "return 1"

    with pytest.raises(RedisConnectionError, match="cannot connect"):
        await pipe.call(Script, [], [])


def test_tls_keeps_redis_py() -> None:
    import redis.asyncio as aioredis

    assert ScriptPipe.for_client(aioredis.from_url("rediss://127.0.0.1:6379/0")) is None
    unix = ScriptPipe.for_client(aioredis.from_url("unix:///run/redis.sock?db=3"))
    assert unix is not None and unix.path == "/run/redis.sock" and unix.db == 3


def test_on_uvloop_as_the_gateway_runs_it() -> None:
    if not redis_available():
        pytest.skip("Redis is not reachable on 127.0.0.1:6379: Redis pipe tests are SKIPPED")
    import redis.asyncio as aioredis
    import uvloop

    async def main() -> list:
        client = aioredis.from_url(REDIS_URL)
        pipe = ScriptPipe.for_client(client)
        assert pipe is not None
        script = client.register_script("return ARGV[1]")
        await client.script_load(script.script)
        try:
            return await asyncio.gather(*(pipe.call(script, [], [i]) for i in range(3)))
        finally:
            await pipe.close()
            await client.aclose()

    assert uvloop.run(main()) == [b"0", b"1", b"2"]
