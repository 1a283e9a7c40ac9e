"""Users and API keys: CRUD, money round trips, ledger-aware balances, the secret shown once."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from relaygate.billing.recorder import UsageRecord
from relaygate.state.snapshot import hash_key
from relaygate.store.models import ApiKey, User

from .helpers import AdminServer, assert_error, create_key, create_user, unique


def _db_row(server: AdminServer, model: type, ident: int) -> Any:
    async def load() -> Any:
        assert server.runtime is not None
        async with server.runtime.sessions() as s:
            return (await s.scalars(select(model).where(model.id == ident))).one_or_none()

    return server.run(load())


def _flush(server: AdminServer) -> None:
    assert server.runtime is not None
    server.run(server.runtime.recorder.flush())


def _charge(server: AdminServer, user_id: int, key_id: int, cost: int) -> None:
    """What the relay does after a request: settle in the ledger, queue the usage record."""
    rt = server.runtime
    assert rt is not None

    async def charge() -> None:
        assert await rt.ledger.reserve(user_id, key_id, None, cost)
        await rt.ledger.settle(user_id, key_id, None, cost, cost)
        rt.recorder.add(UsageRecord(request_id=unique("req"), user_id=user_id, key_id=key_id, channel_id=None,
                                    endpoint="/v1/chat/completions", model="gpt-4o-mini", cost=cost))

    server.run(charge())


# --- users ----------------------------------------------------------------------------------

def test_user_crud(client: httpx.Client, server: AdminServer) -> None:
    user = create_user(client, group="vip")
    assert user["id"] > 0 and user["group"] == "vip" and user["enabled"] is True
    assert user["balance"] == "10.00" and user["used"] == "0.00" and user["created_at"]
    assert client.get(f"/api/users/{user['id']}").json() == user
    assert user["id"] in [u["id"] for u in client.get("/api/users").json()["data"]]
    assert server.runtime.snapshot.users[user["id"]].group == "vip"  # type: ignore[union-attr]

    patched = client.patch(f"/api/users/{user['id']}", json={"name": "renamed", "group": "default",
                                                            "enabled": False}).json()
    assert (patched["name"], patched["group"], patched["enabled"]) == ("renamed", "default", False)
    assert patched["balance"] == "10.00"
    assert server.runtime.snapshot.users[user["id"]].enabled is False  # type: ignore[union-attr]

    key = create_key(client, user["id"])
    assert client.delete(f"/api/users/{user['id']}").status_code == 204
    assert_error(client.get(f"/api/users/{user['id']}"), 404, "not_found_error")
    assert_error(client.get(f"/api/keys/{key['id']}"), 404, "not_found_error")
    assert _db_row(server, ApiKey, key["id"]) is None
    assert hash_key(key["key"]) not in server.runtime.snapshot.keys_by_hash  # type: ignore[union-attr]


@pytest.mark.parametrize(("given", "shown", "micro"), [
    ("10.00", "10.00", 10_000_000), ("0.000001", "0.000001", 1), ("0", "0.00", 0), ("1.5", "1.50", 1_500_000),
    ("123456789.123456", "123456789.123456", 123_456_789_123_456), (3, "3.00", 3_000_000),
])
def test_money_round_trips(client: httpx.Client, server: AdminServer, given: Any, shown: str,
                           micro: int) -> None:
    user = create_user(client, balance=given)
    assert user["balance"] == shown
    assert client.get(f"/api/users/{user['id']}").json()["balance"] == shown
    assert _db_row(server, User, user["id"]).balance == micro


def test_balance_set_and_top_up_reach_ledger_and_database(client: httpx.Client, server: AdminServer) -> None:
    rt = server.runtime
    assert rt is not None
    user = create_user(client, balance="10.00")
    key = create_key(client, user["id"])
    _charge(server, user["id"], key["id"], 1_250_000)  # 1.25 spent, not flushed yet

    got = client.get(f"/api/users/{user['id']}").json()
    assert (got["balance"], got["used"]) == ("8.75", "1.25")
    assert client.get(f"/api/keys/{key['id']}").json()["used"] == "1.25"

    set_to = client.patch(f"/api/users/{user['id']}", json={"balance": "20.00"}).json()
    assert set_to["balance"] == "20.00" and set_to["used"] == "1.25"
    _flush(server)
    row = _db_row(server, User, user["id"])
    assert (row.balance, row.used) == (20_000_000, 1_250_000)

    topped = client.patch(f"/api/users/{user['id']}", json={"add_balance": "5.000001"}).json()
    assert topped["balance"] == "25.000001"
    corrected = client.patch(f"/api/users/{user['id']}", json={"add_balance": "-0.000001"}).json()
    assert corrected["balance"] == "25.00"
    _charge(server, user["id"], key["id"], 1_000_000)
    _flush(server)
    assert _db_row(server, User, user["id"]).balance == 24_000_000
    assert client.get(f"/api/users/{user['id']}").json()["balance"] == "24.00"
    assert (server.run(rt.ledger.user(user["id"]))).balance == 24_000_000


def test_balance_cannot_go_below_zero(client: httpx.Client, server: AdminServer) -> None:
    user = create_user(client, balance="1.00")
    err = assert_error(client.patch(f"/api/users/{user['id']}", json={"add_balance": "-1.000001"}), 400,
                       "invalid_request_error")
    assert "add_balance" in err["message"]
    assert_error(client.patch(f"/api/users/{user['id']}", json={"balance": "-1"}), 400)
    assert_error(client.patch(f"/api/users/{user['id']}", json={"balance": "1", "add_balance": "1"}), 400)
    assert client.patch(f"/api/users/{user['id']}", json={"add_balance": "-1.00"}).json()["balance"] == "0.00"
    assert _db_row(server, User, user["id"]).balance == 0


# --- keys -----------------------------------------------------------------------------------

def test_key_secret_is_shown_once_and_stored_hashed(client: httpx.Client, server: AdminServer) -> None:
    user = create_user(client)
    created = create_key(client, user["id"], name="laptop")
    secret = created["key"]
    assert re.fullmatch(r"sk-[A-Za-z0-9]{48}", secret)
    assert created["key_hint"] == f"{secret[:7]}...{secret[-4:]}"
    assert created["user_id"] == user["id"] and created["name"] == "laptop" and created["enabled"] is True

    for resp in (client.get(f"/api/keys/{created['id']}"), client.get("/api/keys"),
                 client.get("/api/keys", params={"user_id": user["id"]}),
                 client.patch(f"/api/keys/{created['id']}", json={"name": "desk"})):
        assert resp.status_code == 200
        assert secret not in resp.text and secret[3:] not in resp.text
        assert '"key":' not in resp.text

    row = _db_row(server, ApiKey, created["id"])
    assert row.key_hash == hash_key(secret)
    assert secret not in str([getattr(row, c) for c in ("name", "key_hint", "key_hash", "models")])
    assert hash_key(secret) in server.runtime.snapshot.keys_by_hash  # type: ignore[union-attr]
    assert create_key(client, user["id"])["key"] != secret


def test_key_fields_and_patch(client: httpx.Client, server: AdminServer) -> None:
    user = create_user(client)
    key = create_key(client, user["id"], name="ci", models=["gpt-4o-mini", "meta/llama-3"], budget="1.00",
               expires_at="2030-01-02T03:04:05Z", allowed_ips=["10.0.0.0/8", "1.2.3.4", "2001:db8::/32"])
    assert key["models"] == ["gpt-4o-mini", "meta/llama-3"] and key["budget"] == "1.00"
    assert key["used"] == "0.00"
    assert datetime.fromisoformat(key["expires_at"]) == datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert key["allowed_ips"] == ["10.0.0.0/8", "1.2.3.4", "2001:db8::/32"]
    info = server.runtime.snapshot.keys_by_id[key["id"]]  # type: ignore[union-attr]
    assert info.budget == 1_000_000 and info.expires_at == datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp()

    unix = client.patch(f"/api/keys/{key['id']}", json={"expires_at": 1_900_000_000}).json()
    assert datetime.fromisoformat(unix["expires_at"]).timestamp() == 1_900_000_000
    cleared = client.patch(f"/api/keys/{key['id']}", json={"budget": None, "models": None, "expires_at": None,
                                                          "allowed_ips": None, "enabled": False}).json()
    assert cleared["budget"] is None and cleared["models"] is None and cleared["expires_at"] is None
    assert cleared["allowed_ips"] is None and cleared["enabled"] is False
    info = server.runtime.snapshot.keys_by_id[key["id"]]  # type: ignore[union-attr]
    assert info.budget is None and info.enabled is False and info.allowed_nets is None

    assert_error(client.patch(f"/api/keys/{key['id']}", json={"enabled": None}), 400)
    assert_error(client.patch(f"/api/keys/{key['id']}", json={"allowed_ips": ["300.1.1.1"]}), 400)
    assert_error(client.patch(f"/api/keys/{key['id']}", json={"budget": "-0.01"}), 400)


def test_key_list_filter_and_delete(client: httpx.Client, server: AdminServer) -> None:
    alice, bob = create_user(client), create_user(client)
    a1, a2, b1 = create_key(client, alice["id"]), create_key(client, alice["id"]), create_key(client, bob["id"])
    ids = [k["id"] for k in client.get("/api/keys", params={"user_id": alice["id"]}).json()["data"]]
    assert ids == [a1["id"], a2["id"]]
    assert b1["id"] in [k["id"] for k in client.get("/api/keys").json()["data"]]
    assert client.delete(f"/api/keys/{a1['id']}").status_code == 204
    assert_error(client.get(f"/api/keys/{a1['id']}"), 404, "not_found_error")
    assert_error(client.delete(f"/api/keys/{a1['id']}"), 404, "not_found_error")
    assert a1["id"] not in server.runtime.snapshot.keys_by_id  # type: ignore[union-attr]


def test_key_for_unknown_user(client: httpx.Client) -> None:
    assert_error(client.post("/api/keys", json={"user_id": 987654}), 404, "not_found_error")
    assert_error(client.post("/api/keys", json={}), 400, "invalid_request_error")
