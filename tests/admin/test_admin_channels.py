"""Channels: CRUD, key masking, azure defaults, status switching, the test endpoint."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from relaygate.store.models import Channel

from .helpers import AdminServer, assert_error, unique

KEY_A = "sk-aaaa1111222233334444wxyz"
KEY_B = "sk-bbbb5555666677778888stuv"


def _create(client: httpx.Client, **fields: Any) -> dict[str, Any]:
    body = {"name": unique("ch"), "type": "openai", "base_url": "https://upstream.example/v1",
            "keys": [KEY_A, KEY_B], "models": ["gpt-4o-mini"], **fields}
    resp = client.post("/api/channels", json=body)
    assert resp.status_code == 201, resp.text
    return resp.json()


def _db_channel(server: AdminServer, channel_id: int) -> Channel:
    async def load() -> Channel:
        assert server.runtime is not None
        async with server.runtime.sessions() as s:
            return (await s.scalars(select(Channel).where(Channel.id == channel_id))).one()

    return server.run(load())


def test_create_get_list_patch_delete(client: httpx.Client, server: AdminServer) -> None:
    ch = _create(client, model_mapping={"public": "upstream-name"}, group="default,vip", priority=5,
                 weight=3, config={"organization": "org-1"}, timeout_s=12.5)
    assert ch["id"] > 0
    assert ch["type"] == "openai" and ch["base_url"] == "https://upstream.example/v1"
    assert ch["models"] == ["gpt-4o-mini"] and ch["model_mapping"] == {"public": "upstream-name"}
    assert ch["group"] == "default,vip" and ch["priority"] == 5 and ch["weight"] == 3
    assert ch["config"] == {"organization": "org-1"} and ch["timeout_s"] == 12.5
    assert ch["status"] == "enabled" and ch["enabled"] is True and ch["disabled_reason"] is None
    assert ch["created_at"]

    got = client.get(f"/api/channels/{ch['id']}").json()
    assert got == ch
    listed = client.get("/api/channels").json()
    assert set(listed) == {"data"}
    assert ch["id"] in [c["id"] for c in listed["data"]]

    # the snapshot the hot path reads was reloaded
    snap = server.runtime.snapshot.channels[ch["id"]]  # type: ignore[union-attr]
    assert snap.keys == (KEY_A, KEY_B) and snap.priority == 5

    patched = client.patch(f"/api/channels/{ch['id']}", json={"priority": 9, "models": ["a", "b"],
                                                              "timeout_s": None}).json()
    assert patched["priority"] == 9 and patched["models"] == ["a", "b"] and patched["timeout_s"] is None
    assert patched["name"] == ch["name"] and patched["key_count"] == 2

    assert client.delete(f"/api/channels/{ch['id']}").status_code == 204
    assert_error(client.get(f"/api/channels/{ch['id']}"), 404, "not_found_error")
    assert ch["id"] not in server.runtime.snapshot.channels  # type: ignore[union-attr]


def test_keys_are_masked_everywhere(client: httpx.Client, server: AdminServer) -> None:
    ch = _create(client)
    for body in (ch, client.get(f"/api/channels/{ch['id']}").json()):
        assert body["key_count"] == 2
        assert body["keys"] == ["sk-a...wxyz", "sk-b...stuv"]
    listing = client.get("/api/channels").text
    assert KEY_A not in listing and KEY_B not in listing
    assert _db_channel(server, ch["id"]).keys == [KEY_A, KEY_B]


def test_echoing_masked_keys_back_keeps_the_real_ones(client: httpx.Client, server: AdminServer) -> None:
    ch = _create(client)
    new_key = "sk-cccc9999000011112222qrst"
    resp = client.patch(f"/api/channels/{ch['id']}", json={"keys": [*ch["keys"], new_key]})
    assert resp.status_code == 200, resp.text
    assert resp.json()["key_count"] == 3
    assert _db_channel(server, ch["id"]).keys == [KEY_A, KEY_B, new_key]
    client.patch(f"/api/channels/{ch['id']}", json={"keys": [new_key]})
    assert _db_channel(server, ch["id"]).keys == [new_key]


def test_secret_looking_config_values_are_masked(client: httpx.Client, server: AdminServer) -> None:
    secret = "AKIAEXAMPLESECRETVALUE1234"
    ch = _create(client, config={"region": "us-east-1", "secret_access_key": secret})
    assert ch["config"]["region"] == "us-east-1"
    assert secret not in str(ch["config"])
    # a round trip of the masked value keeps the stored secret
    client.patch(f"/api/channels/{ch['id']}", json={"config": {**ch["config"], "region": "eu-west-1"}})
    assert _db_channel(server, ch["id"]).config == {"region": "eu-west-1", "secret_access_key": secret}


def test_azure_gets_a_default_api_version(client: httpx.Client) -> None:
    ch = _create(client, type="azure", base_url="https://res.openai.azure.com")
    assert ch["config"]["api_version"] == "2024-10-21"
    ch2 = _create(client, type="azure", base_url="https://res.openai.azure.com",
                  config={"api_version": "2024-06-01"})
    assert ch2["config"]["api_version"] == "2024-06-01"
    plain = _create(client)
    moved = client.patch(f"/api/channels/{plain['id']}", json={"type": "azure"}).json()
    assert moved["type"] == "azure" and moved["config"]["api_version"] == "2024-10-21"


def test_status_switching(client: httpx.Client, server: AdminServer) -> None:
    ch = _create(client, enabled=False)
    assert ch["status"] == "disabled" and ch["enabled"] is False
    on = client.patch(f"/api/channels/{ch['id']}", json={"status": "enabled"}).json()
    assert on["status"] == "enabled"
    off = client.patch(f"/api/channels/{ch['id']}", json={"enabled": False}).json()
    assert off["status"] == "disabled"
    assert server.runtime.snapshot.channels[ch["id"]].status == "disabled"  # type: ignore[union-attr]
    assert_error(client.patch(f"/api/channels/{ch['id']}", json={"enabled": True, "status": "disabled"}),
                 400, "invalid_request_error")
    assert_error(client.patch(f"/api/channels/{ch['id']}", json={"status": "auto_disabled"}), 400)


def test_enabling_clears_an_auto_disable(client: httpx.Client, server: AdminServer) -> None:
    ch = _create(client)

    async def auto_disable() -> None:
        assert server.runtime is not None
        async with server.runtime.sessions() as s, s.begin():
            row = await s.get(Channel, ch["id"])
            assert row is not None
            row.status, row.disabled_reason = "auto_disabled", "5 consecutive failures"

    server.run(auto_disable())
    got = client.get(f"/api/channels/{ch['id']}").json()
    assert got["status"] == "auto_disabled" and got["disabled_reason"] == "5 consecutive failures"
    on = client.patch(f"/api/channels/{ch['id']}", json={"status": "enabled"}).json()
    assert on["status"] == "enabled" and on["disabled_reason"] is None


@pytest.mark.parametrize("body", [{"name": None}, {"base_url": "nope"}, {"type": "gopher"},
                                  {"priority": 1.5}, {"keys": [""]}, {"unknown": 1}])
def test_patch_validation(client: httpx.Client, body: dict[str, Any]) -> None:
    ch = _create(client)
    assert_error(client.patch(f"/api/channels/{ch['id']}", json=body), 400, "invalid_request_error")


def test_channel_test_endpoint(client: httpx.Client, server: AdminServer) -> None:
    ch = _create(client)
    assert_error(client.post(f"/api/channels/{ch['id']}/test"), 503)
    assert_error(client.post("/api/channels/987654/test"), 404, "not_found_error")

    calls: list[tuple[int, str | None]] = []
    assert ch["health"] == {"consecutive_failures": 0, "successes": 0}

    class FakeRelay:
        health = SimpleNamespace(failures={ch["id"]: 2}, successes={ch["id"]: 5})

        async def test_channel(self, channel_id: int, model: str | None = None) -> dict[str, Any]:
            calls.append((channel_id, model))
            return {"ok": True, "status_code": 200, "latency_ms": 12, "model": model or "gpt-4o-mini",
                    "error": None}

        def on_snapshot(self, snapshot: object) -> None:
            return None

        async def close(self) -> None:
            return None

    rt = server.runtime
    assert rt is not None
    rt.relay = FakeRelay()
    try:
        resp = client.post(f"/api/channels/{ch['id']}/test", params={"model": "gpt-4o"})
        assert resp.status_code == 200
        assert resp.json() == {"ok": True, "status_code": 200, "latency_ms": 12, "model": "gpt-4o",
                               "error": None}
        assert client.post(f"/api/channels/{ch['id']}/test").json()["model"] == "gpt-4o-mini"
        assert calls == [(ch["id"], "gpt-4o"), (ch["id"], None)]
        health = client.get(f"/api/channels/{ch['id']}").json()["health"]
        assert health == {"consecutive_failures": 2, "successes": 5}
    finally:
        rt.relay = None
