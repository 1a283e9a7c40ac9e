"""Request logs (filters, order, limits) and usage aggregation, in SQL on each backend."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import insert

from relaygate.billing.recorder import UsageRecord, UsageRecorder
from relaygate.store.models import UsageLog

from .helpers import AdminServer, assert_error, unique

T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
LOG_FIELDS = {"request_id", "created_at", "user_id", "key_id", "channel_id", "endpoint", "model",
              "upstream_model", "stream", "prompt_tokens", "completion_tokens", "cost", "status_code", "outcome",
              "latency_ms", "ttft_ms", "error"}


def _uid() -> int:
    return secrets.randbelow(2**30) + 1_000_000


def _insert(server: AdminServer, rows: list[dict[str, Any]]) -> None:
    async def write() -> None:
        assert server.runtime is not None
        async with server.runtime.sessions() as s, s.begin():
            await s.execute(insert(UsageLog), rows)

    server.run(write())


def _row(user_id: int, created_at: datetime, **fields: Any) -> dict[str, Any]:
    base = {"request_id": unique("req"), "created_at": created_at, "user_id": user_id, "key_id": None,
            "channel_id": 1, "endpoint": "/v1/chat/completions", "model": "gpt-4o-mini",
            "upstream_model": "gpt-4o-mini-2024-07-18", "stream": False, "prompt_tokens": 10,
            "completion_tokens": 5, "cache_read_tokens": 0, "cache_write_tokens": 0, "cost": 1000,
            "status_code": 200, "outcome": "ok", "usage_source": "upstream", "latency_ms": 100, "ttft_ms": None,
            "tries": 1, "error": None}
    return {**base, **fields}


def test_logs_newest_first_with_every_field(client: httpx.Client, server: AdminServer) -> None:
    uid = _uid()
    _insert(server, [_row(uid, T0 + timedelta(minutes=i), cost=i, request_id=f"r{uid}-{i}") for i in range(3)])
    data = client.get("/api/logs", params={"user_id": uid}).json()["data"]
    assert [d["request_id"] for d in data] == [f"r{uid}-2", f"r{uid}-1", f"r{uid}-0"]
    assert set(data[0]) >= LOG_FIELDS
    assert data[0]["cost"] == "0.000002" and data[2]["cost"] == "0.00"
    assert datetime.fromisoformat(data[0]["created_at"]) == T0 + timedelta(minutes=2)
    assert data[0]["model"] == "gpt-4o-mini" and data[0]["upstream_model"] == "gpt-4o-mini-2024-07-18"


def test_logs_filters(client: httpx.Client, server: AdminServer) -> None:
    uid, other = _uid(), _uid()
    _insert(server, [
        _row(uid, T0, key_id=11, model="a"),
        _row(uid, T0 + timedelta(hours=1), key_id=12, model="b"),
        _row(uid, T0 + timedelta(hours=2), key_id=11, model="meta/llama-3", stream=True, ttft_ms=40,
             status_code=502, outcome="upstream_error", error="bad gateway"),
        _row(other, T0 + timedelta(hours=1), key_id=11, model="a"),
    ])

    def ids(**params: Any) -> list[tuple[int, str]]:
        resp = client.get("/api/logs", params=params)
        assert resp.status_code == 200, resp.text
        return [(d["user_id"], d["model"]) for d in resp.json()["data"]]

    assert ids(user_id=uid, key_id=11) == [(uid, "meta/llama-3"), (uid, "a")]
    assert ids(user_id=uid, model="b") == [(uid, "b")]
    assert ids(user_id=uid, model="meta/llama-3") == [(uid, "meta/llama-3")]
    since, until = T0 + timedelta(minutes=30), T0 + timedelta(hours=2)
    assert ids(user_id=uid, since=since.isoformat(), until=until.isoformat()) == [(uid, "b")]
    assert ids(user_id=uid, since=int(since.timestamp())) == [(uid, "meta/llama-3"), (uid, "b")]
    assert ids(user_id=uid, since="2025-03-01T13:00:00Z", until=str(int(until.timestamp()))) == [(uid, "b")]
    assert ids(user_id=uid, since="2025-03-01T14:00:00+01:00", until="2025-03-01T14:00:00+02:00") == []
    assert ids(user_id=uid, limit=1) == [(uid, "meta/llama-3")]
    failed = client.get("/api/logs", params={"user_id": uid, "model": "meta/llama-3"}).json()["data"][0]
    assert (failed["stream"], failed["ttft_ms"], failed["status_code"], failed["outcome"], failed["error"]) == (
        True, 40, 502, "upstream_error", "bad gateway")

    assert_error(client.get("/api/logs", params={"since": "yesterday"}), 400, "invalid_request_error")
    assert_error(client.get("/api/logs", params={"limit": 0}), 400, "invalid_request_error")
    assert_error(client.get("/api/logs", params={"user_id": "me"}), 400, "invalid_request_error")


def test_logs_limits(client: httpx.Client, server: AdminServer) -> None:
    uid = _uid()
    _insert(server, [_row(uid, T0 + timedelta(seconds=i)) for i in range(1005)])
    assert len(client.get("/api/logs", params={"user_id": uid}).json()["data"]) == 100
    assert len(client.get("/api/logs", params={"user_id": uid, "limit": 5000}).json()["data"]) == 1000
    assert len(client.get("/api/logs", params={"user_id": uid, "limit": 7}).json()["data"]) == 7


def test_logs_flush_the_recorder_first(client: httpx.Client, server: AdminServer) -> None:
    rt = server.runtime
    assert rt is not None
    uid = _uid()
    rid = unique("fresh")

    async def add() -> None:
        rt.recorder.add(UsageRecord(request_id=rid, user_id=uid, key_id=None, channel_id=None,
                                    endpoint="/v1/embeddings", model="text-embedding-3-small", prompt_tokens=7))

    server.run(add())
    data = client.get("/api/logs", params={"user_id": uid}).json()["data"]
    assert [d["request_id"] for d in data] == [rid]


@pytest.fixture
def usage_rows(server: AdminServer) -> int:
    uid = _uid()
    day1, day2 = T0.replace(hour=23, minute=59), T0 + timedelta(days=1, hours=-11)  # 03-01 23:59, 03-02 01:00
    _insert(server, [
        _row(uid, day1, model="a", prompt_tokens=1, completion_tokens=2, cost=1_000_000),
        _row(uid, day1, model="b", prompt_tokens=10, completion_tokens=20, cost=1),
        _row(uid, day2, model="a", prompt_tokens=100, completion_tokens=200, cost=2_500_000),
        _row(uid + 1, day2, model="a", prompt_tokens=1000, completion_tokens=2000, cost=3_000_000),
    ])
    return uid


def _usage(client: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    resp = client.get("/api/usage", params=params)
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]


def test_usage_by_day(client: httpx.Client, usage_rows: int) -> None:
    uid = usage_rows
    assert _usage(client, group_by="day", user_id=uid) == [
        {"day": "2025-03-01", "requests": 2, "prompt_tokens": 11, "completion_tokens": 22, "cost": "1.000001"},
        {"day": "2025-03-02", "requests": 1, "prompt_tokens": 100, "completion_tokens": 200, "cost": "2.50"},
    ]
    assert _usage(client, user_id=uid, since="2025-03-02") == [
        {"day": "2025-03-02", "requests": 1, "prompt_tokens": 100, "completion_tokens": 200, "cost": "2.50"},
    ]


def test_usage_by_model_and_user(client: httpx.Client, usage_rows: int) -> None:
    uid = usage_rows
    assert _usage(client, group_by="model", user_id=uid) == [
        {"model": "a", "requests": 2, "prompt_tokens": 101, "completion_tokens": 202, "cost": "3.50"},
        {"model": "b", "requests": 1, "prompt_tokens": 10, "completion_tokens": 20, "cost": "0.000001"},
    ]
    window = {"since": "2025-03-01T00:00:00Z", "until": "2025-03-03T00:00:00Z"}
    rows = {r["user_id"]: r for r in _usage(client, group_by="user", **window)}
    assert rows[uid] == {"user_id": uid, "requests": 3, "prompt_tokens": 111, "completion_tokens": 222,
                         "cost": "3.500001"}
    assert rows[uid + 1]["cost"] == "3.00" and rows[uid + 1]["requests"] == 1
    assert _usage(client, group_by="user", user_id=uid, until="2025-03-01T00:00:00Z") == []
    assert_error(client.get("/api/usage", params={"group_by": "week"}), 400, "invalid_request_error")


def test_with_several_workers_logs_wait_for_the_other_recorders(client: httpx.Client,
                                                                server: AdminServer) -> None:
    """Another worker's recorder (simulated by a second one) flushes on its timer; logs wait for it."""
    rt = server.runtime
    assert rt is not None
    uid = _uid()
    other = UsageRecorder(rt.sessions, interval_s=rt.settings.usage_flush_interval_s)

    async def start_and_add() -> None:
        other.start()
        other.add(UsageRecord(request_id=unique("other"), user_id=uid, key_id=None, channel_id=None,
                              endpoint="/v1/chat/completions", model="m"))

    rt.settings.workers = 2
    try:
        server.run(start_and_add())
        assert len(client.get("/api/logs", params={"user_id": uid}).json()["data"]) == 1
    finally:
        rt.settings.workers = 1
        server.run(other.close())
