"""Tells every gateway process that state changed, so each reloads its snapshot.

Always: a version counter in the database, polled off the hot path. With Redis: also a
pub/sub message, so other instances reload at once instead of on the next poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from relaygate.store.models import Meta

if TYPE_CHECKING:
    from relaygate.runtime import Runtime

log = logging.getLogger("relaygate.state")
KEY = "state_version"


class StateVersion:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self.seen = 0
        self.channel = f"{runtime.settings.redis_prefix}:state"
        self._tasks: list[asyncio.Task[Any]] = []

    async def read(self) -> int:
        async with self.rt.sessions() as s:
            value = await s.scalar(select(Meta.value).where(Meta.key == KEY))
        self.seen = int(value or 0)
        return self.seen

    async def bump(self) -> None:
        async with self.rt.sessions() as s, s.begin():
            res = await s.execute(update(Meta).where(Meta.key == KEY)
                                  .values(value=str(self.seen + 1)))
            if res.rowcount == 0:
                s.add(Meta(key=KEY, value="1"))
        if self.rt.redis is not None:
            with contextlib.suppress(Exception):
                await self.rt.redis.publish(self.channel, "changed")

    async def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._poll(), name="state-poll"))
        if self.rt.redis is not None:
            self._tasks.append(asyncio.create_task(self._subscribe(), name="state-subscribe"))

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.rt.settings.state_poll_interval_s)
            try:
                async with self.rt.sessions() as s:
                    value = int(await s.scalar(select(Meta.value).where(Meta.key == KEY)) or 0)
                if value != self.seen:
                    await self.rt.reload_state()
            except Exception:
                log.exception("state poll failed")

    async def _subscribe(self) -> None:
        while True:
            try:
                pubsub = self.rt.redis.pubsub()
                await pubsub.subscribe(self.channel)
                async for msg in pubsub.listen():
                    if msg.get("type") == "message":
                        await self.rt.reload_state()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("state subscription failed; retrying")
                await asyncio.sleep(1.0)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
