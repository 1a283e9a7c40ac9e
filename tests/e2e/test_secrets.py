"""Secrets never reach the logs or the database in the clear, even at debug level.

(Sealing in detail: test_channel_secrets.py.)
"""

from __future__ import annotations

import sqlite3

import openai
import pytest

from tests.gateway import ADMIN_KEY, Gateway, unique_model
from tests.services import free_port

HI = [{"role": "user", "content": "hi"}]


def test_no_secret_in_debug_logs_or_in_the_key_table(tmp_path, sim) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "rg.db"
    gw = Gateway(tmp_path / "gw", f"sqlite+aiosqlite:///{db}", log_level="debug").start()
    try:
        model = unique_model()
        gw.channel(sim.base_url, [model], keys=["sk-sim-1"])
        dead = gw.channel(f"http://127.0.0.1:{free_port()}/v1", [unique_model()], keys=["sk-channel-secret-xyz"])
        gw.price(model)
        _user, key = gw.funded_key()
        client = gw.client(key["key"])
        client.chat.completions.create(model=model, messages=HI)
        list(client.chat.completions.create(model=model, messages=HI, stream=True))
        with pytest.raises(openai.AuthenticationError):
            gw.client(key["key"] + "x").chat.completions.create(model=model, messages=HI)
        gw.api("POST", f"/api/channels/{dead['id']}/test")
        shown = gw.api("GET", f"/api/channels/{dead['id']}")
        assert "sk-channel-secret-xyz" not in str(shown)
    finally:
        assert gw.stop() == 0
    log = gw.log()
    assert "DEBUG" in log, "the gateway did not log at debug level; the check would prove nothing"
    sealing_key = gw.env.get("RELAYGATE_SECRET_KEY") or (tmp_path / "gw" / "secret.key").read_text().strip()
    for secret in (key["key"], key["key"] + "x", ADMIN_KEY, "sk-channel-secret-xyz", "sk-sim-1", sealing_key):
        assert secret not in log, "a secret was written to the log"
    channels = str(sqlite3.connect(db).execute("SELECT * FROM channels").fetchall())
    assert "sk-channel-secret-xyz" not in channels and "sk-sim-1" not in channels and "enc:v1:" in channels
    rows = sqlite3.connect(db).execute("SELECT key_hash, key_hint FROM api_keys").fetchall()
    assert rows and all(key["key"] not in (h, hint) for h, hint in rows)
    assert all(len(h) == 64 for h, _ in rows), "keys must be stored as hashes"
