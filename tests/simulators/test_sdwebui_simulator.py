"""The fake AUTOMATIC1111 WebUI API, over plain httpx."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import httpx
import pytest

from relaygate.simulators.common import png
from relaygate.simulators.sdwebui import SDWebUISimulator


@pytest.fixture(scope="module")
def sim() -> Iterator[SDWebUISimulator]:
    with SDWebUISimulator().run_in_thread() as running:
        yield running


@pytest.fixture(autouse=True)
def _fresh(sim: SDWebUISimulator) -> None:
    sim.reset()


@pytest.fixture
def http(sim: SDWebUISimulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.base_url, timeout=10) as client:
        yield client


def size_of(b64: str) -> tuple[int, int]:
    meta = png.info(base64.b64decode(b64))
    assert meta is not None
    return meta.width, meta.height


def test_txt2img_single_image(http: httpx.Client) -> None:
    r = http.post("/sdapi/v1/txt2img", json={"prompt": "a castle", "negative_prompt": "blurry", "seed": 1234,
                                             "width": 512, "height": 384, "steps": 20, "sampler_name": "Euler a"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["images"]) == 1 and size_of(body["images"][0]) == (512, 384)
    assert not body["images"][0].startswith("data:")
    params = body["parameters"]
    assert params["prompt"] == "a castle" and params["cfg_scale"] == 7.0 and params["batch_size"] == 1
    assert params["send_images"] is True and params["n_iter"] == 1
    info = json.loads(body["info"])
    assert (info["seed"], info["all_seeds"], info["width"], info["height"]) == (1234, [1234], 512, 384)
    assert info["sampler_name"] == "Euler a" and info["sd_model_name"] == "v1-5-pruned-emaonly"
    assert info["infotexts"][0].startswith("a castle\nNegative prompt: blurry\nSteps: 20, Sampler: Euler a")
    assert info["index_of_first_image"] == 0
    again = http.post("/sdapi/v1/txt2img", json={"prompt": "a castle", "negative_prompt": "blurry", "seed": 1234,
                                                 "width": 512, "height": 384, "steps": 20,
                                                 "sampler_name": "Euler a"}).json()
    assert again["images"] == body["images"]


def test_txt2img_batches_grid_and_defaults(http: httpx.Client) -> None:
    body = http.post("/sdapi/v1/txt2img", json={"prompt": "cats", "batch_size": 2, "n_iter": 2,
                                                "width": 260, "height": 256}).json()
    assert len(body["images"]) == 5 and size_of(body["images"][0]) == (512, 512)  # 2x2 grid of 256x256
    assert all(size_of(i) == (256, 256) for i in body["images"][1:])
    info = json.loads(body["info"])
    seeds = info["all_seeds"]
    assert info["index_of_first_image"] == 1 and seeds == [seeds[0] + i for i in range(4)]
    assert body["parameters"]["steps"] == 50 and body["parameters"]["sampler_index"] == "Euler"
    no_grid = http.post("/sdapi/v1/txt2img", json={"prompt": "cats", "batch_size": 3,
                                                   "do_not_save_grid": True}).json()
    assert len(no_grid["images"]) == 3
    silent = http.post("/sdapi/v1/txt2img", json={"prompt": "cats", "send_images": False}).json()
    assert silent["images"] == [] and json.loads(silent["info"])["all_prompts"] == ["cats"]
    hires = http.post("/sdapi/v1/txt2img", json={"prompt": "x", "enable_hr": True, "hr_scale": 1.5}).json()
    assert size_of(hires["images"][0]) == (768, 768)


def test_txt2img_validation_and_models(http: httpx.Client, sim: SDWebUISimulator) -> None:
    bad = http.post("/sdapi/v1/txt2img", json={"prompt": "x", "steps": "many"})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "steps"]
    sampler = http.post("/sdapi/v1/txt2img", json={"prompt": "x", "sampler_name": "Nope"})
    assert sampler.status_code == 404 and sampler.json() == {"detail": "Sampler not found"}
    models = http.get("/sdapi/v1/sd-models").json()
    assert {m["model_name"] for m in models} == {"v1-5-pruned-emaonly", "sd_xl_base_1.0"}
    assert set(models[0]) == {"title", "model_name", "hash", "sha256", "filename", "config"}
    xl = models[1]["title"]
    override = http.post("/sdapi/v1/txt2img", json={"prompt": "x", "override_settings": {
        "sd_model_checkpoint": xl}}).json()
    assert json.loads(override["info"])["sd_model_name"] == "sd_xl_base_1.0"
    assert http.post("/sdapi/v1/options", json={"sd_model_checkpoint": "sd_xl_base_1.0"}).json() is None
    assert sim.options["sd_model_checkpoint"] == xl
    assert http.post("/sdapi/v1/options", json={"sd_model_checkpoint": "missing"}).status_code == 500
    assert http.get("/sdapi/v1/options").json()["sd_model_checkpoint"] == xl
    assert any(s["name"] == "DPM++ 2M" for s in http.get("/sdapi/v1/samplers").json())
    assert http.get("/sdapi/v1/progress").json()["progress"] == 0.0
    assert http.get("/sdapi/v1/txt2img").status_code == 405 and http.get("/nope").status_code == 404


def test_img2img(http: httpx.Client) -> None:
    source = base64.b64encode(png.render(64, 64, b"src")).decode()
    body = http.post("/sdapi/v1/img2img", json={"prompt": "x", "init_images": [source], "width": 128,
                                                "height": 128, "denoising_strength": 0.5}).json()
    assert size_of(body["images"][0]) == (128, 128) and body["parameters"]["init_images"] is None
    assert http.post("/sdapi/v1/img2img", json={"prompt": "x"}).status_code == 404


def test_api_auth_and_faults() -> None:
    with SDWebUISimulator(api_auth="alice:secret").run_in_thread() as guarded:
        url = f"{guarded.base_url}/sdapi/v1/txt2img"
        missing = httpx.post(url, json={"prompt": "x"})
        assert missing.status_code == 401 and missing.json() == {"detail": "Not authenticated"}
        assert missing.headers["www-authenticate"] == "Basic"
        wrong = httpx.post(url, json={"prompt": "x"}, auth=("alice", "nope"))
        assert wrong.json() == {"detail": "Incorrect username or password"}
        assert httpx.post(url, json={"prompt": "x"}, auth=("alice", "secret")).status_code == 200
        guarded.knobs.fail_next = 1
        failed = httpx.post(url, json={"prompt": "x"}, auth=("alice", "secret"))
        assert failed.status_code == 500 and set(failed.json()) == {"error", "detail", "body", "errors"}
        assert guarded.requests[-1].headers["authorization"].startswith("Basic ")
