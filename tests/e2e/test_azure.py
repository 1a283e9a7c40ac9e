"""Azure OpenAI channels: deployment URLs, api-version, api-key header, Azure's stream quirks."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from relaygate.simulators.openai import OpenAISimulator
from tests.gateway import Gateway, unique_model

HI = [{"role": "user", "content": "hello azure"}]


@pytest.fixture(scope="module")
def azure_sim() -> Iterator[OpenAISimulator]:
    sim = OpenAISimulator(api_keys={"azure-key-1"}, mode="azure",
                          deployments={"prod-gpt4o": "gpt-4o-2024-08-06"})
    with sim.run_in_thread() as handle:
        yield handle


def test_azure_channel_relays_through_deployments(gateway: Gateway, azure_sim) -> None:  # type: ignore[no-untyped-def]
    public = unique_model("gpt-4o")
    gateway.api("POST", "/api/channels", json={
        "name": unique_model("azure"), "type": "azure", "base_url": azure_sim.base_url, "keys": ["azure-key-1"],
        "models": [], "model_mapping": {public: "prod-gpt4o"}, "config": {"api_version": "2024-10-21"}})
    gateway.price(public)
    _user, key = gateway.funded_key()
    client = gateway.client(key["key"])
    whole = client.chat.completions.create(model=public, messages=HI)
    assert whole.choices[0].message.content and whole.model == "gpt-4o-2024-08-06"
    seen = azure_sim.requests[-1]
    assert seen.path == "/openai/deployments/prod-gpt4o/chat/completions"
    assert seen.query["api-version"] == "2024-10-21"
    assert seen.headers["api-key"] == "azure-key-1" and "authorization" not in seen.headers
    # Azure opens streams with a choices-less prompt-filter chunk; text must still match
    text = "".join(c.choices[0].delta.content or "" for c in
                   client.chat.completions.create(model=public, messages=HI, stream=True) if c.choices)
    assert text == whole.choices[0].message.content
    records = gateway.logs(key_id=key["id"])
    assert [r["status_code"] for r in records] == [200, 200]
    assert records[0]["completion_tokens"] == records[1]["completion_tokens"] > 0


def test_azure_wrong_api_version_surfaces_as_upstream_error(gateway: Gateway, azure_sim) -> None:  # type: ignore[no-untyped-def]
    public = unique_model("gpt-4o")
    gateway.api("POST", "/api/channels", json={
        "name": unique_model("azure"), "type": "azure", "base_url": azure_sim.base_url, "keys": ["azure-key-1"],
        "models": [], "model_mapping": {public: "prod-gpt4o"}, "config": {"api_version": "1999-01-01"}})
    gateway.price(public)
    _user, key = gateway.funded_key()
    with pytest.raises(openai.NotFoundError):
        gateway.client(key["key"]).chat.completions.create(model=public, messages=HI)
