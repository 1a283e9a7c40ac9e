"""Legacy completions, embeddings and moderations: official SDK -> gateway -> simulated OpenAI."""

from __future__ import annotations

import base64
import struct

import bpe_openai
import httpx
import openai
import orjson
import pytest

from tests.gateway import Gateway, micro, unique_model
from tests.openapi_schemas import validate

ENC = bpe_openai.get_encoding("o200k_base")


def wire(call, **kwargs):  # type: ignore[no-untyped-def]
    raw = call(**kwargs)
    return raw.parse(), orjson.loads(raw.http_response.content), raw.headers


def token_cost(prompt: int, completion: int, rate_in: int, rate_out: int, per_request: int = 0) -> int:
    return -(-(prompt * rate_in + completion * rate_out) // 1_000_000) + per_request


@pytest.fixture()
def setup(gateway: Gateway, sim):  # type: ignore[no-untyped-def]
    completion = unique_model("gpt-3.5-turbo-instruct")
    embedding = unique_model("text-embedding-3-small")
    moderation = unique_model("omni-moderation")
    gateway.channel(sim.base_url, [completion, embedding, moderation])
    gateway.price(completion, "1.50", "2.00")
    gateway.price(embedding, "0.02", "0")
    user, key = gateway.funded_key("10.00")
    return gateway, user, key, completion, embedding, moderation


def test_completion_prompt_shapes_bill_and_schema(setup, sim) -> None:  # type: ignore[no-untyped-def]
    gw, user, key, model, _, _ = setup
    client = gw.client(key["key"])
    r, body, headers = wire(client.completions.with_raw_response.create, model=model, prompt="Say hi")
    validate("CreateCompletionResponse", body)
    assert r.choices[0].finish_reason == "length" and r.usage.completion_tokens == 16
    assert sim.requests[-1].json == {"model": model, "prompt": "Say hi"}  # passed through untouched
    many = client.completions.create(model=model, prompt=["one", "two"], n=2, max_tokens=50)
    assert [c.index for c in many.choices] == [0, 1, 2, 3]
    tokens = client.completions.create(model=model, prompt=ENC.encode_ordinary("one"), max_tokens=50)
    nested = client.completions.create(model=model, prompt=[ENC.encode_ordinary("one"), ENC.encode_ordinary("two")],
                                       max_tokens=50)
    assert tokens.choices[0].text == many.choices[0].text
    assert [c.text for c in nested.choices] == [many.choices[0].text, many.choices[2].text]
    records = gw.logs(key_id=key["id"])
    assert len(records) == 4 and {r["endpoint"] for r in records} == {"completions"}
    by_id = {rec["request_id"]: rec for rec in records}
    first = by_id[headers["x-request-id"]]
    assert (first["prompt_tokens"], first["completion_tokens"]) == (r.usage.prompt_tokens, 16)
    spent = 0
    for rec in records:
        assert rec["usage_source"] == "upstream" and rec["status_code"] == 200
        expected = token_cost(rec["prompt_tokens"], rec["completion_tokens"], 1_500_000, 2_000_000)
        assert micro(rec["cost"]) == expected
        spent += expected
    assert micro(gw.get_user(user["id"])["balance"]) == 10_000_000 - spent


def test_completion_stream_usage_only_when_asked(setup, sim) -> None:  # type: ignore[no-untyped-def]
    gw, _user, key, model, _, _ = setup
    client = gw.client(key["key"])
    whole = client.completions.create(model=model, prompt="Stream", n=2, max_tokens=10)
    chunks = list(client.completions.create(model=model, prompt="Stream", n=2, max_tokens=10, stream=True))
    assert sim.requests[-1].json["stream_options"] == {"include_usage": True}  # the bill's own count
    assert all(c.usage is None for c in chunks), "usage chunk leaked to a caller who did not ask"
    for index in (0, 1):
        assert "".join(c.choices[0].text for c in chunks if c.choices and c.choices[0].index == index) \
            == whole.choices[index].text
    for chunk in chunks:
        validate("CreateCompletionResponse", chunk.model_dump(exclude_unset=True, exclude={"usage"}),
                 allow_null={"finish_reason"})
    asked = list(client.completions.create(model=model, prompt="Stream", n=2, max_tokens=10, stream=True,
                                           stream_options={"include_usage": True}))
    assert asked[-1].choices == [] and asked[-1].usage.completion_tokens == whole.usage.completion_tokens
    raw = httpx.post(f"{gw.url}/v1/completions", headers={"Authorization": f"Bearer {key['key']}"},
                     json={"model": model, "prompt": "x", "stream": True})
    assert raw.headers["content-type"].startswith("text/event-stream") and raw.text.endswith("data: [DONE]\n\n")
    records = gw.logs(key_id=key["id"])
    streamed = [r for r in records if r["stream"]]
    assert len(streamed) == 3 and {r["usage_source"] for r in records} == {"upstream"}
    same = [r for r in records if r["completion_tokens"] == whole.usage.completion_tokens]
    assert len(same) == 3 and len({r["cost"] for r in same}) == 1, "streamed or not, the same answer costs the same"


def test_completion_without_upstream_usage_is_counted_locally(setup, sim) -> None:  # type: ignore[no-untyped-def]
    gw, _user, key, model, _, _ = setup
    sim.knobs.omit_usage = True
    client = gw.client(key["key"])
    whole = client.completions.create(model=model, prompt=["alpha", "beta"], max_tokens=8)
    texts = ["", ""]
    for chunk in client.completions.create(model=model, prompt=["alpha", "beta"], max_tokens=8, stream=True):
        for choice in chunk.choices:
            texts[choice.index] += choice.text
    assert texts == [c.text for c in whole.choices]
    text = "".join(texts)
    records = gw.logs(key_id=key["id"])
    assert len(records) == 2 and {r["usage_source"] for r in records} == {"local"}
    cl100k = bpe_openai.get_encoding("cl100k_base")  # what the gateway counts with for this model family
    for rec in records:
        assert rec["prompt_tokens"] == len(cl100k.encode_ordinary("alpha")) + len(cl100k.encode_ordinary("beta"))
        # counted on the relayed text (a stream interleaves the two choices, which may shift a token)
        assert abs(rec["completion_tokens"] - len(cl100k.encode_ordinary(text))) <= 2 and micro(rec["cost"]) > 0


def test_embeddings_formats_dimensions_and_bill(setup, sim) -> None:  # type: ignore[no-untyped-def]
    gw, user, key, _, model, _ = setup
    client = gw.client(key["key"])
    floats, body, _ = wire(client.embeddings.with_raw_response.create, model=model, input=["hello world", "bye"],
                           encoding_format="float")
    validate("CreateEmbeddingResponse", body)
    assert [len(d.embedding) for d in floats.data] == [1536, 1536]
    _, packed, _ = wire(client.embeddings.with_raw_response.create, model=model, input="hello world",
                        encoding_format="base64")
    # the spec types embedding as an array only; base64 answers are validated with the vector decoded
    validate("CreateEmbeddingResponse", {**packed, "data": [{**packed["data"][0], "embedding": [0.0]}]})
    raw = base64.b64decode(packed["data"][0]["embedding"])
    assert list(struct.unpack(f"<{len(raw) // 4}f", raw)) == floats.data[0].embedding
    decoded = client.embeddings.create(model=model, input="hello world")  # the SDK asks base64 and decodes
    assert sim.requests[-1].json["encoding_format"] == "base64"
    assert decoded.data[0].embedding == floats.data[0].embedding
    short = client.embeddings.create(model=model, input=ENC.encode_ordinary("hello world"), dimensions=256,
                                     encoding_format="float")
    assert len(short.data[0].embedding) == 256
    nested = client.embeddings.create(model=model, input=[ENC.encode_ordinary("a b"), [1, 2, 3]],
                                      encoding_format="float")
    assert len(nested.data) == 2
    records = gw.logs(key_id=key["id"])
    assert len(records) == 5 and {r["endpoint"] for r in records} == {"embeddings"}
    spent = 0
    for rec in records:
        assert rec["completion_tokens"] == 0 and rec["prompt_tokens"] > 0 and rec["usage_source"] == "upstream"
        assert micro(rec["cost"]) == token_cost(rec["prompt_tokens"], 0, 20_000, 0)
        spent += micro(rec["cost"])
    assert floats.usage.prompt_tokens in [r["prompt_tokens"] for r in records]
    assert micro(gw.get_user(user["id"])["balance"]) == 10_000_000 - spent


def test_embeddings_model_mapping_and_plain_http_base64(gateway: Gateway, sim) -> None:  # type: ignore[no-untyped-def]
    """A public name mapped to the upstream's; base64 as a plain HTTP client sees it (no SDK decoding)."""
    model = unique_model("text-embedding-3-small")
    gateway.channel(sim.base_url, [model], model_mapping={"alias-" + model: model})
    gateway.price("alias-" + model, "0.02", "0")
    _user, key = gateway.funded_key()
    client = gateway.client(key["key"])
    expected = client.embeddings.create(model="alias-" + model, input="x", encoding_format="float").data[0].embedding
    assert sim.requests[-1].json["model"] == model  # mapped for the upstream
    r = httpx.post(f"{gateway.url}/v1/embeddings", headers={"Authorization": f"Bearer {key['key']}"},
                   json={"model": "alias-" + model, "input": "x", "encoding_format": "base64"})
    encoded = r.json()["data"][0]["embedding"]
    assert isinstance(encoded, str) and list(struct.unpack(f"<{len(expected)}f", base64.b64decode(encoded))) == expected


def test_moderations_free_and_priced(setup, sim) -> None:  # type: ignore[no-untyped-def]
    gw, _user, key, _, _, model = setup
    client = gw.client(key["key"])
    r, body, _ = wire(client.moderations.with_raw_response.create, model=model,
                      input=["a calm sentence", "please flagme now"])
    validate("CreateModerationResponse", body)
    assert [res.flagged for res in r.results] == [False, True]
    _, multimodal, _ = wire(client.moderations.with_raw_response.create, model=model, input=[
        {"type": "text", "text": "look at this"},
        {"type": "image_url", "image_url": {"url": "https://example.com/flagme.png"}}])
    validate("CreateModerationResponse", multimodal)
    assert multimodal["results"][0]["categories"]["sexual"] is True
    free = gw.logs(key_id=key["id"])
    assert len(free) == 2 and all(micro(rec["cost"]) == 0 and rec["status_code"] == 200 for rec in free)
    gw.price(model, "1.00", "0", per_request="0.001")
    client.moderations.create(model=model, input="calm words here")
    [priced] = [rec for rec in gw.logs(key_id=key["id"]) if micro(rec["cost"])]
    tokens = len(ENC.encode_ordinary("calm words here"))
    assert priced["prompt_tokens"] == tokens and priced["usage_source"] == "local"
    assert micro(priced["cost"]) == token_cost(tokens, 0, 1_000_000, 0, 1000)


def test_text_endpoint_errors(setup, sim) -> None:  # type: ignore[no-untyped-def]
    gw, _user, key, completion, embedding, _ = setup
    client = gw.client(key["key"])
    with pytest.raises(openai.NotFoundError) as unknown:
        client.embeddings.create(model="no-such-model", input="x")
    assert unknown.value.code == "model_not_found"
    unpriced = unique_model("text-embedding-3-small")
    gw.channel(sim.base_url, [unpriced])
    with pytest.raises(openai.PermissionDeniedError) as not_priced:
        client.embeddings.create(model=unpriced, input="x")
    assert not_priced.value.code == "model_not_priced"
    auth = {"Authorization": f"Bearer {key['key']}"}
    for path, body, param in [("/v1/embeddings", {"model": embedding}, "input"),
                              ("/v1/embeddings", {"model": embedding, "input": {"a": 1}}, "input"),
                              ("/v1/embeddings", {"model": embedding, "input": "x", "encoding_format": "hex"},
                               "encoding_format"),
                              ("/v1/completions", {"model": completion, "prompt": "x", "max_tokens": "many"},
                               "max_tokens"),
                              ("/v1/completions", {"prompt": "x"}, "model")]:
        r = httpx.post(gw.url + path, headers=auth, json=body)
        assert r.status_code == 400 and r.json()["error"]["param"] == param, r.text
        validate("ErrorResponse", r.json())
    r = httpx.post(f"{gw.url}/v1/embeddings", headers=auth, content=b"{not json")
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"
    assert httpx.get(f"{gw.url}/v1/embeddings", headers=auth).status_code == 405
    chatty = unique_model("chatty")
    gw.channel(sim.base_url, [], model_mapping={chatty: "gpt-4o"})
    gw.price(chatty, "1.00", "1.00")
    with pytest.raises(openai.NotFoundError, match="This is a chat model"):  # the upstream's own error, passed on
        client.completions.create(model=chatty, prompt="x")
    assert sim.requests[-1].json["model"] == "gpt-4o"


def test_failover_to_the_next_channel(gateway: Gateway, sim, sim2) -> None:  # type: ignore[no-untyped-def]
    model = unique_model("text-embedding-3-small")
    first = gateway.channel(sim.base_url, [model], priority=10)
    second = gateway.channel(sim2.base_url, [model])
    gateway.price(model, "0.02", "0")
    _user, key = gateway.funded_key()
    sim.knobs.fail_next, sim.knobs.fail_status = 1, 503
    assert gateway.client(key["key"]).embeddings.create(model=model, input="x", encoding_format="float").data
    [rec] = gateway.logs(key_id=key["id"])
    assert rec["tries"] == 2 and rec["channel_id"] == second["id"] != first["id"] and rec["status_code"] == 200


_FAULT_CALLS = {  # endpoint: (model family, request body beyond the model)
    "embeddings": ("text-embedding-3-small", {"input": "x"}),
    "completions": ("gpt-3.5-turbo-instruct", {"prompt": "x", "max_tokens": 5}),
    "moderations": ("omni-moderation-latest", {"input": "x"}),
}


@pytest.mark.parametrize("client", ["h1", "aiohttp"])
@pytest.mark.parametrize("endpoint", sorted(_FAULT_CALLS))
@pytest.mark.parametrize("fault", ["refused", "timeout", "429"])
def test_upstream_faults_reach_the_caller_clearly_and_cost_nothing(request: pytest.FixtureRequest, gateway: Gateway,  # type: ignore[no-untyped-def]
                                                                  sim, client: str, endpoint: str, fault: str) -> None:
    """Through both upstream clients (RELAYGATE_UPSTREAM_CLIENT), as chat's faults are in tests/faults."""
    from tests.services import free_port

    if client == "aiohttp":
        gateway = request.getfixturevalue("aiohttp_gateway")
    family, body = _FAULT_CALLS[endpoint]
    model = unique_model(family)
    url = f"http://127.0.0.1:{free_port()}/v1" if fault == "refused" else sim.base_url  # nothing listens there
    gateway.channel(url, [model], timeout_s=0.5)
    gateway.price(model, "0.02", "0")
    user, key = gateway.funded_key("1.00")
    if fault == "timeout":
        sim.knobs.hang = True
    elif fault == "429":
        sim.knobs.fail_next, sim.knobs.fail_status, sim.knobs.retry_after = 5, 429, 7
    r = httpx.post(f"{gateway.url}/v1/{endpoint}", headers={"Authorization": f"Bearer {key['key']}"},
                   json={"model": model, **body}, timeout=30)
    expected = {"refused": (502, "upstream_unreachable"), "timeout": (504, "upstream_timeout"),
                "429": (429, None)}[fault]
    assert r.status_code == expected[0], r.text
    if expected[1] is not None:
        assert r.json()["error"]["code"] == expected[1]
    else:
        assert r.headers["retry-after"] == "7"
    validate("ErrorResponse", r.json())
    [rec] = gateway.logs(key_id=key["id"])
    assert rec["status_code"] == expected[0] and micro(rec["cost"]) == 0
    assert micro(gateway.get_user(user["id"])["balance"]) == 1_000_000
