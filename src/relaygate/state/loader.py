"""Builds a Snapshot from the database (off the hot path: at start and after changes).

Channel keys and credential-like config entries are sealed at rest; their column types open them
as the rows load here, so the snapshot holds them ready and the relay never decrypts per request.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from relaygate.state.snapshot import (
    ChannelInfo,
    KeyInfo,
    PriceInfo,
    Snapshot,
    UserInfo,
    parse_networks,
    rate_limits,
    split_groups,
)
from relaygate.store.models import ApiKey, Channel, Price, UpstreamObject, User


def channel_info(ch: Channel) -> ChannelInfo:
    return ChannelInfo(
        id=ch.id, name=ch.name, type=ch.type, base_url=ch.base_url.rstrip("/"),
        keys=tuple(ch.keys or ()), models=frozenset(ch.models or ()),
        model_mapping=dict(ch.model_mapping or {}), groups=split_groups(ch.group),
        priority=ch.priority, weight=max(0, ch.weight), status=ch.status,
        config=dict(ch.config or {}), timeout_s=ch.timeout_s,
    )


def key_info(k: ApiKey, user: UserInfo | None = None) -> KeyInfo:
    return KeyInfo(
        id=k.id, user_id=k.user_id, name=k.name,
        models=frozenset(k.models) if k.models else None, budget=k.budget,
        expires_at=k.expires_at.timestamp() if k.expires_at else None,
        allowed_nets=parse_networks(k.allowed_ips), enabled=k.enabled,
        rpm_limit=k.rpm_limit, tpm_limit=k.tpm_limit,
        limits=rate_limits(k.id, k.rpm_limit, k.tpm_limit, user),
    )


def price_info(p: Price) -> PriceInfo:
    return PriceInfo(model=p.model, input=p.input, output=p.output, cache_read=p.cache_read,
                     cache_write=p.cache_write, per_request=p.per_request,
                     max_output_tokens=p.max_output_tokens, per_character=p.per_character,
                     per_image=p.per_image, image_prices=dict(p.image_prices) if p.image_prices else None,
                     per_second=p.per_second)


async def load_snapshot(sessions: async_sessionmaker, version: int = 0) -> Snapshot:
    snap = Snapshot(version=version)
    async with sessions() as s:
        for u in (await s.scalars(select(User))).all():
            snap.users[u.id] = UserInfo(id=u.id, name=u.name, group=u.group, enabled=u.enabled,
                                        rpm_limit=u.rpm_limit, tpm_limit=u.tpm_limit)
        for k in (await s.scalars(select(ApiKey))).all():
            info = key_info(k, snap.users.get(k.user_id))
            snap.keys_by_hash[k.key_hash] = info
            snap.keys_by_id[k.id] = info
        for ch in (await s.scalars(select(Channel))).all():
            snap.channels[ch.id] = channel_info(ch)
        for p in (await s.scalars(select(Price))).all():
            snap.prices[p.model] = price_info(p)
        fine_tuned = (await s.execute(select(UpstreamObject.object_id, UpstreamObject.user_id,
                                             UpstreamObject.channel_id, UpstreamObject.data)
                                      .where(UpstreamObject.kind == "fine_tuned_model"))).all()
    snap.index_routes()
    for model, user_id, channel_id, data in fine_tuned:
        base = (data or {}).get("base_model")
        snap.add_fine_tuned(model, user_id, channel_id, snap.prices.get(base) if isinstance(base, str) else None)
    return snap
