"""``serve --demo``: simulated upstreams, priced models and a funded demo key, for a first look."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from relaygate.bootstrap import generate_secret, write_secret
from relaygate.config import Settings
from relaygate.state.snapshot import hash_key
from relaygate.store.db import make_engine, session_factory
from relaygate.store.models import ApiKey, Channel, Price, User

DEMO_MODELS = {"gpt-4o-mini": ("0.15", "0.60"), "gpt-4o": ("2.50", "10.00")}
SIM_KEY = "sk-demo-upstream"


def start_simulators() -> tuple[Any, str]:
    from relaygate.simulators.openai import OpenAISimulator

    sim = OpenAISimulator(api_keys={SIM_KEY}).run_in_thread()
    handle = sim.__enter__()
    return handle, handle.base_url


async def seed(settings: Settings, base_url: str) -> str:
    """Create or refresh the demo channel, prices, user and key; returns the demo key."""
    from relaygate.billing.money import parse_money

    key_path = settings.data_dir / "demo.key"
    secret = key_path.read_text().strip() if key_path.exists() else generate_secret()
    now = datetime.now(UTC)
    engine = make_engine(settings.effective_database_url)
    try:
        async with session_factory(engine)() as s, s.begin():
            ch = await s.scalar(select(Channel).where(Channel.name == "demo-openai"))
            if ch is None:
                ch = Channel(name="demo-openai", type="openai", created_at=now, model_mapping={}, config={},
                             group="default", priority=0, weight=1, status="enabled")
                s.add(ch)
            ch.base_url, ch.keys, ch.models = base_url, [SIM_KEY], list(DEMO_MODELS)
            for model, (inp, out) in DEMO_MODELS.items():
                if await s.get(Price, model) is None:
                    s.add(Price(model=model, input=parse_money(inp), output=parse_money(out), per_request=0,
                                updated_at=now))
            user = await s.scalar(select(User).where(User.name == "demo"))
            if user is None:
                user = User(name="demo", group="default", balance=parse_money("100"), used=0, enabled=True,
                            created_at=now)
                s.add(user)
                await s.flush()
            digest = hash_key(secret)
            if await s.scalar(select(ApiKey).where(ApiKey.key_hash == digest)) is None:
                s.add(ApiKey(user_id=user.id, name="demo", key_hash=digest,
                             key_hint=f"{secret[:7]}...{secret[-4:]}", used=0, enabled=True, created_at=now))
    finally:
        await engine.dispose()
    if not key_path.exists():
        write_secret(key_path, secret)
    return secret
