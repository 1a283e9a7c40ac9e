"""Images (generations, edits, variations) through the gateway to the simulated OpenAI, priced per image."""

from __future__ import annotations

import base64

import httpx
import openai
import orjson
import pytest

from relaygate.simulators.common import png
from tests.gateway import Gateway, micro, unique_model
from tests.openapi_schemas import validate


def wire(call, **kwargs):  # type: ignore[no-untyped-def]
    raw = call(**kwargs)
    return raw.parse(), orjson.loads(raw.http_response.content)


def size_of(data: bytes) -> tuple[int, int]:
    meta = png.info(data)
    assert meta is not None, "not a PNG"
    return meta.width, meta.height


@pytest.fixture()
def priced(gateway: Gateway, sim):  # type: ignore[no-untyped-def]
    """Public names mapped to the simulator's real ones, priced per image by size and quality."""
    names = {name: unique_model(name) for name in ("dall-e-2", "dall-e-3", "gpt-image-1")}
    gateway.channel(sim.base_url, [], model_mapping={public: real for real, public in names.items()})
    gateway.price(names["dall-e-2"], "0", "0", per_image="0.02", image_prices={"256x256": "0.016", "512x512": "0.018"})
    gateway.price(names["dall-e-3"], "0", "0", per_image="0.04", image_prices={"1792x1024/hd": "0.12"},
                  per_request="0.001")
    gateway.price(names["gpt-image-1"], "5.00", "40.00")  # no per-image price: billed on token usage
    user, key = gateway.funded_key("10.00")
    return gateway, user, key, names


def test_generation_urls_and_per_image_bill(priced, sim) -> None:  # type: ignore[no-untyped-def]
    gw, user, key, names = priced
    client = gw.client(key["key"])
    r, body = wire(client.images.with_raw_response.generate, model=names["dall-e-2"], prompt="a lighthouse",
                   size="256x256", n=2)
    validate("ImagesResponse", body)
    assert len(r.data) == 2 and all(size_of(httpx.get(d.url).content) == (256, 256) for d in r.data)
    assert sim.requests[-1].json["model"] == "dall-e-2"
    hd, body = wire(client.images.with_raw_response.generate, model=names["dall-e-3"], prompt="a cat",
                    size="1792x1024", quality="hd", response_format="b64_json")
    validate("ImagesResponse", body)
    assert size_of(base64.b64decode(hd.data[0].b64_json)) == (1792, 1024)
    client.images.generate(model=names["dall-e-3"], prompt="a dog", response_format="b64_json")  # 1024x1024
    costs = sorted(micro(rec["cost"]) for rec in gw.logs(key_id=key["id"]))
    assert costs == [2 * 16_000, 40_000 + 1000, 120_000 + 1000]
    records = gw.logs(key_id=key["id"])
    assert sorted(rec["completion_tokens"] for rec in records) == [1, 1, 2]  # images
    assert {rec["endpoint"] for rec in records} == {"images.generations"}
    assert micro(gw.get_user(user["id"])["balance"]) == 10_000_000 - sum(costs)
    stored = gw.api("GET", f"/api/prices/{names['dall-e-3']}")
    assert (stored["per_image"], stored["image_prices"], stored["per_second"]) == ("0.04", {"1792x1024/hd": "0.12"},
                                                                                   None)


def test_gpt_image_billed_on_tokens(priced) -> None:  # type: ignore[no-untyped-def]
    gw, _user, key, names = priced
    g, body = wire(gw.client(key["key"]).images.with_raw_response.generate, model=names["gpt-image-1"],
                   prompt="a dog", size="1536x1024", quality="low")
    validate("ImagesResponse", body)
    [rec] = gw.logs(key_id=key["id"])
    assert (rec["prompt_tokens"], rec["completion_tokens"]) == (g.usage.input_tokens, g.usage.output_tokens)
    assert micro(rec["cost"]) == -(-(g.usage.input_tokens * 5_000_000 + g.usage.output_tokens * 40_000_000)
                                   // 1_000_000)


def test_edits_multipart_with_mask_and_several_images(priced, sim) -> None:  # type: ignore[no-untyped-def]
    gw, _user, key, names = priced
    client = gw.client(key["key"])
    rgba = png.render(256, 256, b"source", alpha=True)
    rgb = png.render(256, 256, b"source")
    r, body = wire(client.images.with_raw_response.edit, model=names["dall-e-2"], image=("in.png", rgb, "image/png"),
                   mask=("m.png", rgba, "image/png"), prompt="add a hat", n=2, size="512x512",
                   response_format="b64_json")
    validate("ImagesResponse", body)
    assert [size_of(base64.b64decode(d.b64_json)) for d in r.data] == [(512, 512), (512, 512)]
    form = sim.requests[-1].form
    assert form["fields"] == {"model": "dall-e-2", "prompt": "add a hat", "n": "2", "size": "512x512",
                              "response_format": "b64_json"}
    assert [(f["field"], f["filename"], f["size"]) for f in form["files"]] == [("image", "in.png", len(rgb)),
                                                                               ("mask", "m.png", len(rgba))]
    many = [("a.png", png.render(64, 64, b"a")), ("b.png", png.render(64, 64, b"b"))]
    g, body = wire(client.images.with_raw_response.edit, model=names["gpt-image-1"], image=many, prompt="merge")
    validate("ImagesResponse", body)
    assert g.usage.input_tokens_details.image_tokens == 2 * 323
    assert [f["filename"] for f in sim.requests[-1].form["files"]] == ["a.png", "b.png"]
    with pytest.raises(openai.BadRequestError, match="got RGB"):  # the upstream's own check, passed on
        client.images.edit(model=names["dall-e-2"], image=("in.png", rgb), prompt="no mask, no alpha")
    records = gw.logs(key_id=key["id"])
    by_endpoint = sorted((rec["endpoint"], micro(rec["cost"])) for rec in records)
    assert by_endpoint[0] == ("images.edits", 0) and ("images.edits", 2 * 18_000) in by_endpoint


@pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")
def test_variations(priced) -> None:  # type: ignore[no-untyped-def]
    gw, _user, key, names = priced
    square = png.render(128, 128, b"var")
    r, body = wire(gw.client(key["key"]).images.with_raw_response.create_variation, model=names["dall-e-2"],
                   image=("v.png", square), n=3, size="256x256", response_format="b64_json")
    validate("ImagesResponse", body)
    assert len({d.b64_json for d in r.data}) == 3
    [rec] = gw.logs(key_id=key["id"])
    assert rec["endpoint"] == "images.variations" and micro(rec["cost"]) == 3 * 16_000


def test_image_request_errors(priced, sim) -> None:  # type: ignore[no-untyped-def]
    gw, _user, key, names = priced
    client = gw.client(key["key"])
    auth = {"Authorization": f"Bearer {key['key']}"}
    for body, param in [({"model": names["dall-e-2"]}, "prompt"),
                        ({"model": names["dall-e-2"], "prompt": "x", "n": 11}, "n"),
                        ({"model": names["dall-e-2"], "prompt": "x", "response_format": "gif"}, "response_format")]:
        r = httpx.post(f"{gw.url}/v1/images/generations", headers=auth, json=body)
        assert r.status_code == 400 and r.json()["error"]["param"] == param
        validate("ErrorResponse", r.json())
    r = httpx.post(f"{gw.url}/v1/images/variations", headers=auth, data={"model": names["dall-e-2"]},
                   files={"other": ("x.png", b"123")})
    assert r.status_code == 400 and r.json()["error"]["param"] == "image"
    r = httpx.post(f"{gw.url}/v1/images/variations", headers=auth, json={"model": names["dall-e-2"]})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_content_type"
    r = httpx.post(f"{gw.url}/v1/images/edits", headers={**auth, "Content-Type": "multipart/form-data; boundary=zz"},
                   content=b"--zz\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\nunterminated")
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_multipart"
    with pytest.raises(openai.BadRequestError) as policy:
        client.images.generate(model=names["dall-e-2"], prompt="please flagme")
    assert policy.value.code == "content_policy_violation"
    assert all(micro(rec["cost"]) == 0 for rec in gw.logs(key_id=key["id"]))


@pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")
def test_upload_over_the_limit_is_413(tmp_path, fresh_database_url: str, sim) -> None:  # type: ignore[no-untyped-def]
    gw = Gateway(tmp_path / "gw", fresh_database_url, max_upload_bytes=100_000).start()
    try:
        model = unique_model("dall-e-2")
        gw.channel(sim.base_url, [], model_mapping={model: "dall-e-2"})
        gw.price(model, "0", "0", per_image="0.02")
        _user, key = gw.funded_key()
        client = gw.client(key["key"])
        small = png.render(64, 64, b"ok")
        assert client.images.create_variation(model=model, image=("s.png", small), response_format="b64_json").data
        seen = len(sim.requests)
        big = small + b"\0" * 300_000
        with pytest.raises(openai.APIStatusError) as too_big:
            client.images.create_variation(model=model, image=("b.png", big))
        assert too_big.value.status_code == 413 and too_big.value.code == "request_too_large"
        assert "100000 bytes" in too_big.value.message and len(sim.requests) == seen  # never reached the upstream
        # without a Content-Length (chunked upload): refused as soon as the limit is passed
        chunks = iter([b"--b\r\nContent-Disposition: form-data; name=\"image\"; filename=\"x.png\"\r\n\r\n",
                       *[b"\0" * 50_000] * 4, b"\r\n--b--\r\n"])
        r = httpx.post(f"{gw.url}/v1/images/variations", content=chunks,
                       headers={"Authorization": f"Bearer {key['key']}",
                                "Content-Type": "multipart/form-data; boundary=b"})
        assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"
        assert client.images.create_variation(model=model, image=("s.png", small), response_format="b64_json").data
    finally:
        assert gw.stop() == 0, gw.log()
