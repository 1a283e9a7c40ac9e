"""The start-up YAML config: upserts, idempotence, ${VAR} expansion, clear errors."""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from relaygate.state.snapshot import hash_key
from relaygate.store import secretbox
from relaygate.store.db import make_engine, session_factory
from relaygate.store.models import ApiKey, Channel, Price, User
from relaygate.store.yaml_config import apply_config_file, parse_config

from .helpers import BACKENDS, fresh_database

ALICE_KEY = "sk-alice0000000000000000000000000000000000000000001"
CONFIG = """
prices:
  gpt-4o-mini: {input: "0.15", output: "0.60"}
  meta/llama-3: {input: 0.1, output: "0.2", per_request: "0.000001", max_output_tokens: 4096}
channels:
  - {name: openai-main, type: openai, base_url: "https://api.openai.com/v1/", keys: ["${TEST_OPENAI_KEY}"],
     models: [gpt-4o-mini], priority: 0}
  - name: azure-east
    type: azure
    base_url: https://east.openai.azure.com
    keys: ["${TEST_AZURE_KEY:-azure-default-key-000000}"]
    models: [gpt-4o]
    model_mapping: {gpt-4o: my-deployment}
    priority: 5
    enabled: false
users:
  - name: alice
    group: default
    balance: "10.00"
    keys:
      - {name: laptop, key: "${TEST_ALICE_KEY}", models: [gpt-4o-mini], budget: "1.00",
         allowed_ips: ["10.0.0.0/8"], expires_at: "2030-01-01T00:00:00Z"}
  - name: bob
    balance: "0.000001"
"""
ENV = {"TEST_OPENAI_KEY": "sk-openai-from-env-1234567890", "TEST_ALICE_KEY": ALICE_KEY}


@pytest.fixture(autouse=True)
def _keyring() -> Iterator[None]:
    """apply_config_file writes channels, whose keys are sealed with the process's keyring."""
    previous = secretbox._keyring
    secretbox.install(secretbox.Keyring(["yaml-config-test-key-0123456789abcdef"]))
    yield
    secretbox._keyring = previous


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request.param, tmp_path) as url:
        yield url


@asynccontextmanager
async def open_sessions(url: str) -> AsyncIterator[async_sessionmaker]:
    engine = make_engine(url)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


def write(tmp_path: Path, text: str, name: str = "relaygate.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


async def rows(sessions: async_sessionmaker, model: type) -> list[Any]:
    async with sessions() as s:
        return list((await s.scalars(select(model))).all())


async def test_apply_creates_everything(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("TEST_AZURE_KEY", raising=False)
    path = write(tmp_path, CONFIG)
    async with open_sessions(db_url) as sessions:
        counts = await apply_config_file(path, sessions)
        assert counts == {"prices": {"created": 2, "updated": 0, "unchanged": 0},
                          "channels": {"created": 2, "updated": 0, "unchanged": 0},
                          "users": {"created": 2, "updated": 0, "unchanged": 0},
                          "keys": {"created": 1, "updated": 0, "unchanged": 0}}

        prices = {p.model: p for p in await rows(sessions, Price)}
        assert (prices["gpt-4o-mini"].input, prices["gpt-4o-mini"].output) == (150_000, 600_000)
        assert prices["meta/llama-3"].per_request == 1 and prices["meta/llama-3"].max_output_tokens == 4096

        channels = {c.name: c for c in await rows(sessions, Channel)}
        main, azure = channels["openai-main"], channels["azure-east"]
        assert main.keys == [ENV["TEST_OPENAI_KEY"]] and main.base_url == "https://api.openai.com/v1"
        assert main.status == "enabled" and main.group == "default" and main.weight == 1
        assert azure.keys == ["azure-default-key-000000"] and azure.status == "disabled"
        assert azure.config == {"api_version": "2024-10-21"} and azure.model_mapping == {"gpt-4o": "my-deployment"}

        users = {u.name: u for u in await rows(sessions, User)}
        assert users["alice"].balance == 10_000_000 and users["bob"].balance == 1
        (key,) = await rows(sessions, ApiKey)
        assert key.key_hash == hash_key(ALICE_KEY) and key.user_id == users["alice"].id
        assert ALICE_KEY not in (key.key_hint, key.name) and key.key_hint.startswith("sk-alic")
        assert key.budget == 1_000_000 and key.models == ["gpt-4o-mini"] and key.allowed_ips == ["10.0.0.0/8"]


async def test_apply_is_idempotent_and_keeps_balances(db_url: str, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    path = write(tmp_path, CONFIG)
    async with open_sessions(db_url) as sessions:
        await apply_config_file(path, sessions)
        before = {m.__name__: len(await rows(sessions, m)) for m in (Price, Channel, User, ApiKey)}

        # the gateway spends some of alice's money and an operator changes a channel's weight
        async with sessions() as s, s.begin():
            alice = (await s.scalars(select(User).where(User.name == "alice"))).one()
            alice.balance, alice.used = 7_000_000, 3_000_000
            main = (await s.scalars(select(Channel).where(Channel.name == "openai-main"))).one()
            main.weight = 7

        counts = await apply_config_file(path, sessions)
        assert all(c["created"] == 0 and c["updated"] == 0 for c in counts.values()), counts
        after = {m.__name__: len(await rows(sessions, m)) for m in (Price, Channel, User, ApiKey)}
        assert after == before
        users = {u.name: u for u in await rows(sessions, User)}
        assert (users["alice"].balance, users["alice"].used) == (7_000_000, 3_000_000)
        channels = {c.name: c for c in await rows(sessions, Channel)}
        assert channels["openai-main"].weight == 7  # not in the file, so left alone

        # an edited file updates in place, still without touching balances
        edited = CONFIG.replace('priority: 5', 'priority: 6').replace('"0.15"', '"0.16"').replace(
            "group: default", "group: vip").replace('budget: "1.00"', 'budget: "2.00"')
        counts = await apply_config_file(write(tmp_path, edited), sessions)
        assert counts["channels"] == {"created": 0, "updated": 1, "unchanged": 1}
        assert counts["prices"] == {"created": 0, "updated": 1, "unchanged": 1}
        assert counts["users"] == {"created": 0, "updated": 1, "unchanged": 1}
        assert counts["keys"] == {"created": 0, "updated": 1, "unchanged": 0}
        users = {u.name: u for u in await rows(sessions, User)}
        assert users["alice"].group == "vip" and users["alice"].balance == 7_000_000
        (key,) = await rows(sessions, ApiKey)
        assert key.budget == 2_000_000


async def test_auto_disabled_channels_stay_disabled(db_url: str, tmp_path: Path) -> None:
    path = write(tmp_path, """
        channels:
          - {name: c1, type: openai, base_url: "https://h/v1", enabled: true}
    """)
    async with open_sessions(db_url) as sessions:
        await apply_config_file(path, sessions)
        async with sessions() as s, s.begin():
            (await s.scalars(select(Channel))).one().status = "auto_disabled"
        await apply_config_file(path, sessions)
        assert (await rows(sessions, Channel))[0].status == "auto_disabled"


async def test_empty_file_does_nothing(db_url: str, tmp_path: Path) -> None:
    async with open_sessions(db_url) as sessions:
        counts = await apply_config_file(write(tmp_path, "# nothing yet\n"), sessions)
        assert all(sum(c.values()) == 0 for c in counts.values())


async def test_presets_and_unit_prices(db_url: str, tmp_path: Path) -> None:
    text = """
        prices:
          tts-1: {per_character: "15.00"}
          dall-e-3: {per_image: "0.04", image_prices: {"1024x1024/hd": "0.08"}}
          whisper-1: {per_second: "0.0001"}
        channels:
          - {name: ds, type: deepseek, keys: [sk-x]}
          - {name: mine, type: deepseek, keys: [sk-y], base_url: "http://10.0.0.5:8000/v1", models: [m1]}
        """
    async with open_sessions(db_url) as sessions:
        await apply_config_file(write(tmp_path, text), sessions)
        channels = {c.name: c for c in await rows(sessions, Channel)}
        assert channels["ds"].base_url.startswith("https://") and "deepseek-chat" in channels["ds"].models
        assert (channels["mine"].base_url, channels["mine"].models) == ("http://10.0.0.5:8000/v1", ["m1"])
        prices = {p.model: p for p in await rows(sessions, Price)}
        assert prices["tts-1"].per_character == 15_000_000
        assert (prices["dall-e-3"].per_image, prices["dall-e-3"].image_prices) == (40_000, {"1024x1024/hd": 80_000})
        assert prices["whisper-1"].per_second == 100
    with pytest.raises(ValueError, match="base_url"):
        async with open_sessions(db_url) as sessions:
            await apply_config_file(write(tmp_path, "channels:\n  - {name: x, type: openai}\n", "b.yaml"), sessions)


@pytest.mark.parametrize(("text", "expected"), [
    ("channels: [{name: c, type: gopher, base_url: 'https://h'}]", "channels[0].type: unknown channel type"),
    ("channels: [{name: c, type: openai}]", "channels[0].base_url"),
    ("channels: [{name: c, type: openai, base_url: 'https://h', prority: 1}]", "channels[0].prority"),
    ("users: [{name: a, balance: lots}]", "users[0].balance"),
    ("users: [{name: a, keys: [{name: k}]}]", "users[0].keys[0].key"),
    ("users: [{name: a, keys: [{key: sk-1, allowed_ips: ['10.0.0.0/99']}]}]", "users[0].keys[0].allowed_ips[0]"),
    ("prices: {gpt-4o: {input: free}}", "prices.gpt-4o.input"),
    ("channels: [{name: c, type: openai, base_url: 'https://h', keys: ['${RELAYGATE_TEST_UNSET_VAR}']}]",
     "RELAYGATE_TEST_UNSET_VAR"),
    ("users: [{name: a}, {name: a}]", "users[1].name"),
    ("users: [{name: a, keys: [{key: sk-x}]}, {name: b, keys: [{key: sk-x}]}]", "users[1].keys[0].key"),
    ("servers: []", "servers"),
    ("- just\n- a list", "must be a mapping"),
    ("channels: [unclosed", "not valid YAML"),
])
async def test_bad_files_raise_clear_errors(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text, "bad.yaml")
    with pytest.raises(ValueError) as info:
        await apply_config_file(path, None)  # type: ignore[arg-type]  # never reaches the database
    message = str(info.value)
    assert str(path) in message and expected in message, message


async def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read"):
        await apply_config_file(tmp_path / "nope.yaml", None)  # type: ignore[arg-type]


def test_env_expansion_rules() -> None:
    cfg = parse_config("channels: [{name: '${N}', type: openai, base_url: 'https://${HOST:-x.test}/v1',"
                       " keys: ['$${literal}', 'a${N}b']}]", environ={"N": "one"})
    ch = cfg.channels[0]
    assert ch.name == "one" and ch.base_url == "https://x.test/v1" and ch.keys == ["${literal}", "aoneb"]
