"""Start-up pass over the stored channel secrets: check that all open, then seal with the first key.

It reads the raw column values (not through the sealing column types), so it sees plaintext rows
from databases older than sealing, values sealed with a key later in the list (rotation), and
values no configured key opens. Every row is checked before any is written: a database whose
secrets cannot all be opened is left untouched and the gateway refuses to start. Running it again
changes nothing (a value already sealed with the first key is kept as it is).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import JSON, Integer, column, select, table, update
from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.store.secretbox import Keyring, SecretError

# the channels table as stored, bypassing SealedKeys/SealedConfig
_RAW = table("channels", column("id", Integer), column("keys", JSON), column("config", JSON))


class SecretsUnreadable(Exception):
    """Channels whose secrets the configured keys do not open; the message is one line."""

    def __init__(self, failures: dict[int, str], ring: Keyring, hint: str = "") -> None:
        self.failures = failures
        ids = ", ".join(str(i) for i in sorted(failures))
        reasons = "; ".join(sorted(set(failures.values())))
        super().__init__(f"cannot open the secrets of channel(s) {ids} with the keys from {ring.source} "
                         f"(key ids {', '.join(ring.key_ids)}): {reasons}. Configure the key that sealed them "
                         f"(to rotate, list the new key first and the old one after it){hint}")


@dataclass
class SealReport:
    checked: int = 0
    resealed: list[int] = field(default_factory=list)


def _reseal_row(ring: Keyring, keys: Any, config: Any) -> tuple[Any, Any]:
    new_keys = ring.reseal_keys(keys) if isinstance(keys, list) else keys
    new_config = ring.reseal_config(config) if isinstance(config, dict) else config
    return new_keys, new_config


async def seal_channel_secrets(engine: AsyncEngine, ring: Keyring, hint: str = "") -> SealReport:
    """Seal every channel secret with ``ring``'s first key; raise SecretsUnreadable if any will not open."""
    report = SealReport()
    async with engine.begin() as conn:
        rows = (await conn.execute(select(_RAW.c.id, _RAW.c["keys"], _RAW.c.config).order_by(_RAW.c.id))).all()
        failures: dict[int, str] = {}
        changes: dict[int, tuple[Any, Any]] = {}
        for channel_id, keys, config in rows:
            report.checked += 1
            try:
                new_keys, new_config = _reseal_row(ring, keys, config)
            except SecretError as exc:
                failures[channel_id] = str(exc)
                continue
            if new_keys != keys or new_config != config:
                changes[channel_id] = (new_keys, new_config)
        if failures:
            raise SecretsUnreadable(failures, ring, hint)
        for channel_id, (new_keys, new_config) in changes.items():
            await conn.execute(update(_RAW).where(_RAW.c.id == channel_id).values(keys=new_keys, config=new_config))
            report.resealed.append(channel_id)
    return report
