"""Stable Diffusion channels (Stability REST, AUTOMATIC1111) behind OpenAI's /v1/images/generations."""

from __future__ import annotations

import base64
import json

import httpx
import openai
import orjson
import pytest

from relaygate.simulators.common import png
from tests.conftest import SDWEBUI_AUTH, STABILITY_KEY
from tests.gateway import Gateway, micro, unique_model
from tests.openapi_schemas import validate

SDXL = "stable-diffusion-xl-1024-v1-0"


def size_of(b64: str) -> tuple[int, int]:
    meta = png.info(base64.b64decode(b64))
    assert meta is not None
    return meta.width, meta.height


def generate(client: openai.OpenAI, **kwargs):  # type: ignore[no-untyped-def]
    raw = client.images.with_raw_response.generate(**kwargs)
    body = orjson.loads(raw.http_response.content)
    validate("ImagesResponse", body)
    return raw.parse()


@pytest.fixture()
def stability(gateway: Gateway, stability_sim):  # type: ignore[no-untyped-def]
    sdxl, core = unique_model("sdxl"), unique_model("sd-core")
    channel = gateway.channel(stability_sim.base_url, [], keys=[STABILITY_KEY], type="stability",
                              model_mapping={sdxl: SDXL, core: "core"})
    gateway.price(sdxl, "0", "0", per_image="0.01")
    gateway.price(core, "0", "0", per_image="0.03")
    user, key = gateway.funded_key("1.00")
    return gateway, user, key, sdxl, core, channel


def test_stability_v1_prompt_size_n_negative_seed(stability, stability_sim) -> None:  # type: ignore[no-untyped-def]
    gw, user, key, sdxl, _, channel = stability
    r = generate(gw.client(key["key"]), model=sdxl, prompt="a lighthouse", n=2, size="1792x1024",
                 response_format="b64_json", extra_body={"negative_prompt": "blurry", "seed": 1234, "cfg_scale": 9})
    assert len(r.data) == 2 and all(size_of(d.b64_json) == (1344, 768) for d in r.data)  # SDXL's nearest size
    assert r.data[0].b64_json != r.data[1].b64_json
    seen = stability_sim.requests[-1]
    assert seen.path == f"/v1/generation/{SDXL}/text-to-image"
    assert seen.headers["authorization"] == f"Bearer {STABILITY_KEY}"
    assert seen.json == {"text_prompts": [{"text": "a lighthouse", "weight": 1}, {"text": "blurry", "weight": -1}],
                         "samples": 2, "width": 1344, "height": 768, "seed": 1234, "cfg_scale": 9}
    [rec] = gw.logs(key_id=key["id"])
    assert rec["channel_id"] == channel["id"] and rec["completion_tokens"] == 2 and micro(rec["cost"]) == 20_000
    assert micro(gw.get_user(user["id"])["balance"]) == 1_000_000 - 20_000


def test_stability_urls_served_by_the_gateway(stability) -> None:  # type: ignore[no-untyped-def]
    gw, _user, key, sdxl, _, _ = stability
    r = generate(gw.client(key["key"]), model=sdxl, prompt="a fox", response_format="url")
    url = r.data[0].url
    assert url.startswith(f"{gw.url}/v1/images/files/") and url.endswith(".png")
    picture = httpx.get(url)  # no key needed: the 128-bit name is the capability
    assert picture.status_code == 200 and picture.headers["content-type"] == "image/png"
    assert png.info(picture.content).width == 1024
    stored = list((gw.data_dir / "images").glob("*.png"))
    assert url.rsplit("/", 1)[1] in {p.name for p in stored}
    other = url[:-5] + ("1" if url[-5] == "0" else "0") + ".png"  # a well-formed name that was never issued
    for bad in (other, f"{gw.url}/v1/images/files/..%2Frelaygate.db", f"{gw.url}/v1/images/files/x"):
        missing = httpx.get(bad)
        assert missing.status_code == 404 and missing.json()["error"]["message"]
    default = generate(gw.client(key["key"]), model=sdxl, prompt="a fox")  # OpenAI's default format is url
    assert default.data[0].url.startswith(gw.url)


def test_stability_v2beta_core_one_call_per_image(stability, stability_sim) -> None:  # type: ignore[no-untyped-def]
    gw, _user, key, _, core, _ = stability
    r = generate(gw.client(key["key"]), model=core, prompt="a castle", n=2, size="1792x1024",
                 response_format="b64_json", extra_body={"negative_prompt": "fog", "seed": 7})
    assert [size_of(d.b64_json) for d in r.data] == [(1344, 768), (1344, 768)]
    calls = [q for q in stability_sim.requests if q.path == "/v2beta/stable-image/generate/core"]
    assert len(calls) == 2
    assert sorted(c.form["fields"]["seed"] for c in calls) == ["7", "8"]
    assert {c.form["fields"]["aspect_ratio"] for c in calls} == {"16:9"}
    assert {c.form["fields"]["negative_prompt"] for c in calls} == {"fog"}
    assert micro(gw.logs(key_id=key["id"])[0]["cost"]) == 2 * 30_000


def test_stability_content_filter_and_errors(stability, stability_sim) -> None:  # type: ignore[no-untyped-def]
    gw, _user, key, sdxl, _, _ = stability
    client = gw.client(key["key"])
    with pytest.raises(openai.BadRequestError) as blocked:
        client.images.generate(model=sdxl, prompt="please flagme", response_format="b64_json")
    assert blocked.value.code == "content_policy_violation"
    stability_sim.knobs.fail_next, stability_sim.knobs.fail_status = 1, 500
    with pytest.raises(openai.InternalServerError):  # one channel only: nothing to fail over to
        client.images.generate(model=sdxl, prompt="a fox", response_format="b64_json")
    with pytest.raises(openai.BadRequestError) as chat:  # an image-only channel carries no chat
        client.chat.completions.create(model=sdxl, messages=[{"role": "user", "content": "hi"}])
    assert chat.value.code == "unsupported_channel"
    with pytest.raises(openai.BadRequestError) as other:
        client.embeddings.create(model=sdxl, input="x")
    assert other.value.code == "unsupported_model"
    assert all(micro(rec["cost"]) == 0 for rec in gw.logs(key_id=key["id"]))


def test_sdwebui_batch_extras_and_auth(gateway: Gateway, sdwebui_sim) -> None:  # type: ignore[no-untyped-def]
    model = unique_model("sd15")
    gateway.channel(sdwebui_sim.base_url, [], keys=[":".join(SDWEBUI_AUTH)], type="sd-webui",
                    model_mapping={model: "v1-5-pruned-emaonly.safetensors"})
    gateway.price(model, "0", "0", per_image="0.002", image_prices={"512x384/hd": "0.005"})
    _user, key = gateway.funded_key()
    client = gateway.client(key["key"])
    r = generate(client, model=model, prompt="a castle", n=3, size="512x384", quality="hd",
                 response_format="b64_json",
                 extra_body={"negative_prompt": "blurry", "seed": 42, "sampler_name": "Euler a", "cfg_scale": 5})
    assert len(r.data) == 3 and all(size_of(d.b64_json) == (512, 384) for d in r.data)
    body = sdwebui_sim.requests[-1].json
    assert body["prompt"] == "a castle" and body["negative_prompt"] == "blurry" and body["seed"] == 42
    assert (body["batch_size"], body["n_iter"], body["steps"], body["width"], body["height"]) == (3, 1, 40, 512, 384)
    assert body["sampler_name"] == "Euler a" and body["cfg_scale"] == 5 and body["do_not_save_grid"] is True
    assert body["override_settings"] == {"sd_model_checkpoint": "v1-5-pruned-emaonly.safetensors"}
    assert sdwebui_sim.requests[-1].headers["authorization"].startswith("Basic ")
    [rec] = gateway.logs(key_id=key["id"])
    assert micro(rec["cost"]) == 3 * 5000 and rec["completion_tokens"] == 3
    with pytest.raises(openai.BadRequestError, match="Sampler not found"):
        client.images.generate(model=model, prompt="x", extra_body={"sampler_name": "Fancy"})


def test_sdwebui_wrong_credentials_fail_over_to_stability(gateway: Gateway, sdwebui_sim,  # type: ignore[no-untyped-def]
                                                          stability_sim) -> None:
    model = unique_model("sd")
    broken = gateway.channel(sdwebui_sim.base_url, [model], keys=["webui:wrong"], type="sd-webui", priority=5,
                             config={"override_checkpoint": False})
    backup = gateway.channel(stability_sim.base_url, [], keys=[STABILITY_KEY], type="stability",
                             model_mapping={model: "stable-diffusion-v1-6"})
    gateway.price(model, "0", "0", per_image="0.01")
    _user, key = gateway.funded_key()
    r = generate(gateway.client(key["key"]), model=model, prompt="a fox", size="512x512", response_format="b64_json")
    assert size_of(r.data[0].b64_json) == (512, 512)
    assert "override_settings" not in sdwebui_sim.requests[-1].json
    [rec] = gateway.logs(key_id=key["id"])
    assert rec["tries"] == 2 and rec["channel_id"] == backup["id"] != broken["id"]
    info = json.loads(json.dumps(gateway.api("GET", f"/api/channels/{broken['id']}")))
    assert info["type"] == "sd-webui"


def test_the_channel_test_asks_image_channels_a_free_question(gateway: Gateway, stability_sim,  # type: ignore[no-untyped-def]
                                                             sdwebui_sim) -> None:
    good = gateway.channel(stability_sim.base_url, [unique_model("sd")], keys=[STABILITY_KEY], type="stability")
    bad = gateway.channel(stability_sim.base_url, [unique_model("sd")], keys=["sk-wrong"], type="stability")
    webui = gateway.channel(sdwebui_sim.base_url, [unique_model("sd")], keys=[":".join(SDWEBUI_AUTH)],
                            type="sd-webui")
    ok = gateway.api("POST", f"/api/channels/{good['id']}/test")
    assert ok["ok"] is True and ok["status_code"] == 200 and ok["error"] is None
    seen = stability_sim.requests[-1]
    assert (seen.method, seen.path) == ("GET", "/v1/engines/list")  # nothing generated, nothing billed upstream
    refused = gateway.api("POST", f"/api/channels/{bad['id']}/test")
    assert refused["ok"] is False and refused["status_code"] == 401 and refused["error"]
    assert gateway.api("POST", f"/api/channels/{webui['id']}/test")["ok"] is True
    seen = sdwebui_sim.requests[-1]
    assert (seen.method, seen.path) == ("GET", "/sdapi/v1/sd-models")
    assert seen.headers["authorization"].startswith("Basic ")


def test_a_failing_image_channel_is_disabled_then_enabled_again_by_the_health_check(  # type: ignore[no-untyped-def]
        gateway: Gateway, stability_sim) -> None:
    import time

    model = unique_model("sd")
    channel = gateway.channel(stability_sim.base_url, [], keys=[STABILITY_KEY], type="stability",
                              model_mapping={model: SDXL})
    gateway.price(model, "0", "0", per_image="0.01")
    _user, key = gateway.funded_key()
    client = gateway.client(key["key"])
    stability_sim.knobs.fail_next, stability_sim.knobs.fail_status = 3, 500
    for _ in range(3):  # the test gateway disables a channel after 3 consecutive failures
        with pytest.raises(openai.InternalServerError):
            client.images.generate(model=model, prompt="a fox")
    stability_sim.knobs.latency_ms = 2000  # the health check's probe takes 2 s: the disabled state lasts
    statuses = []
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:  # health checks every 0.3 s
        statuses.append(gateway.api("GET", f"/api/channels/{channel['id']}")["status"])
        if "auto_disabled" in statuses:
            stability_sim.knobs.latency_ms = 0
            if statuses[-1] == "enabled":
                break
        time.sleep(0.1)
    assert "auto_disabled" in statuses and statuses[-1] == "enabled", statuses
    assert generate(client, model=model, prompt="a fox", response_format="b64_json").data
