"""Prices: upsert by model name (slashes and colons included), exact money, snapshot reload."""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest

from .helpers import AdminServer, assert_error, unique


@pytest.mark.parametrize("model", ["gpt-4o-mini", "meta/llama-3", "ft:gpt-4o:org::id",
                                   "accounts/fireworks/models/llama-v3p1-8b-instruct", "claude-3.5:beta@2024"])
def test_price_crud_with_awkward_names(client: httpx.Client, server: AdminServer, model: str) -> None:
    resp = client.put(f"/api/prices/{model}", json={"input": "0.15", "output": "0.60"})
    assert resp.status_code == 200, resp.text
    price = resp.json()
    assert price["model"] == model
    assert (price["input"], price["output"], price["per_request"]) == ("0.15", "0.60", "0.00")
    assert price["cache_read"] is None and price["cache_write"] is None and price["max_output_tokens"] is None
    assert client.get(f"/api/prices/{model}").json() == price
    assert client.get(f"/api/prices/{quote(model, safe='')}").json()["model"] == model
    assert model in [p["model"] for p in client.get("/api/prices").json()["data"]]
    snap = server.runtime.snapshot.prices[model]  # type: ignore[union-attr]
    assert (snap.input, snap.output) == (150_000, 600_000)

    assert client.delete(f"/api/prices/{model}").status_code == 204
    assert_error(client.get(f"/api/prices/{model}"), 404, "not_found_error")
    assert_error(client.delete(f"/api/prices/{model}"), 404, "not_found_error")
    assert model not in server.runtime.snapshot.prices  # type: ignore[union-attr]


def test_put_replaces_the_whole_price(client: httpx.Client, server: AdminServer) -> None:
    model = unique("model")
    full = client.put(f"/api/prices/{model}", json={"input": "2.5", "output": "10", "per_request": "0.000001",
                                                    "cache_read": "1.25", "cache_write": "3.125",
                                                    "max_output_tokens": 16384}).json()
    assert full["input"] == "2.50" and full["output"] == "10.00" and full["per_request"] == "0.000001"
    assert full["cache_read"] == "1.25" and full["cache_write"] == "3.125"
    assert full["max_output_tokens"] == 16384
    snap = server.runtime.snapshot.prices[model]  # type: ignore[union-attr]
    assert (snap.per_request, snap.cache_read, snap.cache_write) == (1, 1_250_000, 3_125_000)

    slim = client.put(f"/api/prices/{model}", json={"input": "1", "output": "2"}).json()
    assert slim["cache_read"] is None and slim["per_request"] == "0.00" and slim["max_output_tokens"] is None
    assert [p["model"] for p in client.get("/api/prices").json()["data"]].count(model) == 1


@pytest.mark.parametrize("body", [{"input": "cheap"}, {"input": "-1"}, {"output": None},
                                  {"max_output_tokens": 0}, {"max_output_tokens": "many"}, {"inputs": "1"},
                                  {"input": [1]}])
def test_price_validation(client: httpx.Client, body: dict) -> None:
    assert_error(client.put("/api/prices/gpt-x", json=body), 400, "invalid_request_error")


def test_over_long_model_name(client: httpx.Client) -> None:
    assert_error(client.put(f"/api/prices/{'m' * 192}", json={"input": "1"}), 400, "invalid_request_error")
