"""The fake Stability AI upstream (v1 engines API and v2beta Stable Image), over plain httpx."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import pytest

from relaygate.simulators.common import png
from relaygate.simulators.stability import StabilitySimulator

KEY = "sk-stability-test"
AUTH = {"Authorization": f"Bearer {KEY}"}
SDXL = "stable-diffusion-xl-1024-v1-0"


@pytest.fixture(scope="module")
def sim() -> Iterator[StabilitySimulator]:
    with StabilitySimulator(api_keys={KEY}, credits=100.0).run_in_thread() as running:
        yield running


@pytest.fixture(autouse=True)
def _fresh(sim: StabilitySimulator) -> None:
    sim.reset()


@pytest.fixture
def http(sim: StabilitySimulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.base_url, headers=AUTH, timeout=10) as client:
        yield client


def size_of(data: bytes) -> tuple[int, int]:
    meta = png.info(data)
    assert meta is not None
    return meta.width, meta.height


def test_v1_text_to_image_json(http: httpx.Client, sim: StabilitySimulator) -> None:
    body = {"text_prompts": [{"text": "A lighthouse on a cliff", "weight": 1}, {"text": "blurry", "weight": -1}],
            "width": 1344, "height": 768, "samples": 2, "seed": 1234, "steps": 30, "cfg_scale": 7,
            "sampler": "K_DPMPP_2M", "style_preset": "photographic"}
    r = http.post(f"/v1/generation/{SDXL}/text-to-image", json=body, headers={"Accept": "application/json"})
    assert r.status_code == 200, r.text
    artifacts = r.json()["artifacts"]
    assert [(a["seed"], a["finishReason"]) for a in artifacts] == [(1234, "SUCCESS"), (1235, "SUCCESS")]
    images = [base64.b64decode(a["base64"]) for a in artifacts]
    assert all(size_of(i) == (1344, 768) for i in images) and images[0] != images[1]
    again = http.post(f"/v1/generation/{SDXL}/text-to-image", json=body).json()["artifacts"]
    assert [a["base64"] for a in again] == [a["base64"] for a in artifacts]
    assert sim.credits == pytest.approx(100 - 2 * 2 * 0.6)
    assert http.get("/v1/user/balance").json() == {"credits": sim.credits}
    assert sim.requests[0].json["text_prompts"][1]["weight"] == -1


def test_v1_raw_png_defaults_and_filter(http: httpx.Client) -> None:
    r = http.post("/v1/generation/stable-diffusion-v1-6/text-to-image", headers={"Accept": "image/png"},
                  json={"text_prompts": [{"text": "a fox"}]})
    assert r.headers["content-type"] == "image/png" and size_of(r.content) == (512, 512)
    assert r.headers["finish-reason"] == "SUCCESS" and int(r.headers["seed"]) > 0
    filtered = http.post(f"/v1/generation/{SDXL}/text-to-image", json={"text_prompts": [{"text": "flagme"}]})
    assert filtered.json()["artifacts"][0]["finishReason"] == "CONTENT_FILTERED"
    engines = http.get("/v1/engines/list").json()
    assert {e["id"] for e in engines} >= {SDXL, "stable-diffusion-v1-6"} and engines[0]["type"] == "PICTURE"


@pytest.mark.parametrize(
    ("engine", "patch", "status", "name"),
    [
        (SDXL, {"width": 512, "height": 512}, 400, "invalid_height_or_width"),
        ("stable-diffusion-v1-6", {"width": 500}, 400, "invalid_height_or_width"),
        (SDXL, {"samples": 11}, 400, "invalid_samples"),
        (SDXL, {"text_prompts": []}, 400, "bad_request"),
        (SDXL, {"sampler": "FANCY"}, 400, "bad_request"),
        ("no-such-engine", {}, 404, "not_found"),
    ],
)
def test_v1_validation(http: httpx.Client, engine: str, patch: dict, status: int, name: str) -> None:
    body = {"text_prompts": [{"text": "x"}], **patch}
    r = http.post(f"/v1/generation/{engine}/text-to-image", json=body)
    assert r.status_code == status and r.json()["name"] == name
    assert set(r.json()) == {"id", "name", "message"}


def test_auth_faults_and_credits(sim: StabilitySimulator) -> None:
    url = f"{sim.base_url}/v1/generation/{SDXL}/text-to-image"
    body = {"text_prompts": [{"text": "x"}]}
    missing = httpx.post(url, json=body)
    assert missing.status_code == 401 and missing.json()["name"] == "unauthorized"
    assert httpx.post(url, json=body, headers={"Authorization": "Bearer nope"}).status_code == 401
    sim.knobs.fail_next, sim.knobs.fail_status, sim.knobs.retry_after = 1, 429, 3
    limited = httpx.post(url, json=body, headers=AUTH)
    assert limited.status_code == 429 and limited.json()["name"] == "rate_limit_exceeded"
    assert limited.headers["retry-after"] == "3"
    assert httpx.post(url, json=body, headers=AUTH).status_code == 200
    sim.credits = 0.1
    broke = httpx.post(url, json=body, headers=AUTH)
    assert broke.status_code == 402 and broke.json()["name"] == "payment_required"


def test_v2beta_core_image_and_json(http: httpx.Client, sim: StabilitySimulator) -> None:
    form = {"prompt": "a red fox", "aspect_ratio": "16:9", "seed": "42", "output_format": "png"}
    raw = http.post("/v2beta/stable-image/generate/core", data=form, files={"none": ("", b"")},
                    headers={"Accept": "image/*"})
    assert raw.status_code == 200, raw.text
    assert raw.headers["content-type"] == "image/png" and size_of(raw.content) == (1344, 768)
    assert (raw.headers["finish-reason"], raw.headers["seed"]) == ("SUCCESS", "42")
    as_json = http.post("/v2beta/stable-image/generate/core", data=form, files={"none": ("", b"")},
                        headers={"Accept": "application/json"})
    payload = as_json.json()
    assert set(payload) == {"image", "finish_reason", "seed"} and payload["seed"] == 42
    assert base64.b64decode(payload["image"]) == raw.content
    assert sim.credits == pytest.approx(100 - 2 * 3)
    assert sim.requests[-1].form["fields"]["prompt"] == "a red fox"


def test_v2beta_sd3_ultra_and_errors(http: httpx.Client, sim: StabilitySimulator) -> None:
    files = {"none": ("", b"")}
    sd3 = http.post("/v2beta/stable-image/generate/sd3", data={"prompt": "x", "model": "sd3.5-medium",
                                                               "aspect_ratio": "9:16"}, files=files)
    assert sd3.status_code == 200 and size_of(sd3.content) == (768, 1344)
    source = png.render(640, 480, b"src")
    ultra = http.post("/v2beta/stable-image/generate/ultra", data={"prompt": "make it night", "strength": "0.5"},
                      files={"image": ("in.png", source, "image/png")})
    assert ultra.status_code == 200 and size_of(ultra.content) == (640, 480)
    assert sim.credits == pytest.approx(100 - 3.5 - 8)
    missing = http.post("/v2beta/stable-image/generate/core", data={"aspect_ratio": "1:1"}, files=files)
    assert missing.status_code == 400 and missing.json()["errors"] == ["prompt: is required"]
    assert set(missing.json()) == {"id", "name", "errors"}
    as_json_body = http.post("/v2beta/stable-image/generate/core", json={"prompt": "x"})
    assert as_json_body.status_code == 400 and "multipart" in as_json_body.json()["errors"][0]
    turbo = http.post("/v2beta/stable-image/generate/sd3", files=files,
                      data={"prompt": "x", "model": "sd3.5-large-turbo", "negative_prompt": "y"})
    assert turbo.status_code == 400
    flagged = http.post("/v2beta/stable-image/generate/core", data={"prompt": "flagme"}, files=files)
    assert flagged.status_code == 403 and flagged.json()["name"] == "content_moderation"
    bad_accept = http.post("/v2beta/stable-image/generate/core", data={"prompt": "x"}, files=files,
                           headers={"Accept": "text/html"})
    assert bad_accept.status_code == 400
    sim.knobs.max_upload_bytes = 1000
    big = http.post("/v2beta/stable-image/generate/ultra", data={"prompt": "x", "strength": "0.5"},
                    files={"image": ("in.png", b"\x00" * 5000, "image/png")})
    assert big.status_code == 413


def test_control_plane(sim: StabilitySimulator, http: httpx.Client) -> None:
    assert httpx.post(f"{sim.base_url}/__sim/knobs", json={"fail_next": 1}).json()["fail_next"] == 1
    assert http.post(f"/v1/generation/{SDXL}/text-to-image", json={"text_prompts": [{"text": "x"}]}).status_code == 500
    log = httpx.get(f"{sim.base_url}/__sim/requests").json()
    assert log[-1]["path"] == f"/v1/generation/{SDXL}/text-to-image"
    assert httpx.post(f"{sim.base_url}/__sim/reset").json() == {"ok": True} and sim.requests == []
