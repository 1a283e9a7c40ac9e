"""Channel health: consecutive failures disable a channel; a periodic check re-enables it.

Counting is in memory per process (hot path, no I/O); disabling and re-enabling go to the
database in the background and reach every process through the state version.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from sqlalchemy import update

from relaygate.store.models import Channel

if TYPE_CHECKING:
    from relaygate.runtime import Runtime

log = logging.getLogger("relaygate.health")


class ChannelHealth:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self.failures: dict[int, int] = {}
        self.successes: dict[int, int] = {}
        self.down: set[int] = set()  # disabled here, before the snapshot catches up

    def success(self, channel_id: int) -> None:
        if self.failures.get(channel_id):
            self.failures[channel_id] = 0
        self.successes[channel_id] = self.successes.get(channel_id, 0) + 1

    def failure(self, channel_id: int, reason: str) -> None:
        count = self.failures.get(channel_id, 0) + 1
        self.failures[channel_id] = count
        limit = self.rt.settings.auto_disable_failures
        if limit > 0 and count >= limit and channel_id not in self.down:
            self.down.add(channel_id)
            log.warning("channel %s disabled after %d consecutive failures: %s", channel_id, count, reason)
            self.rt.spawn(self._set_status(channel_id, "auto_disabled", reason), f"disable-{channel_id}")

    def on_snapshot(self) -> None:
        """Forget local overrides once the snapshot shows the channel's stored status."""
        snap = self.rt.snapshot
        self.down = {cid for cid in self.down if cid in snap.channels
                     and snap.channels[cid].status == "enabled"}

    async def _set_status(self, channel_id: int, status: str, reason: str | None) -> None:
        async with self.rt.sessions() as s, s.begin():
            query = update(Channel).where(Channel.id == channel_id)
            if status == "enabled":
                query = query.where(Channel.status == "auto_disabled")  # never undo an operator
            await s.execute(query.values(status=status, disabled_reason=reason))
        self.failures[channel_id] = 0
        await self.rt.state_changed()

    async def run_checks(self) -> None:
        """Re-test automatically disabled channels; the ones that answer are enabled again."""
        while True:
            await asyncio.sleep(self.rt.settings.health_check_interval_s)
            for ch in list(self.rt.snapshot.channels.values()):
                if ch.status != "auto_disabled":
                    continue
                try:
                    result = await self.rt.relay.test_channel(ch.id)
                except Exception as exc:  # a check must never kill the loop
                    log.warning("health check of channel %s failed: %s", ch.id, exc)
                    continue
                if result["ok"]:
                    log.info("channel %s answered its health check; enabled again", ch.id)
                    await self._set_status(ch.id, "enabled", None)
