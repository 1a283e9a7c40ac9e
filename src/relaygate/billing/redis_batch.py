"""Coalesce the ledger's Lua calls into Redis pipelines.

Every relayed request runs two scripts (reserve, settle). Sent one by one, each pays a pool
checkout, a write and a read; at concurrency 64 that client-side work was most of the extra
CPU a Redis-backed worker spends per request. Calls queued in the same event-loop turn, or while
the previous pipeline is on the wire, go out together as one pipeline: one round trip for many
requests. Semantics are unchanged: each script is still atomic and its caller awaits its own
result; with nothing in flight a call is sent at the end of the current loop turn, so a lone
request waits no longer than before.
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.exceptions import NoScriptError

_Call = tuple[Any, int, list[Any], "asyncio.Future[Any]"]  # script, number of keys, keys + args, result


class ScriptBatcher:
    """Sends queued ``EVALSHA`` calls as non-transactional pipelines, at most ``max_in_flight`` at once."""

    def __init__(self, client: Any, max_in_flight: int = 2, max_batch: int = 256) -> None:
        self.r = client
        self.max_in_flight = max_in_flight
        self.max_batch = max_batch
        self._queue: list[_Call] = []
        self._in_flight = 0
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._epoch = 0  # counts failed pipelines; see link()
        self._failing = False

    def call(self, script: Any, keys: list[str], args: list[Any]) -> asyncio.Future[Any]:
        """Queue one script call; the future resolves to its result or raises its error."""
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append((script, len(keys), [*keys, *args], fut))
        if not self._scheduled and self._in_flight < self.max_in_flight:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)
        return fut

    def _flush(self) -> None:
        self._scheduled = False
        while self._queue and self._in_flight < self.max_in_flight:
            batch, self._queue = self._queue[:self.max_batch], self._queue[self.max_batch:]
            self._in_flight += 1
            task = asyncio.get_running_loop().create_task(self._send(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _send(self, batch: list[_Call]) -> None:
        try:
            results = await self._execute(batch)
            missing = [i for i, r in enumerate(results) if isinstance(r, NoScriptError)]
            if missing:  # Redis restarted and forgot the scripts: load them and run those calls again
                for script in {id(batch[i][0]): batch[i][0] for i in missing}.values():
                    script.sha = await self.r.script_load(script.script)
                retried = await self._execute([batch[i] for i in missing])
                for i, result in zip(missing, retried, strict=True):
                    results[i] = result
        except BaseException as exc:  # the connection failed: every caller in the batch gets the error
            self._failing = True
            self._epoch += 1
            for *_, fut in batch:
                if not fut.done():
                    fut.set_exception(exc if isinstance(exc, Exception) else ConnectionError("cancelled"))
            if not isinstance(exc, Exception):
                raise
        else:
            self._failing = False
            for (*_, fut), result in zip(batch, results, strict=True):
                if fut.done():
                    continue
                if isinstance(result, Exception):
                    fut.set_exception(result)
                else:
                    fut.set_result(result)
        finally:
            self._in_flight -= 1
            if self._queue and not self._scheduled:
                self._scheduled = True
                asyncio.get_running_loop().call_soon(self._flush)

    def link(self) -> int | None:
        """Changes after every failed pipeline, None until one succeeds again (see ScriptPipe.link)."""
        return None if self._failing else self._epoch

    async def _execute(self, batch: list[_Call]) -> list[Any]:
        pipe = self.r.pipeline(transaction=False)
        for script, nkeys, argv, _ in batch:
            pipe.evalsha(script.sha, nkeys, *argv)
        return list(await pipe.execute(raise_on_error=False))

    async def close(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
