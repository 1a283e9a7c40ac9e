"""OpenAI-compatible presets: a channel from a type and a key, relayed by the one openai adapter."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import orjson
import pytest
from aiohttp import web

from relaygate.providers.presets import PRESETS
from relaygate.simulators.anthropic.runner import BaseKnobs, SimState, SimulatorBase, json_response, new_app
from tests.conftest import SIM_KEY
from tests.gateway import Gateway, micro, unique_model

REASONING = "The user greets me; I should greet back."
ANSWER = "Hello! How can I help?"
USAGE = {"prompt_tokens": 12, "completion_tokens": 30, "total_tokens": 42, "prompt_cache_hit_tokens": 8,
         "prompt_cache_miss_tokens": 4, "completion_tokens_details": {"reasoning_tokens": 20}}


class ReasonerUpstream(SimulatorBase):
    """A deepseek-reasoner look-alike for this file: ``reasoning_content`` before ``content``, DeepSeek's
    extra usage fields, and no key check at all (a local Ollama/vLLM is just as open)."""

    def __init__(self) -> None:
        super().__init__(SimState(api_keys=None, models=None, knobs=BaseKnobs()))

    def _create_app(self, state: SimState) -> web.Application:
        app = new_app(state)
        app.router.add_post("/v1/chat/completions", self._chat)
        return app

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = orjson.loads(await request.read())
        head = {"id": "ds-1", "created": int(time.time()), "model": body["model"], "system_fingerprint": "fp_ds"}
        if not body.get("stream"):
            return json_response(200, {**head, "object": "chat.completion", "usage": USAGE, "choices": [
                {"index": 0, "finish_reason": "stop", "logprobs": None,
                 "message": {"role": "assistant", "content": ANSWER, "reasoning_content": REASONING}}]})
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        deltas = [{"role": "assistant", "content": None, "reasoning_content": ""},
                  *({"reasoning_content": w} for w in re.findall(r"\S+\s*", REASONING)),
                  *({"content": w} for w in re.findall(r"\S+\s*", ANSWER))]
        for delta in deltas:
            chunk = {**head, "object": "chat.completion.chunk",
                     "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}]}
            await response.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
        last = {**head, "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}]}
        await response.write(b"data: " + orjson.dumps(last) + b"\n\n")
        if (body.get("stream_options") or {}).get("include_usage"):
            usage = {**head, "object": "chat.completion.chunk", "choices": [], "usage": USAGE}
            await response.write(b"data: " + orjson.dumps(usage) + b"\n\n")
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response


@pytest.fixture(scope="module")
def reasoner() -> Iterator[ReasonerUpstream]:
    with ReasonerUpstream().run_in_thread() as handle:
        yield handle


@pytest.fixture(autouse=True)
def _reset_reasoner(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "reasoner" in request.fixturenames:
        request.getfixturevalue("reasoner").reset()


def _preset_channel(gw: Gateway, preset: str, upstream_url: str, keys: list[str], model: str) -> dict:
    """What an operator does: the type and a key; then (for the test) point it at the local upstream."""
    created = gw.api("POST", "/api/channels", json={"name": unique_model(preset), "type": preset, "keys": keys})
    assert created["base_url"] == PRESETS[preset].base_url and created["models"] == list(PRESETS[preset].models)
    return gw.api("PATCH", f"/api/channels/{created['id']}", json={"base_url": upstream_url, "models": [model]})


def test_deepseek_reasoning_content_passes_through(gateway: Gateway, reasoner) -> None:  # type: ignore[no-untyped-def]
    model = unique_model("deepseek-reasoner")
    _preset_channel(gateway, "deepseek", reasoner.base_url + "/v1", ["sk-deepseek-1"], model)
    gateway.price(model, "0.55", "2.19")
    user, key = gateway.funded_key("1.00")
    client = gateway.client(key["key"])
    reply = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
    message = reply.choices[0].message
    assert message.content == ANSWER and message.model_extra["reasoning_content"] == REASONING
    assert reply.usage.model_extra["prompt_cache_hit_tokens"] == 8  # DeepSeek's own fields, untouched
    assert reasoner.requests[-1].headers["authorization"] == "Bearer sk-deepseek-1"
    text, reasoning, usage = "", "", None
    for chunk in client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}],
                                                stream=True, stream_options={"include_usage": True}):
        usage = chunk.usage or usage
        for choice in chunk.choices:
            text += choice.delta.content or ""
            reasoning += (choice.delta.model_extra or {}).get("reasoning_content") or ""
    assert (text, reasoning) == (ANSWER, REASONING) and usage.completion_tokens == 30
    records = gateway.logs(key_id=key["id"])
    expected = -(-(12 * 550_000 + 30 * 2_190_000) // 1_000_000)
    assert [micro(r["cost"]) for r in records] == [expected, expected]
    assert micro(gateway.get_user(user["id"])["balance"]) == 1_000_000 - 2 * expected


def test_local_presets_need_no_key(gateway: Gateway, reasoner) -> None:  # type: ignore[no-untyped-def]
    model = unique_model("llama3.1")
    _preset_channel(gateway, "ollama", reasoner.base_url + "/v1", [], model)
    gateway.price(model, "0", "0")
    _user, key = gateway.funded_key("1.00")
    reply = gateway.client(key["key"]).chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}])
    assert reply.choices[0].message.content == ANSWER
    assert "authorization" not in reasoner.requests[-1].headers


@pytest.mark.parametrize("preset", ["moonshot", "qwen", "doubao", "minimax", "01ai", "baichuan", "siliconflow",
                                    "openrouter", "groq", "mistral", "vllm", "baidu-v2", "spark-http"])
def test_each_openai_compatible_preset_relays(gateway: Gateway, sim, preset: str) -> None:  # type: ignore[no-untyped-def]
    model = unique_model(preset)
    _preset_channel(gateway, preset, sim.base_url, [SIM_KEY], model)
    gateway.price(model, "1.00", "2.00")
    _user, key = gateway.funded_key("1.00")
    client = gateway.client(key["key"])
    whole = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hello"}])
    streamed = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "hello"}], stream=True) if c.choices)
    assert whole.choices[0].message.content == streamed
    assert sim.requests[-1].path == "/v1/chat/completions"
    assert sim.requests[-1].headers["authorization"] == f"Bearer {SIM_KEY}"
    assert all(r["usage_source"] == "upstream" and micro(r["cost"]) > 0 for r in gateway.logs(key_id=key["id"]))
