"""Channel presets (a key is enough for deepseek, qwen, baidu...) and per-character prices."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from relaygate.providers.presets import OPENAI_COMPATIBLE, PRESETS
from relaygate.providers.registry import CHANNEL_TYPES, adapter_for

from .helpers import AdminServer, assert_error, unique


def _create(client: httpx.Client, **fields: Any) -> httpx.Response:
    return client.post("/api/channels", json={"name": unique("ch"), "keys": ["sk-preset-0123456789abcdef"], **fields})


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_is_a_channel_type_with_its_defaults(client: httpx.Client, server: AdminServer,
                                                          preset: str) -> None:
    resp = _create(client, type=preset)
    assert resp.status_code == 201, resp.text
    ch = resp.json()
    assert ch["type"] == preset
    assert ch["base_url"] == PRESETS[preset].base_url
    assert ch["models"] == list(PRESETS[preset].models)
    snap = server.runtime.snapshot.channels[ch["id"]]  # type: ignore[union-attr]
    assert snap.base_url == PRESETS[preset].base_url


def test_openai_compatible_presets_share_the_openai_adapter() -> None:
    assert {"deepseek", "moonshot", "qwen", "doubao", "minimax", "01ai", "baichuan", "siliconflow", "openrouter",
            "groq", "mistral", "ollama", "vllm", "baidu-v2", "spark-http"} <= OPENAI_COMPATIBLE
    for name in OPENAI_COMPATIBLE:
        assert name in CHANNEL_TYPES
        assert adapter_for(name) is adapter_for("openai")


def test_explicit_values_win_over_the_preset(client: httpx.Client) -> None:
    resp = _create(client, type="deepseek", base_url="https://proxy.example/deepseek/v1", models=["deepseek-chat"])
    assert resp.status_code == 201, resp.text
    ch = resp.json()
    assert ch["base_url"] == "https://proxy.example/deepseek/v1" and ch["models"] == ["deepseek-chat"]
    empty = _create(client, type="qwen", models=[]).json()  # an explicit empty list stays empty
    assert empty["models"] == [] and empty["base_url"] == PRESETS["qwen"].base_url


def test_types_without_a_preset_still_need_a_base_url(client: httpx.Client) -> None:
    err = assert_error(_create(client, type="openai"), 400, "invalid_request_error")
    assert err["param"] == "base_url" and "base_url" in err["message"]
    err = assert_error(_create(client, type="no-such-provider"), 400, "invalid_request_error")
    assert err["param"] == "type"


def test_per_character_price_round_trip(client: httpx.Client, server: AdminServer) -> None:
    model = unique("deepl")
    price = client.put(f"/api/prices/{model}", json={"per_character": "20.00"}).json()
    assert price["per_character"] == "20.00" and price["input"] == "0.00"
    assert client.get(f"/api/prices/{model}").json() == price
    snap = server.runtime.snapshot.prices[model]  # type: ignore[union-attr]
    assert snap.per_character == 20_000_000
    cleared = client.put(f"/api/prices/{model}", json={"input": "1"}).json()
    assert cleared["per_character"] is None
    assert server.runtime.snapshot.prices[model].per_character is None  # type: ignore[union-attr]
    assert_error(client.put(f"/api/prices/{model}", json={"per_character": "-1"}), 400, "invalid_request_error")
