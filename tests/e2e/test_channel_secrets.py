"""Channel credentials sealed at rest: raw rows, relaying, rotation, a wrong key, old databases.

Each test runs its own gateway processes on a fresh database and reads the stored rows with the
database driver directly (sqlite3, asyncpg), not through the gateway's column types.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import stat
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from relaygate.store.db import migrate
from relaygate.store.secretbox import Keyring, is_sealed, key_id_of
from tests.gateway import Gateway, unique_model

HI = [{"role": "user", "content": "hi"}]
KEY_A = "test-secret-key-A-0123456789abcdefghijkl"
KEY_B = "test-secret-key-B-0123456789abcdefghijkl"
KEY_C = "test-secret-key-C-0123456789abcdefghijkl"
CONFIG_SECRET = "cfg-secret-value-0001"


# --- the database as stored -----------------------------------------------------------------------

def _pg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _pg(url: str, sql: str, *args: Any) -> list[Any]:
    import asyncpg

    conn = await asyncpg.connect(_pg_dsn(url))
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


def raw_channels(url: str) -> dict[int, dict[str, Any]]:
    """Every channel row as stored, each column as the database returns it (JSON as text)."""
    if url.startswith("sqlite"):
        with contextlib.closing(sqlite3.connect(url.split(":///", 1)[1])) as db:
            db.row_factory = sqlite3.Row
            rows = [dict(r) for r in db.execute("SELECT * FROM channels")]
    else:
        rows = [json.loads(r[0]) for r in asyncio.run(_pg(url, "SELECT row_to_json(c)::text FROM channels c"))]
        for row in rows:
            row["keys"], row["config"] = json.dumps(row["keys"]), json.dumps(row["config"])
    return {row["id"]: row for row in rows}


def stored(url: str, channel_id: int) -> tuple[list[str], dict[str, Any]]:
    row = raw_channels(url)[channel_id]
    return json.loads(row["keys"]), json.loads(row["config"])


def insert_plaintext_channel(url: str, base_url: str, model: str, keys: list[str], config: dict[str, Any]) -> int:
    """A channel as a gateway older than sealing wrote it."""
    values = ("old-plain", "openai", base_url, json.dumps(keys), json.dumps([model]), "{}", "default", 0, 1,
              "enabled", json.dumps(config))
    if url.startswith("sqlite"):
        with contextlib.closing(sqlite3.connect(url.split(":///", 1)[1])) as db, db:
            cur = db.execute("INSERT INTO channels (name, type, base_url, keys, models, model_mapping, group_name, "
                             "priority, weight, status, config, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                             (*values, datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")))
            return int(cur.lastrowid)
    rows = asyncio.run(_pg(url, "INSERT INTO channels (name, type, base_url, keys, models, model_mapping, group_name, "
                                "priority, weight, status, config, created_at) VALUES ($1,$2,$3,$4::json,$5::json,"
                                "$6::json,$7,$8,$9,$10,$11::json,$12) RETURNING id", *values, datetime.now(UTC)))
    return int(rows[0]["id"])


def assert_no_plaintext(url: str, *secrets: str) -> None:
    dump = json.dumps(raw_channels(url), default=str)
    for secret in secrets:
        assert secret not in dump, f"{secret!r} is stored in the clear"


# --- helpers --------------------------------------------------------------------------------------

def relay_ok(gw: Gateway, sim: Any, model: str, expected_key: str) -> None:
    """A request through the gateway reaches the simulator with the channel's own key."""
    _user, key = gw.funded_key()
    reply = gw.client(key["key"]).chat.completions.create(model=model, messages=HI)
    assert reply.choices[0].message.content
    assert sim.requests[-1].headers["authorization"] == f"Bearer {expected_key}"


def refused(data_dir: Path, url: str, **settings: Any) -> str:
    """Start a gateway that must refuse to start; returns its output."""
    gw = Gateway(data_dir, url, **settings)
    with pytest.raises(RuntimeError, match="exited with 2"):
        gw.start()
    return gw.log()


# --- tests ----------------------------------------------------------------------------------------

def test_admin_api_and_yaml_channels_are_stored_sealed_and_relay(fresh_database_url: str, sim, tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = fresh_database_url
    api_model, yaml_model = unique_model(), unique_model()
    config = tmp_path / "relaygate.yaml"
    config.write_text(textwrap.dedent(f"""
        prices:
          {yaml_model}: {{input: "1.00", output: "2.00"}}
        channels:
          - name: from-yaml
            type: openai
            base_url: {sim.base_url}
            keys: [sk-sim-2]
            models: [{yaml_model}]
            config: {{secret_key: {CONFIG_SECRET}, organization: org-visible}}
    """))
    gw = Gateway(tmp_path / "gw", url, secret_key=KEY_A, config_file=str(config)).start()
    try:
        made = gw.channel(sim.base_url, [api_model], keys=["sk-sim-1"], config={"access_token": "tok-admin-0001"})
        gw.price(api_model)
        relay_ok(gw, sim, api_model, "sk-sim-1")
        relay_ok(gw, sim, yaml_model, "sk-sim-2")
        shown = gw.api("GET", "/api/channels")["data"]
        assert "sk-sim-1" not in str(shown) and "tok-admin-0001" not in str(shown) and CONFIG_SECRET not in str(shown)
    finally:
        assert gw.stop() == 0, gw.log()
    assert_no_plaintext(url, "sk-sim-1", "sk-sim-2", "tok-admin-0001", CONFIG_SECRET, KEY_A)
    primary = Keyring([KEY_A]).primary_id
    rows = raw_channels(url)
    assert len(rows) == 2
    for channel_id in rows:
        keys, cfg = stored(url, channel_id)
        assert keys and all(is_sealed(k) and key_id_of(k) == primary for k in keys)
        secret_entries = [v for name, v in cfg.items() if name in ("secret_key", "access_token")]
        assert len(secret_entries) == 1 and is_sealed(secret_entries[0])
    assert is_sealed(stored(url, made["id"])[1]["access_token"])
    yaml_row = next(r for r in rows.values() if r["name"] == "from-yaml")
    assert json.loads(yaml_row["config"])["organization"] == "org-visible"  # not a secret: left readable
    # the yaml file is applied again at the next start: its channel is unchanged, not re-sealed
    before = raw_channels(url)
    again = Gateway(tmp_path / "gw2", url, secret_key=KEY_A, config_file=str(config)).start()
    try:
        relay_ok(again, sim, yaml_model, "sk-sim-2")
    finally:
        assert again.stop() == 0, again.log()
    assert raw_channels(url) == before


def test_rotated_key_list_reseals_and_a_wrong_key_refuses_to_start(fresh_database_url: str, sim, tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = fresh_database_url
    model = unique_model()
    gw = Gateway(tmp_path / "a", url, secret_key=KEY_A).start()
    try:
        first = gw.channel(sim.base_url, [model], keys=["sk-sim-2"])
        second = gw.channel(sim.base_url, [unique_model()], keys=["sk-sim-1"], config={"password": "pw-0001"})
        gw.price(model)
    finally:
        assert gw.stop() == 0, gw.log()
    sealed_a = raw_channels(url)
    ids = f"{first['id']}, {second['id']}"

    # a key that sealed nothing here: refused, nothing written, one clear line
    out = refused(tmp_path / "wrong", url, secret_key=KEY_C)
    lines = [ln for ln in out.splitlines() if ln.startswith("relaygate: ")]
    assert len(lines) == 1, out
    assert f"channel(s) {ids} " in lines[0] and "RELAYGATE_SECRET_KEY" in lines[0], lines[0]
    assert "Traceback" not in out and KEY_C not in out
    assert raw_channels(url) == sealed_a

    # rotation: the new key first, the old one after it; start-up re-seals with the new key
    rotated = Gateway(tmp_path / "b", url, secret_key=f"{KEY_B},{KEY_A}").start()
    try:
        relay_ok(rotated, sim, model, "sk-sim-2")
    finally:
        assert rotated.stop() == 0, rotated.log()
    primary_b = Keyring([KEY_B]).primary_id
    resealed = raw_channels(url)
    for channel_id in (first["id"], second["id"]):
        keys, _config = stored(url, channel_id)
        assert all(key_id_of(k) == primary_b for k in keys)
        assert resealed[channel_id]["keys"] != sealed_a[channel_id]["keys"]
    assert key_id_of(stored(url, second["id"])[1]["password"]) == primary_b
    assert_no_plaintext(url, "sk-sim-1", "sk-sim-2", "pw-0001")

    # the same list again changes nothing; then the old key can be dropped
    Gateway(tmp_path / "c", url, secret_key=f"{KEY_B},{KEY_A}").start().stop()
    assert raw_channels(url) == resealed
    dropped = Gateway(tmp_path / "d", url, secret_key=KEY_B).start()
    try:
        relay_ok(dropped, sim, model, "sk-sim-2")
    finally:
        assert dropped.stop() == 0, dropped.log()
    assert "channel(s)" in refused(tmp_path / "e", url, secret_key=KEY_A)  # the old key alone no longer opens


def test_plaintext_database_from_an_older_gateway_is_sealed_at_start(fresh_database_url: str, sim, tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = fresh_database_url
    asyncio.run(migrate(url))
    model = unique_model()
    channel_id = insert_plaintext_channel(url, sim.base_url, model, ["sk-sim-2"], {"secret_key": CONFIG_SECRET,
                                                                                   "jwt_ttl_s": 60})
    assert "sk-sim-2" in json.dumps(raw_channels(url))  # the test's premise
    gw = Gateway(tmp_path / "gw", url, secret_key=KEY_A).start()
    try:
        gw.price(model)
        relay_ok(gw, sim, model, "sk-sim-2")
        shown = gw.api("GET", f"/api/channels/{channel_id}")
        assert shown["key_count"] == 1 and shown["config"]["jwt_ttl_s"] == 60
    finally:
        assert gw.stop() == 0, gw.log()
    assert_no_plaintext(url, "sk-sim-2", CONFIG_SECRET)
    keys, cfg = stored(url, channel_id)
    assert all(is_sealed(k) for k in keys) and is_sealed(cfg["secret_key"]) and cfg["jwt_ttl_s"] == 60


def test_without_the_variable_a_key_file_is_generated_and_kept(fresh_database_url: str, sim, tmp_path) -> None:  # type: ignore[no-untyped-def]
    url, data = fresh_database_url, tmp_path / "gw"
    model = unique_model()
    gw = Gateway(data, url)
    gw.env.pop("RELAYGATE_SECRET_KEY", None)
    gw.start()
    try:
        gw.channel(sim.base_url, [model], keys=["sk-sim-1"])
        gw.price(model)
        relay_ok(gw, sim, model, "sk-sim-1")
    finally:
        assert gw.stop() == 0, gw.log()
    key_file = data / "secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    generated = key_file.read_text().strip()
    log = gw.log()
    assert log.count("RELAYGATE_SECRET_KEY is not set") == 1, log
    assert generated not in log
    assert_no_plaintext(url, "sk-sim-1", generated)
    assert all(key_id_of(k) == Keyring([generated]).primary_id for row in raw_channels(url).values()
               for k in json.loads(row["keys"]))

    again = Gateway(data, url)  # same data folder: the same key
    again.env.pop("RELAYGATE_SECRET_KEY", None)
    again.start()
    try:
        relay_ok(again, sim, model, "sk-sim-1")
    finally:
        assert again.stop() == 0, again.log()
    assert key_file.read_text().strip() == generated

    # moving to the variable: a new key alone is refused with a pointer to the file; new,file works
    out = refused(data, url, secret_key=KEY_B)
    assert str(key_file) in [ln for ln in out.splitlines() if ln.startswith("relaygate: ")][-1]
    moved = Gateway(data, url, secret_key=f"{KEY_B},{generated}").start()
    try:
        relay_ok(moved, sim, model, "sk-sim-1")
    finally:
        assert moved.stop() == 0, moved.log()
    assert generated not in moved.log() and KEY_B not in moved.log()
    assert all(key_id_of(k) == Keyring([KEY_B]).primary_id for row in raw_channels(url).values()
               for k in json.loads(row["keys"]))


def test_unusable_key_refuses_to_start(fresh_database_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = refused(tmp_path / "gw", fresh_database_url, secret_key="too-short")
    line = [ln for ln in out.splitlines() if ln.startswith("relaygate: ")]
    assert len(line) == 1 and "RELAYGATE_SECRET_KEY" in line[0] and "32 characters" in line[0], out
    assert "Traceback" not in out and "too-short" not in out
