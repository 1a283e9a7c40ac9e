"""Rate limits through the management API and relaygate.yaml: set, shown, cleared, validated, in the snapshot."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from relaygate.state.snapshot import RateLimits
from relaygate.store.db import make_engine, session_factory
from relaygate.store.models import ApiKey, User
from relaygate.store.yaml_config import apply_config_file, parse_config

from .helpers import AdminServer, assert_error, create_key, create_user, unique


def _limits(server: AdminServer, key_id: int) -> RateLimits | None:
    assert server.runtime is not None
    return server.runtime.snapshot.keys_by_id[key_id].limits


def test_limits_default_to_unlimited(client: httpx.Client, server: AdminServer) -> None:
    user = create_user(client)
    key = create_key(client, user["id"])
    assert (user["rpm_limit"], user["tpm_limit"], key["rpm_limit"], key["tpm_limit"]) == (None, None, None, None)
    assert _limits(server, key["id"]) is None  # the hot path's only check for this key


def test_set_on_create_shown_and_in_the_snapshot(client: httpx.Client, server: AdminServer) -> None:
    user = create_user(client, rpm_limit=100, tpm_limit=0)
    key = create_key(client, user["id"], rpm_limit=3)
    assert (user["rpm_limit"], user["tpm_limit"]) == (100, 0)
    assert client.get(f"/api/keys/{key['id']}").json()["rpm_limit"] == 3
    assert client.get(f"/api/users/{user['id']}").json()["tpm_limit"] == 0
    assert _limits(server, key["id"]) == RateLimits(key["id"], user["id"], 3, 100, None, 0)


def test_update_and_clear(client: httpx.Client, server: AdminServer) -> None:
    user = create_user(client)
    key = create_key(client, user["id"])
    resp = client.patch(f"/api/keys/{key['id']}", json={"rpm_limit": 10, "tpm_limit": 5000})
    assert resp.status_code == 200 and (resp.json()["rpm_limit"], resp.json()["tpm_limit"]) == (10, 5000)
    resp = client.patch(f"/api/users/{user['id']}", json={"tpm_limit": 900})
    assert resp.status_code == 200 and resp.json()["tpm_limit"] == 900
    assert _limits(server, key["id"]) == RateLimits(key["id"], user["id"], 10, None, 5000, 900)
    resp = client.patch(f"/api/keys/{key['id']}", json={"rpm_limit": None, "tpm_limit": None})
    assert (resp.json()["rpm_limit"], resp.json()["tpm_limit"]) == (None, None)
    assert _limits(server, key["id"]) == RateLimits(key["id"], user["id"], None, None, None, 900)
    client.patch(f"/api/users/{user['id']}", json={"tpm_limit": None})
    assert _limits(server, key["id"]) is None

    async def rows() -> tuple[Any, Any]:
        assert server.runtime is not None
        async with server.runtime.sessions() as s:
            return await s.get(User, user["id"]), await s.get(ApiKey, key["id"])

    u, k = server.run(rows())
    assert (u.rpm_limit, u.tpm_limit, k.rpm_limit, k.tpm_limit) == (None, None, None, None)


@pytest.mark.parametrize("value", [-1, "5", 1.5, True, 2**31])
def test_invalid_limits_are_clear_400s(client: httpx.Client, value: Any) -> None:
    user = create_user(client)
    err = assert_error(client.post("/api/users", json={"name": unique("u"), "rpm_limit": value}), 400)
    assert "rpm_limit" in err["message"]
    err = assert_error(client.post("/api/keys", json={"user_id": user["id"], "tpm_limit": value}), 400)
    assert "tpm_limit" in err["message"]
    key = create_key(client, user["id"])
    assert_error(client.patch(f"/api/keys/{key['id']}", json={"rpm_limit": value}), 400)
    assert_error(client.patch(f"/api/users/{user['id']}", json={"tpm_limit": value}), 400)


# --- relaygate.yaml ---------------------------------------------------------------------------------

CONFIG = """
users:
  - name: {name}
    rpm_limit: 600
    keys:
      - {{key: "{secret}", rpm_limit: 60, tpm_limit: 50000}}
"""


async def test_yaml_sets_and_clears_limits(database_url: str, tmp_path: Path) -> None:
    name, secret = unique("yaml-user"), "sk-" + unique("yaml-key") * 4
    path = tmp_path / "relaygate.yaml"
    path.write_text(textwrap.dedent(CONFIG.format(name=name, secret=secret)))
    engine = make_engine(database_url)
    sessions = session_factory(engine)
    try:
        await apply_config_file(path, sessions)
        async with sessions() as s:
            user = (await s.scalars(select(User).where(User.name == name))).one()
            key = (await s.scalars(select(ApiKey).where(ApiKey.user_id == user.id))).one()
        assert (user.rpm_limit, user.tpm_limit, key.rpm_limit, key.tpm_limit) == (600, None, 60, 50000)
        path.write_text(textwrap.dedent(f"""
            users:
              - name: {name}
                rpm_limit: null
                keys:
                  - {{key: "{secret}", tpm_limit: 10}}
            """))
        counts = await apply_config_file(path, sessions)
        assert counts["users"]["updated"] == 1 and counts["keys"]["updated"] == 1
        async with sessions() as s:
            user = await s.get(User, user.id)
            key = await s.get(ApiKey, key.id)
        assert (user.rpm_limit, key.rpm_limit, key.tpm_limit) == (None, 60, 10)  # rpm_limit not in the file: kept
    finally:
        await engine.dispose()


@pytest.mark.parametrize("value", ["-1", '"10"', "1.5", "yes"])
def test_yaml_refuses_bad_limits(value: str) -> None:
    with pytest.raises(ValueError, match=r"users\[0\]\.keys\[0\]\.rpm_limit"):
        parse_config(f"users:\n  - name: a\n    keys:\n      - {{key: sk-x, rpm_limit: {value}}}\n")
