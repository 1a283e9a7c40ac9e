"""Who owns the objects that live on one upstream channel: files, fine-tuning jobs, fine-tuned models.

The gateway talks to an upstream with the channel's own key, so the upstream sees every user's files
as one account's. This table is what keeps them apart: each id the upstream hands out is recorded
with the channel that holds it and the user (and key) that created it; later calls go to that
channel, and only for the owner. Anyone else gets the same 404 as for an id that never existed.

Lookups are SQL, but not on the chat path, and each process keeps an LRU of the answers; an object
never changes owner or channel, so a cached answer is only ever stale for an object deleted through
another process (whose upstream then answers 404 itself).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from relaygate.store import repos
from relaygate.store.models import UpstreamObject

if TYPE_CHECKING:
    from relaygate.relay.service import Relay
    from relaygate.runtime import Runtime

FILE = "file"
JOB = "fine_tuning_job"
MODEL = "fine_tuned_model"
LRU_SIZE = 20_000


@dataclass(frozen=True, slots=True)
class Owned:
    kind: str
    object_id: str
    user_id: int
    channel_id: int


@dataclass(frozen=True, slots=True)
class Row:
    object_id: str
    channel_id: int
    data: dict[str, Any]
    created_at: float


class Objects:
    def __init__(self, runtime: Runtime, size: int = LRU_SIZE) -> None:
        self.rt = runtime
        self.size = size
        self._lru: OrderedDict[str, Owned] = OrderedDict()

    def _remember(self, owned: Owned) -> None:
        self._lru[owned.object_id] = owned
        self._lru.move_to_end(owned.object_id)
        if len(self._lru) > self.size:
            self._lru.popitem(last=False)

    async def lookup(self, object_id: str) -> Owned | None:
        owned = self._lru.get(object_id)
        if owned is not None:
            self._lru.move_to_end(object_id)
            return owned
        if not object_id or len(object_id) > 191:
            return None
        async with self.rt.sessions() as s:
            row = (await s.execute(select(UpstreamObject.kind, UpstreamObject.user_id, UpstreamObject.channel_id)
                                   .where(UpstreamObject.object_id == object_id))).first()
        if row is None:
            return None
        owned = Owned(row.kind, object_id, row.user_id, row.channel_id)
        self._remember(owned)
        return owned

    async def owned_by(self, object_id: str, user_id: int, kind: str) -> Owned | None:
        """The object if this user owns it (and it is of this kind); None for others' and unknown ids alike."""
        owned = await self.lookup(object_id)
        if owned is None or owned.user_id != user_id or owned.kind != kind:
            return None
        return owned

    async def add(self, kind: str, object_id: str, user_id: int, key_id: int | None, channel_id: int,
                  data: dict[str, Any] | None) -> bool:
        """Record a new object; False when the id was already recorded (by another request or process)."""
        try:
            async with self.rt.sessions() as s, s.begin():
                s.add(UpstreamObject(kind=kind, object_id=object_id, user_id=user_id, key_id=key_id,
                                     channel_id=channel_id, data=data, created_at=repos.utcnow()))
        except IntegrityError:
            return False
        self._remember(Owned(kind, object_id, user_id, channel_id))
        return True

    async def save(self, object_id: str, data: dict[str, Any]) -> None:
        async with self.rt.sessions() as s, s.begin():
            await s.execute(update(UpstreamObject).where(UpstreamObject.object_id == object_id).values(data=data))

    async def remove(self, object_id: str) -> None:
        self._lru.pop(object_id, None)
        async with self.rt.sessions() as s, s.begin():
            await s.execute(delete(UpstreamObject).where(UpstreamObject.object_id == object_id))

    async def rows(self, user_id: int, kind: str) -> list[Row]:
        """This user's objects of a kind, newest first."""
        async with self.rt.sessions() as s:
            result = await s.execute(select(UpstreamObject.object_id, UpstreamObject.channel_id, UpstreamObject.data,
                                            UpstreamObject.created_at, UpstreamObject.id)
                                     .where(UpstreamObject.user_id == user_id, UpstreamObject.kind == kind)
                                     .order_by(UpstreamObject.created_at.desc(), UpstreamObject.id.desc()))
            return [Row(r.object_id, r.channel_id, dict(r.data or {}), repos.as_utc(r.created_at).timestamp())
                    for r in result.all()]


def objects_of(relay: Relay) -> Objects:
    """The process's ownership registry, created with the relay on first use."""
    found = relay.__dict__.get("_upstream_objects")
    if found is None:
        found = relay.__dict__["_upstream_objects"] = Objects(relay.rt)
    return found
