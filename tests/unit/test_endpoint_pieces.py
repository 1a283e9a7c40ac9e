"""Small pieces of the non-chat endpoints: unit prices, WAV lengths, SD conversions, targets, routes."""

from __future__ import annotations

import base64
import struct

import orjson
import pytest

from relaygate.providers.imagegen import ImageRequest
from relaygate.providers.sdwebui.adapter import sdwebui_error
from relaygate.providers.stability.adapter import aspect_ratio, stability_error, v1_size, v2_service
from relaygate.relay.endpoints import text
from relaygate.relay.endpoints.audio import wav_seconds
from relaygate.relay.endpoints.images import unit_price
from relaygate.relay.pipeline import Call, CallContext, openai_target
from relaygate.simulators.openai import audiofmt
from relaygate.state.snapshot import ChannelInfo, PriceInfo, Snapshot, UserInfo


def price(**fields) -> PriceInfo:  # type: ignore[no-untyped-def]
    return PriceInfo(**{"model": "m", "input": 1, "output": 2, "cache_read": None, "cache_write": None,
                        "per_request": 0, "max_output_tokens": None, **fields})


def channel(type: str = "openai", **fields) -> ChannelInfo:  # type: ignore[no-untyped-def]
    base = {"id": 1, "name": "c", "type": type, "base_url": "https://up.example/v1", "keys": ("k",),
            "models": frozenset({"m"}), "model_mapping": {}, "groups": frozenset({"default"}), "priority": 0,
            "weight": 1, "status": "enabled", "config": {}, "timeout_s": None}
    return ChannelInfo(**{**base, **fields})


def test_image_unit_price_lookup_order() -> None:
    p = price(per_image=20, image_prices={"1024x1024/hd": 80, "1024x1024": 40})
    assert unit_price(p, "1024x1024", "hd") == 80
    assert unit_price(p, "1024x1024", "standard") == 40
    assert unit_price(p, "512x512", None) == 20
    assert unit_price(price(), "1024x1024", "hd") is None and unit_price(None, None, None) is None


def test_wav_seconds() -> None:
    clip = audiofmt.wav(audiofmt.pcm(2.5, b"x"))
    assert wav_seconds(clip[:64], len(clip)) == pytest.approx(2.5)
    # a LIST chunk before the data, and a streamed header that does not know its size
    fmt = clip[12:36]
    data = clip[44:]
    listed = b"RIFF" + struct.pack("<I", 0) + b"WAVE" + fmt + b"LIST" + struct.pack("<I", 5) + b"abcde\0" \
        + b"data" + struct.pack("<I", 0xFFFFFFFF) + data
    assert wav_seconds(listed[:200], len(listed)) == pytest.approx(2.5)
    assert wav_seconds(b"ID3\x03" + b"\0" * 60, 1000) is None and wav_seconds(b"RIFF", 4) is None


def test_embeddings_packed_as_base64_when_the_upstream_sent_floats() -> None:
    call = Call(text.EMBEDDINGS, {}, body={"model": "m", "input": "x", "encoding_format": "base64"})
    text.read_embedding(call)
    ctx = CallContext("r", "embeddings", 0.0)
    raw = orjson.dumps({"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [0.5, -1.0]}],
                        "model": "m", "usage": {"prompt_tokens": 1, "total_tokens": 1}})
    out = orjson.loads(text.answer_embedding(call, ctx, raw, "application/json"))
    assert struct.unpack("<2f", base64.b64decode(out["data"][0]["embedding"])) == (0.5, -1.0)
    assert ctx.usage is not None and ctx.usage.prompt_tokens == 1
    call.body = {"model": "m", "input": "x"}
    assert text.answer_embedding(call, ctx, raw, "application/json") == raw  # floats asked: untouched


def test_stability_conversions() -> None:
    sdxl = "stable-diffusion-xl-1024-v1-0"
    assert v1_size(sdxl, (1792, 1024)) == (1344, 768) and v1_size(sdxl, (1024, 1792)) == (768, 1344)
    assert v1_size(sdxl, (256, 256)) == (1024, 1024) and v1_size(sdxl, None) == (1024, 1024)
    assert v1_size("stable-diffusion-v1-6", (256, 256)) == (320, 320)
    assert v1_size("stable-diffusion-v1-6", (500, 700)) == (512, 704)
    assert aspect_ratio((1792, 1024)) == "16:9" and aspect_ratio((1024, 1792)) == "9:16"
    assert aspect_ratio(None) == "1:1"
    assert v2_service("core") == ("core", None) and v2_service("stable-image-ultra") == ("ultra", None)
    assert v2_service("sd3.5-large") == ("sd3", "sd3.5-large") and v2_service(sdxl) is None
    blocked = stability_error(403, b'{"id": "1", "name": "content_moderation", "errors": ["flagged"]}')
    assert (blocked.status, blocked.code, blocked.retryable) == (400, "content_policy_violation", False)
    auth = stability_error(401, b'{"id": "1", "name": "unauthorized", "message": "bad key"}')
    assert auth.status == 502 and auth.retryable and auth.channel_fault
    assert stability_error(500, b"oops").retryable


def test_sdwebui_errors() -> None:
    invalid = sdwebui_error(422, b'{"detail": [{"loc": ["body", "steps"], "msg": "not an int", "type": "x"}]}')
    assert invalid.status == 400 and "body.steps: not an int" in invalid.message
    assert sdwebui_error(401, b'{"detail": "Not authenticated"}').channel_fault
    crashed = sdwebui_error(500, b'{"error": "RuntimeError", "detail": "CUDA"}')
    assert crashed.status == 502 and crashed.retryable


def test_image_request_from_openai_keeps_extras() -> None:
    req = ImageRequest.from_openai({"prompt": "p", "n": 2, "size": "640x480", "negative_prompt": "", "seed": 3,
                                    "steps": 12, "response_format": "url", "user": "u"}, "up")
    assert (req.size, req.n, req.seed, req.negative_prompt, req.extra) == ((640, 480), 2, 3, None, {"steps": 12})


def test_openai_and_azure_targets() -> None:
    url, headers = openai_target(channel(config={"organization": "org-1"}), "sk-1", "/embeddings", "m")
    assert url == "https://up.example/v1/embeddings"
    assert headers == {"Authorization": "Bearer sk-1", "OpenAI-Organization": "org-1"}
    azure = channel("azure", base_url="https://res.openai.azure.com", config={"api_version": "2024-06-01"})
    url, headers = openai_target(azure, "az-key", "/audio/speech", "tts.hd")
    assert url == "https://res.openai.azure.com/openai/deployments/tts.hd/audio/speech?api-version=2024-06-01"
    assert headers == {"api-key": "az-key"}


def test_fine_tuned_models_route_to_their_channel_for_the_owners_group() -> None:
    snap = Snapshot(users={7: UserInfo(7, "u", "team", True)}, channels={1: channel()},
                    prices={"base": price(per_request=5), "ft:base:o::priced": price(per_request=9)})
    snap.index_routes()
    snap.add_fine_tuned("ft:base:o::abc", 7, 1, snap.prices["base"])
    snap.add_fine_tuned("ft:base:o::priced", 7, 1, snap.prices["base"])
    snap.add_fine_tuned("ft:base:o::gone", 7, 99, snap.prices["base"])  # its channel was deleted
    assert snap.routes[("team", "ft:base:o::abc")] == (snap.channels[1],)
    assert ("default", "ft:base:o::abc") not in snap.routes and "ft:base:o::gone" not in snap.fine_tuned
    assert snap.prices["ft:base:o::abc"].per_request == 5 and snap.prices["ft:base:o::priced"].per_request == 9
    assert snap.fine_tuned == {"ft:base:o::abc": 7, "ft:base:o::priced": 7}
