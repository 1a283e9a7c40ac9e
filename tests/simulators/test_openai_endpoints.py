"""The rest of the fake OpenAI surface (completions, embeddings, moderations, images, audio, files,
fine-tuning), driven through the official ``openai`` SDK and checked against the OpenAPI spec."""

from __future__ import annotations

import base64
import math
import struct
import time
from collections.abc import Iterator
from typing import Any

import bpe_openai
import httpx
import openai
import orjson
import pytest

from relaygate.simulators.common import png
from relaygate.simulators.openai import OpenAISimulator, audiofmt
from tests.openapi_schemas import validate

KEY = "sk-sim-endpoints-0001"
ENC = bpe_openai.get_encoding("o200k_base")
AUTH = {"Authorization": f"Bearer {KEY}"}


def tok(text: str) -> int:
    return len(ENC.encode_ordinary(text))


@pytest.fixture(scope="module")
def sim() -> Iterator[OpenAISimulator]:
    with OpenAISimulator(api_keys={KEY}).run_in_thread() as running:
        yield running


@pytest.fixture(autouse=True)
def _fresh(sim: OpenAISimulator) -> None:
    sim.reset()


@pytest.fixture
def client(sim: OpenAISimulator) -> openai.OpenAI:
    return openai.OpenAI(base_url=sim.base_url, api_key=KEY, max_retries=0)


def wire(call: Any, **kwargs: Any) -> tuple[Any, Any]:
    """(parsed SDK object, JSON exactly as sent on the wire) for a ``with_raw_response`` method."""
    raw = call(**kwargs)
    return raw.parse(), orjson.loads(raw.http_response.content)


def wav_bytes(seconds: float) -> bytes:
    return audiofmt.wav(audiofmt.pcm(seconds, b"test-audio"))


# --- legacy completions ------------------------------------------------------------------------


def test_completion_defaults_to_16_tokens(client: openai.OpenAI) -> None:
    r, body = wire(client.completions.with_raw_response.create, model="gpt-3.5-turbo-instruct", prompt="Say hi")
    validate("CreateCompletionResponse", body)
    assert r.object == "text_completion" and r.id.startswith("cmpl-") and r.model == "gpt-3.5-turbo-instruct"
    assert r.choices[0].finish_reason == "length" and tok(r.choices[0].text) == 16
    assert r.usage.prompt_tokens == tok("Say hi") and r.usage.completion_tokens == 16
    assert r.usage.total_tokens == tok("Say hi") + 16


def test_completion_prompt_shapes_and_determinism(client: openai.OpenAI) -> None:
    many = client.completions.create(model="davinci-002", prompt=["one", "two"], n=2, max_tokens=200)
    assert [c.index for c in many.choices] == [0, 1, 2, 3]
    assert many.choices[0].text != many.choices[1].text and many.choices[0].text != many.choices[2].text
    assert all(c.finish_reason == "stop" and c.text.startswith("\n\n") for c in many.choices)
    assert many.usage.prompt_tokens == tok("one") + tok("two")
    assert many.usage.completion_tokens == sum(tok(c.text) for c in many.choices)
    ids = ENC.encode_ordinary("one")
    by_tokens = client.completions.create(model="davinci-002", prompt=ids, max_tokens=200)
    nested = client.completions.create(model="davinci-002", prompt=[ids, ENC.encode_ordinary("two")], max_tokens=200)
    assert by_tokens.choices[0].text == many.choices[0].text
    assert [c.text for c in nested.choices] == [many.choices[0].text, many.choices[2].text]


def test_completion_stop_echo_suffix_logprobs(client: openai.OpenAI) -> None:
    full = client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Tell me", max_tokens=100).choices[0]
    word = full.text.split()[3]
    stopped = client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Tell me", max_tokens=100,
                                        stop=[word]).choices[0]
    assert stopped.finish_reason == "stop" and stopped.text == full.text[: full.text.index(word)]
    echo = client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Tell me", echo=True, max_tokens=0,
                                     logprobs=2, suffix="the end")
    choice = echo.choices[0]
    assert choice.text == "Tell me" and choice.finish_reason == "length"
    assert choice.logprobs.tokens == ["Tell", " me"] and choice.logprobs.token_logprobs[0] is None
    assert choice.logprobs.text_offset == [0, 4] and len(choice.logprobs.top_logprobs[1]) == 2
    assert echo.usage.prompt_tokens == tok("Tell me") + tok("the end") and echo.usage.completion_tokens == 0
    _, body = wire(client.completions.with_raw_response.create, model="gpt-3.5-turbo-instruct", prompt="x",
                   logprobs=3)
    validate("CreateCompletionResponse", body)
    lp = body["choices"][0]["logprobs"]
    assert len(lp["tokens"]) == 16 and all(len(top) == 3 for top in lp["top_logprobs"])


def test_completion_stream_matches_and_reports_usage(client: openai.OpenAI, sim: OpenAISimulator) -> None:
    whole = client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Stream", n=2, max_tokens=10)
    chunks = list(client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Stream", n=2, max_tokens=10,
                                            stream=True, stream_options={"include_usage": True}))
    for index in (0, 1):
        parts = [c.choices[0] for c in chunks if c.choices and c.choices[0].index == index]
        assert "".join(p.text for p in parts) == whole.choices[index].text
        assert parts[-1].finish_reason == "length" and all(p.finish_reason is None for p in parts[:-1])
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    for chunk in chunks:
        validate("CreateCompletionResponse", chunk.model_dump(exclude_unset=True, exclude={"usage"}),
                 allow_null={"finish_reason"})
    raw = httpx.post(f"{sim.base_url}/completions", headers=AUTH,
                     json={"model": "gpt-3.5-turbo-instruct", "prompt": "Stream", "stream": True})
    assert raw.headers["content-type"].startswith("text/event-stream") and raw.text.endswith("data: [DONE]\n\n")


def test_completion_rejects_chat_models_and_bad_prompts(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as chat_model:
        client.completions.create(model="gpt-4o-mini", prompt="hi")
    assert "This is a chat model" in chat_model.value.message
    with pytest.raises(openai.BadRequestError) as empty:
        client.completions.create(model="davinci-002", prompt=[])
    assert empty.value.code == "empty_array"
    with pytest.raises(openai.BadRequestError) as too_long:
        client.completions.create(model="gpt-3.5-turbo-instruct", prompt="hi", max_tokens=5000)
    assert too_long.value.code == "context_length_exceeded"


# --- embeddings --------------------------------------------------------------------------------


def test_embeddings_float_unit_norm_and_usage(client: openai.OpenAI) -> None:
    r, body = wire(client.embeddings.with_raw_response.create, model="text-embedding-3-small",
                   input=["hello world", "bye"], encoding_format="float")
    validate("CreateEmbeddingResponse", body)
    assert [d.index for d in r.data] == [0, 1] and all(len(d.embedding) == 1536 for d in r.data)
    assert all(abs(math.sqrt(sum(v * v for v in d.embedding)) - 1) < 1e-5 for d in r.data)
    assert r.usage.prompt_tokens == r.usage.total_tokens == tok("hello world") + tok("bye")
    again = client.embeddings.create(model="text-embedding-3-small", input="hello world", encoding_format="float")
    assert again.data[0].embedding == r.data[0].embedding != r.data[1].embedding
    by_tokens = client.embeddings.create(model="text-embedding-3-small", input=ENC.encode_ordinary("hello world"),
                                         encoding_format="float")
    assert by_tokens.data[0].embedding == r.data[0].embedding
    large = client.embeddings.create(model="text-embedding-3-large", input="hello world", encoding_format="float")
    assert len(large.data[0].embedding) == 3072


def test_embeddings_base64_is_little_endian_float32(client: openai.OpenAI) -> None:
    floats = client.embeddings.create(model="text-embedding-ada-002", input="pack me", encoding_format="float")
    r, body = wire(client.embeddings.with_raw_response.create, model="text-embedding-ada-002", input="pack me",
                   encoding_format="base64")
    encoded = body["data"][0]["embedding"]
    assert isinstance(encoded, str) and r.data[0].embedding == encoded
    raw = base64.b64decode(encoded)
    assert list(struct.unpack(f"<{len(raw) // 4}f", raw)) == floats.data[0].embedding


@pytest.mark.parametrize("numpy_path", [False, True])
def test_embeddings_sdk_default_decodes_base64(client: openai.OpenAI, sim: OpenAISimulator,
                                               monkeypatch: pytest.MonkeyPatch, numpy_path: bool) -> None:
    from openai.lib._parsing import _embeddings

    if numpy_path:
        pytest.importorskip("numpy")
    monkeypatch.setattr(_embeddings, "has_numpy", lambda: numpy_path)
    expected = client.embeddings.create(model="text-embedding-3-small", input="sdk", encoding_format="float")
    decoded = client.embeddings.create(model="text-embedding-3-small", input="sdk")
    assert sim.requests[-1].json["encoding_format"] == "base64"
    assert isinstance(decoded.data[0].embedding, list) and decoded.data[0].embedding == expected.data[0].embedding


def test_embeddings_dimensions(client: openai.OpenAI) -> None:
    full = client.embeddings.create(model="text-embedding-3-small", input="dims", encoding_format="float")
    short = client.embeddings.create(model="text-embedding-3-small", input="dims", dimensions=256,
                                     encoding_format="float")
    vector = short.data[0].embedding
    assert len(vector) == 256 and abs(math.sqrt(sum(v * v for v in vector)) - 1) < 1e-5
    head = full.data[0].embedding[:256]
    norm = math.sqrt(sum(v * v for v in head))
    assert all(abs(a - b / norm) < 1e-6 for a, b in zip(vector, head, strict=True))
    with pytest.raises(openai.BadRequestError, match="does not support specifying dimensions"):
        client.embeddings.create(model="text-embedding-ada-002", input="dims", dimensions=256)
    with pytest.raises(openai.BadRequestError):
        client.embeddings.create(model="text-embedding-3-small", input="")


# --- moderations -------------------------------------------------------------------------------


def test_moderation_clean_and_triggered(client: openai.OpenAI) -> None:
    r, body = wire(client.moderations.with_raw_response.create, input=["a calm sentence", "please flagme now",
                                                                      "FLAG:hate/threatening"])
    validate("CreateModerationResponse", body)
    assert r.id.startswith("modr-") and r.model == "omni-moderation-latest" and len(r.results) == 3
    clean, violent, hateful = body["results"]
    assert not clean["flagged"] and not any(clean["categories"].values())
    assert len(clean["categories"]) == len(clean["category_scores"]) == 13
    assert max(clean["category_scores"].values()) < 0.001
    assert violent["flagged"] and [k for k, v in violent["categories"].items() if v] == ["violence"]
    assert violent["category_scores"]["violence"] >= 0.9
    assert {k for k, v in hateful["categories"].items() if v} == {"hate", "hate/threatening"}


def test_moderation_multimodal_and_legacy(client: openai.OpenAI) -> None:
    _, body = wire(client.moderations.with_raw_response.create, model="omni-moderation-latest", input=[
        {"type": "text", "text": "look at this"},
        {"type": "image_url", "image_url": {"url": "https://example.com/flagme.png"}},
    ])
    validate("CreateModerationResponse", body)
    (result,) = body["results"]
    assert result["flagged"] and result["categories"]["sexual"] and result["categories"]["violence"]
    assert result["category_applied_input_types"]["violence"] == ["text", "image"]
    assert result["category_applied_input_types"]["hate"] == ["text"]
    legacy = client.moderations.create(model="text-moderation-latest", input="hi")
    assert legacy.results[0].categories.illicit is None


# --- images ------------------------------------------------------------------------------------


def png_size(data: bytes) -> tuple[int, int]:
    meta = png.info(data)
    assert meta is not None, "not a PNG"
    return meta.width, meta.height


def test_image_generation_url_served_by_simulator(client: openai.OpenAI) -> None:
    r, body = wire(client.images.with_raw_response.generate, prompt="a lighthouse", size="256x256", n=2)
    validate("ImagesResponse", body)
    assert len(r.data) == 2 and r.data[0].url != r.data[1].url and r.usage is None
    pictures = [httpx.get(item.url) for item in r.data]
    assert all(p.headers["content-type"] == "image/png" for p in pictures)
    assert [png_size(p.content) for p in pictures] == [(256, 256), (256, 256)]
    assert pictures[0].content != pictures[1].content
    assert httpx.get(r.data[0].url.replace("img-", "img-x")).status_code == 404


def test_image_generation_dalle3_and_gpt_image(client: openai.OpenAI) -> None:
    r, body = wire(client.images.with_raw_response.generate, model="dall-e-3", prompt="a cat", size="1792x1024",
                   response_format="b64_json", quality="hd", style="natural")
    validate("ImagesResponse", body)
    assert png_size(base64.b64decode(r.data[0].b64_json)) == (1792, 1024)
    assert r.data[0].revised_prompt.endswith("a cat")
    with pytest.raises(openai.BadRequestError, match="n=1"):
        client.images.generate(model="dall-e-3", prompt="a cat", n=2)
    with pytest.raises(openai.BadRequestError) as size:
        client.images.generate(model="dall-e-2", prompt="a cat", size="1792x1024")
    assert size.value.param == "size"
    g, body = wire(client.images.with_raw_response.generate, model="gpt-image-1", prompt="a dog", size="1536x1024",
                   quality="low", background="transparent")
    validate("ImagesResponse", body)
    picture = base64.b64decode(g.data[0].b64_json)
    assert png_size(picture) == (1536, 1024) and png.info(picture).mode == "RGBA"
    assert (g.size, g.quality, g.background, g.output_format) == ("1536x1024", "low", "transparent", "png")
    assert g.usage.input_tokens == tok("a dog") and g.usage.output_tokens == 408
    assert g.usage.total_tokens == tok("a dog") + 408 and g.usage.input_tokens_details.image_tokens == 0
    with pytest.raises(openai.BadRequestError) as unknown:
        client.images.generate(model="gpt-image-1", prompt="a dog", response_format="url")
    assert unknown.value.code == "unknown_parameter"
    with pytest.raises(openai.BadRequestError) as policy:
        client.images.generate(prompt="please flagme")
    assert policy.value.code == "content_policy_violation"


def test_image_edit_dalle2_rules(client: openai.OpenAI, sim: OpenAISimulator) -> None:
    rgba = png.render(256, 256, b"source", alpha=True)
    r, body = wire(client.images.with_raw_response.edit, model="dall-e-2", image=("in.png", rgba, "image/png"),
                   prompt="add a hat", n=2, size="512x512", response_format="b64_json")
    validate("ImagesResponse", body)
    assert [png_size(base64.b64decode(d.b64_json)) for d in r.data] == [(512, 512), (512, 512)]
    form = sim.requests[-1].form
    assert form["fields"]["prompt"] == "add a hat" and form["fields"]["n"] == "2"
    assert form["files"][0]["filename"] == "in.png" and form["files"][0]["size"] == len(rgba)
    assert sim.requests[-1].body == b""
    rgb = png.render(256, 256, b"source")
    with pytest.raises(openai.BadRequestError, match="got RGB"):
        client.images.edit(model="dall-e-2", image=("in.png", rgb), prompt="add a hat")
    ok = client.images.edit(model="dall-e-2", image=("in.png", rgb), mask=("m.png", rgba), prompt="add a hat")
    assert ok.data[0].url.startswith("http://")
    with pytest.raises(openai.BadRequestError, match="same"):
        client.images.edit(model="dall-e-2", image=("in.png", rgb), mask=("m.png", png.render(128, 128, b"", True)),
                           prompt="add a hat")
    with pytest.raises(openai.BadRequestError, match="PNG"):
        client.images.edit(model="dall-e-2", image=("in.jpg", b"\xff\xd8\xff\xe0 not really"), prompt="x")


def test_image_edit_gpt_image_multiple_inputs(client: openai.OpenAI, sim: OpenAISimulator) -> None:
    images = [("a.png", png.render(64, 64, b"a")), ("b.png", png.render(64, 64, b"b"))]
    r, body = wire(client.images.with_raw_response.edit, model="gpt-image-1", image=images, prompt="merge them")
    validate("ImagesResponse", body)
    assert png_size(base64.b64decode(r.data[0].b64_json)) == (1024, 1024)
    assert r.usage.input_tokens_details.image_tokens == 2 * 323 and r.quality == "high"
    assert [f["filename"] for f in sim.requests[-1].form["files"]] == ["a.png", "b.png"]
    with pytest.raises(openai.BadRequestError) as bad:
        client.images.edit(model="gpt-image-1", image=("notes.txt", b"plain text", "text/plain"), prompt="x")
    assert bad.value.code == "unsupported_file_mimetype"
    with pytest.raises(openai.BadRequestError):
        client.images.edit(model="dall-e-3", image=images[0], prompt="x")


@pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")  # the SDK marks variations deprecated
def test_image_variation(client: openai.OpenAI) -> None:
    square = png.render(128, 128, b"var")
    r, body = wire(client.images.with_raw_response.create_variation, image=("v.png", square), n=3, size="256x256",
                   response_format="b64_json")
    validate("ImagesResponse", body)
    decoded = [base64.b64decode(d.b64_json) for d in r.data]
    assert len(set(decoded)) == 3 and all(png_size(d) == (256, 256) for d in decoded)
    again = client.images.create_variation(image=("v.png", square), n=3, size="256x256", response_format="b64_json")
    assert [d.b64_json for d in again.data] == [d.b64_json for d in r.data]
    with pytest.raises(openai.BadRequestError, match="square"):
        client.images.create_variation(image=("v.png", png.render(128, 64, b"")))
    with pytest.raises(openai.BadRequestError):
        client.images.create_variation(image=("v.png", square), model="dall-e-3")


# --- audio: speech -----------------------------------------------------------------------------

MAGIC = {"mp3": b"\xff\xf3", "opus": b"OggS", "aac": b"\xff\xf1", "flac": b"fLaC", "wav": b"RIFF"}
CONTENT_TYPES = {"mp3": "audio/mpeg", "opus": "audio/opus", "aac": "audio/aac", "flac": "audio/flac",
                 "wav": "audio/wav", "pcm": "audio/pcm"}


@pytest.mark.parametrize("fmt", ["mp3", "opus", "aac", "flac", "wav", "pcm"])
def test_speech_formats(client: openai.OpenAI, fmt: str) -> None:
    text = "Hello from the simulated speech endpoint."  # 41 chars -> 2.733 s
    raw = client.audio.speech.with_raw_response.create(model="tts-1", voice="alloy", input=text,
                                                       response_format=fmt)
    data = raw.http_response.content
    assert raw.http_response.headers["content-type"] == CONTENT_TYPES[fmt]
    assert data.startswith(MAGIC.get(fmt, b""))
    seconds = round(len(text) / 15, 3)
    if fmt == "wav":
        assert audiofmt.wav_duration(data) == pytest.approx(seconds, abs=1e-3)
    if fmt == "pcm":
        assert len(data) == int(seconds * 24000) * 2
    longer = client.audio.speech.create(model="tts-1", voice="alloy", input=text * 3, response_format=fmt)
    assert 2.5 < len(longer.content) / len(data) < 3.5


def test_speech_streams_in_chunks(client: openai.OpenAI) -> None:
    text = "A somewhat longer sentence, so that the audio is split into several chunks on the wire."
    whole = client.audio.speech.create(model="tts-1", voice="nova", input=text, response_format="wav").content
    with client.audio.speech.with_streaming_response.create(model="tts-1", voice="nova", input=text,
                                                            response_format="wav") as response:
        assert response.headers["transfer-encoding"] == "chunked"
        chunks = list(response.iter_bytes(chunk_size=None))
    assert b"".join(chunks) == whole and len(chunks) >= 2


def test_speech_sse_and_validation(client: openai.OpenAI, sim: OpenAISimulator) -> None:
    reply = httpx.post(f"{sim.base_url}/audio/speech", headers=AUTH, json={
        "model": "gpt-4o-mini-tts", "voice": "coral", "input": "Hi there", "stream_format": "sse",
        "response_format": "pcm"})
    events = [orjson.loads(b[6:]) for b in reply.content.split(b"\n\n") if b]
    for event in events:
        validate("SpeechAudioDeltaEvent" if event["type"] == "speech.audio.delta" else "SpeechAudioDoneEvent", event)
    assert events[-1]["usage"]["input_tokens"] == tok("Hi there") and len(events) >= 3
    audio = b"".join(base64.b64decode(e["audio"]) for e in events[:-1])
    assert len(audio) == int(0.533 * 24000) * 2
    with pytest.raises(openai.BadRequestError):
        client.audio.speech.create(model="tts-1", voice="alloy", input="x", extra_body={"stream_format": "sse"})
    with pytest.raises(openai.BadRequestError) as voice:
        client.audio.speech.create(model="tts-1", voice="robot", input="x")
    assert voice.value.param == "voice"
    with pytest.raises(openai.BadRequestError) as long_input:
        client.audio.speech.create(model="tts-1", voice="alloy", input="x" * 4097)
    assert long_input.value.code == "string_above_max_length"


# --- audio: transcriptions / translations ------------------------------------------------------


def test_transcription_json_and_text_from_wav(client: openai.OpenAI, sim: OpenAISimulator) -> None:
    audio = wav_bytes(4.0)
    raw = client.audio.transcriptions.with_raw_response.create(model="whisper-1", file=("talk.wav", audio))
    body = orjson.loads(raw.http_response.content)
    validate("CreateTranscriptionResponseJson", body)
    assert len(body["text"].split()) == 10 and body["usage"] == {"type": "duration", "seconds": 4}
    again = client.audio.transcriptions.create(model="whisper-1", file=("again.wav", audio), response_format="text")
    assert again == body["text"] + "\n"
    form = sim.requests[-1].form
    assert form["fields"] == {"model": "whisper-1", "response_format": "text"}
    assert form["files"][0]["size"] == len(audio) and form["files"][0]["field"] == "file"


def test_transcription_subtitles_and_verbose(client: openai.OpenAI) -> None:
    audio = wav_bytes(8.0)  # 20 words -> two segments
    srt = client.audio.transcriptions.create(model="whisper-1", file=("a.wav", audio), response_format="srt")
    assert srt.startswith("1\n00:00:00,000 --> 00:00:04,000\n") and "\n\n2\n00:00:04,000 --> 00:00:08,000\n" in srt
    vtt = client.audio.transcriptions.create(model="whisper-1", file=("a.wav", audio), response_format="vtt")
    assert vtt.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:04.000\n") and vtt.endswith("\n\n")
    raw = client.audio.transcriptions.with_raw_response.create(
        model="whisper-1", file=("a.wav", audio), response_format="verbose_json", language="de",
        timestamp_granularities=["word", "segment"], temperature=0.2)
    body = orjson.loads(raw.http_response.content)
    validate("CreateTranscriptionResponseVerboseJson", body)
    assert (body["task"], body["language"], body["duration"]) == ("transcribe", "german", 8.0)
    assert len(body["words"]) == 20 and body["words"][-1]["end"] == 8.0 and len(body["segments"]) == 2
    assert body["segments"][1]["start"] == 4.0 and body["segments"][0]["temperature"] == 0.2
    assert " ".join(w["word"] for w in body["words"]) == body["text"]
    words_only = client.audio.transcriptions.create(model="whisper-1", file=("a.wav", audio),
                                                    response_format="verbose_json", timestamp_granularities=["word"])
    assert words_only.words and not getattr(words_only, "segments", None)
    with pytest.raises(openai.BadRequestError):
        client.audio.transcriptions.create(model="whisper-1", file=("a.wav", audio), timestamp_granularities=["word"])


def test_transcription_estimates_duration_and_gpt4o_usage(client: openai.OpenAI) -> None:
    mp3 = audiofmt.mp3(4.0, b"x")[:32000]  # not WAV -> 32000 bytes / 16000 B/s = 2 s
    r = client.audio.transcriptions.create(model="whisper-1", file=("clip.mp3", mp3), response_format="verbose_json")
    assert r.duration == 2.0 and len(r.text.split()) == 5
    raw = client.audio.transcriptions.with_raw_response.create(model="gpt-4o-transcribe", file=("clip.mp3", mp3),
                                                               prompt="names")
    body = orjson.loads(raw.http_response.content)
    validate("CreateTranscriptionResponseJson", body)
    assert body["usage"]["type"] == "tokens" and body["usage"]["input_token_details"]["audio_tokens"] == 20
    assert body["usage"]["output_tokens"] == tok(body["text"]) and body["usage"]["input_tokens"] == 20 + tok("names")
    with pytest.raises(openai.BadRequestError) as fmt:
        client.audio.transcriptions.create(model="gpt-4o-transcribe", file=("clip.mp3", mp3), response_format="srt")
    assert fmt.value.param == "response_format"
    diarized = client.audio.transcriptions.with_raw_response.create(
        model="gpt-4o-transcribe-diarize", file=("clip.mp3", mp3), response_format="diarized_json")
    validate("CreateTranscriptionResponseDiarizedJson", orjson.loads(diarized.http_response.content))


@pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")  # the SDK marks translations deprecated
def test_translation_formats(client: openai.OpenAI) -> None:
    audio = wav_bytes(4.0)
    raw = client.audio.translations.with_raw_response.create(model="whisper-1", file=("fr.wav", audio))
    body = orjson.loads(raw.http_response.content)
    validate("CreateTranslationResponseJson", body)
    assert set(body) == {"text"}
    transcript = client.audio.transcriptions.create(model="whisper-1", file=("fr.wav", audio))
    assert body["text"] != transcript.text
    verbose = client.audio.translations.with_raw_response.create(model="whisper-1", file=("fr.wav", audio),
                                                                 response_format="verbose_json")
    vbody = orjson.loads(verbose.http_response.content)
    validate("CreateTranslationResponseVerboseJson", vbody)
    assert (vbody["task"], vbody["language"], vbody["text"]) == ("translate", "english", body["text"])
    assert client.audio.translations.create(model="whisper-1", file=("fr.wav", audio),
                                            response_format="srt").startswith("1\n00:00:00,000 --> ")


def test_transcription_errors_and_upload_limit(client: openai.OpenAI, sim: OpenAISimulator) -> None:
    with pytest.raises(openai.BadRequestError) as short:
        client.audio.transcriptions.create(model="whisper-1", file=("tiny.wav", wav_bytes(0.05)))
    assert short.value.code == "audio_too_short"
    with pytest.raises(openai.BadRequestError, match="Invalid file format"):
        client.audio.transcriptions.create(model="whisper-1", file=("notes.txt", b"x" * 5000))
    with pytest.raises(openai.BadRequestError, match="ISO-639-1"):
        client.audio.transcriptions.create(model="whisper-1", file=("a.wav", wav_bytes(1)), language="klingon")
    sim.knobs.max_upload_bytes = 10_000
    with pytest.raises(openai.APIStatusError) as big:
        client.audio.transcriptions.create(model="whisper-1", file=("big.wav", wav_bytes(1.0)))
    assert big.value.status_code == 413 and "Maximum content size limit (10000) exceeded" in big.value.message
    assert big.value.type == "server_error" and sim.requests[-1].form["too_large"] is True


# --- files -------------------------------------------------------------------------------------


def training_jsonl(examples: int = 10, bad_line: int | None = None) -> bytes:
    lines = []
    for i in range(examples):
        example: dict[str, Any] = {"messages": [{"role": "user", "content": f"question {i}"},
                                                {"role": "assistant", "content": f"answer {i}"}]}
        if i == bad_line:
            example = {"prompt": "legacy"}
        lines.append(orjson.dumps(example))
    return b"\n".join(lines) + b"\n"


def test_files_lifecycle(client: openai.OpenAI) -> None:
    data = training_jsonl()
    raw = client.files.with_raw_response.create(file=("train.jsonl", data), purpose="fine-tune")
    created = raw.parse()
    validate("OpenAIFile", orjson.loads(raw.http_response.content))
    assert created.id.startswith("file-") and created.bytes == len(data) and created.filename == "train.jsonl"
    assert created.purpose == "fine-tune" and created.status == "processed"
    assert client.files.retrieve(created.id) == created
    assert client.files.content(created.id).content == data
    page = client.files.with_raw_response.list()
    validate("ListFilesResponse", orjson.loads(page.http_response.content))
    assert [f.id for f in page.parse().data] == [created.id]
    deleted = client.files.with_raw_response.delete(created.id)
    validate("DeleteFileResponse", orjson.loads(deleted.http_response.content))
    assert deleted.parse().deleted is True
    with pytest.raises(openai.NotFoundError, match="No such File object"):
        client.files.retrieve(created.id)
    empty = orjson.loads(client.files.with_raw_response.list().http_response.content)
    validate("ListFilesResponse", empty, allow_null={"first_id", "last_id"})
    assert empty["data"] == [] and empty["has_more"] is False


def test_files_listing_order_filter_and_paging(client: openai.OpenAI) -> None:
    ids = [client.files.create(file=(f"f{i}.txt", b"data"), purpose="user_data").id for i in range(3)]
    batch = client.files.create(file=("b.jsonl", b'{"custom_id": "1"}\n'), purpose="batch")
    assert batch.expires_at is not None and batch.expires_at - batch.created_at == 30 * 24 * 3600
    assert [f.id for f in client.files.list(purpose="user_data")] == ids[::-1]
    first = client.files.list(purpose="user_data", order="asc", limit=2)
    assert [f.id for f in first.data] == ids[:2] and first.has_more
    assert len(list(first.iter_pages())) == 2
    assert [f.id for f in client.files.list(purpose="user_data", order="asc", limit=2)] == ids  # auto-paging
    assert client.files.list(purpose="batch").data[0].id == batch.id


def test_files_validation(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match=r"Must be \.jsonl"):
        client.files.create(file=("train.txt", training_jsonl()), purpose="fine-tune")
    with pytest.raises(openai.BadRequestError, match="Line 2 is not a dictionary"):
        client.files.create(file=("train.jsonl", b'{"a": 1}\n[1, 2]\n'), purpose="fine-tune")
    with pytest.raises(openai.BadRequestError) as purpose:
        client.files.create(file=("x.txt", b"x"), purpose="homework")  # type: ignore[arg-type]
    assert purpose.value.param == "purpose"
    assistants = client.files.create(file=("notes.txt", b"x"), purpose="assistants")
    with pytest.raises(openai.BadRequestError, match="Not allowed to download"):
        client.files.content(assistants.id)
    expiring = client.files.create(file=("e.txt", b"x"), purpose="user_data",
                                   expires_after={"anchor": "created_at", "seconds": 3600})
    assert expiring.expires_at == expiring.created_at + 3600


# --- fine-tuning -------------------------------------------------------------------------------


def upload_training(client: openai.OpenAI, examples: int = 10) -> str:
    return client.files.create(file=("train.jsonl", training_jsonl(examples)), purpose="fine-tune").id


def test_fine_tuning_job_runs_to_success_per_poll(client: openai.OpenAI, sim: OpenAISimulator) -> None:
    sim.knobs.ft_step_ms = 0  # one step per retrieve
    training = upload_training(client)
    raw = client.fine_tuning.jobs.with_raw_response.create(model="gpt-4o-mini-2024-07-18", training_file=training,
                                                           suffix="demo", seed=42, metadata={"team": "relay"})
    job = raw.parse()
    validate("FineTuningJob", orjson.loads(raw.http_response.content))
    assert job.status == "validating_files" and job.id.startswith("ftjob-") and job.fine_tuned_model is None
    assert job.seed == 42 and job.hyperparameters.n_epochs == 3 and job.method.type == "supervised"
    ft_name_prefix = "ft:gpt-4o-mini-2024-07-18:simulated:demo:"
    statuses = []
    for _ in range(5):
        raw = client.fine_tuning.jobs.with_raw_response.retrieve(job.id)
        validate("FineTuningJob", orjson.loads(raw.http_response.content))
        current = raw.parse()
        statuses.append(current.status)
        if current.status != "succeeded":
            with pytest.raises(openai.NotFoundError):
                client.chat.completions.create(model=ft_name_prefix + "x", messages=[{"role": "user", "content": "x"}])
    assert statuses == ["queued", "running", "running", "running", "succeeded"]
    assert current.fine_tuned_model.startswith(ft_name_prefix) and current.finished_at is not None
    tokens_per_epoch = sum(tok(f"question {i}") + tok(f"answer {i}") for i in range(10))
    assert current.trained_tokens == 3 * tokens_per_epoch and len(current.result_files) == 1
    csv = client.files.content(current.result_files[0]).text
    assert csv.startswith("step,train_loss") and len(csv.strip().splitlines()) == 4
    reply = client.chat.completions.create(model=current.fine_tuned_model, messages=[{"role": "user", "content": "hi"}])
    assert reply.model == current.fine_tuned_model and reply.choices[0].message.content
    assert current.fine_tuned_model in [m.id for m in client.models.list()]

    events_raw = client.fine_tuning.jobs.with_raw_response.list_events(job.id, limit=50)
    validate("ListFineTuningJobEventsResponse", orjson.loads(events_raw.http_response.content))
    events = events_raw.parse().data
    assert events[0].message == "The job has successfully completed"
    assert events[-1].message.startswith("Validating training file") and not events_raw.parse().has_more
    assert [e.type for e in events].count("metrics") == 3
    older = client.fine_tuning.jobs.list_events(job.id, limit=2, after=events[1].id)
    assert [e.id for e in older.data] == [events[2].id, events[3].id] and older.has_more

    ckpt_raw = client.fine_tuning.jobs.checkpoints.with_raw_response.list(job.id)
    validate("ListFineTuningJobCheckpointsResponse", orjson.loads(ckpt_raw.http_response.content))
    checkpoints = ckpt_raw.parse().data
    assert [c.step_number for c in checkpoints] == [30, 20, 10]  # newest first, 10 examples / batch 1
    assert checkpoints[0].fine_tuned_model_checkpoint == f"{current.fine_tuned_model}:ckpt-step-30"
    listing = client.fine_tuning.jobs.with_raw_response.list()
    validate("ListPaginatedFineTuningJobsResponse", orjson.loads(listing.http_response.content))
    assert [j.id for j in listing.parse().data] == [job.id]
    assert client.fine_tuning.jobs.list(metadata={"team": "other"}).data == []


def test_fine_tuning_advances_on_time(client: openai.OpenAI, sim: OpenAISimulator) -> None:
    sim.knobs.ft_step_ms = 20
    job = client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=upload_training(client),
                                         hyperparameters={"n_epochs": 1})
    assert job.estimated_finish is not None
    deadline = time.monotonic() + 5
    while (current := client.fine_tuning.jobs.retrieve(job.id)).status != "succeeded":
        assert time.monotonic() < deadline, current.status
        time.sleep(0.02)
    assert current.fine_tuned_model.startswith("ft:gpt-4o-mini:simulated::")
    assert len(client.fine_tuning.jobs.checkpoints.list(job.id).data) == 1


def test_fine_tuning_cancel_and_failure(client: openai.OpenAI, sim: OpenAISimulator) -> None:
    sim.knobs.ft_step_ms = 0
    training = upload_training(client)
    job = client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=training)
    client.fine_tuning.jobs.retrieve(job.id)
    cancelled = client.fine_tuning.jobs.cancel(job.id)
    assert cancelled.status == "cancelled"
    with pytest.raises(openai.BadRequestError, match="cannot be cancelled"):
        client.fine_tuning.jobs.cancel(job.id)
    assert client.fine_tuning.jobs.retrieve(job.id).status == "cancelled"
    sim.knobs.ft_fail = True
    doomed = client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=training,
                                            method={"type": "supervised", "supervised": {"hyperparameters": {
                                                "n_epochs": 2, "batch_size": 4}}})
    assert doomed.hyperparameters.batch_size == 4
    client.fine_tuning.jobs.retrieve(doomed.id)
    failed = client.fine_tuning.jobs.retrieve(doomed.id)
    assert failed.status == "failed" and failed.error.code == "server_error" and failed.fine_tuned_model is None
    with pytest.raises(openai.NotFoundError):
        client.fine_tuning.jobs.retrieve("ftjob-missing")


@pytest.mark.parametrize(
    ("examples", "bad_line", "model", "message"),
    [
        (3, None, "gpt-4o-mini", "at least 10 examples"),
        (10, 4, "gpt-4o-mini", "example 5"),
        (10, None, "gpt-nope", "not available for fine-tuning"),
    ],
)
def test_fine_tuning_validation(client: openai.OpenAI, examples: int, bad_line: int | None, model: str,
                                message: str) -> None:
    training = client.files.create(file=("t.jsonl", training_jsonl(examples, bad_line)), purpose="fine-tune").id
    with pytest.raises(openai.BadRequestError, match=message):
        client.fine_tuning.jobs.create(model=model, training_file=training)


def test_fine_tuning_file_must_exist_with_purpose(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="invalid training_file"):
        client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file="file-missing")
    other = client.files.create(file=("t.jsonl", training_jsonl()), purpose="batch").id
    with pytest.raises(openai.BadRequestError, match="purpose 'fine-tune'"):
        client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=other)


# --- cross-cutting: auth, methods, faults -------------------------------------------------------


def test_auth_method_and_fault_conventions(sim: OpenAISimulator) -> None:
    bad = openai.OpenAI(base_url=sim.base_url, api_key="sk-wrong-key-9999", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.embeddings.create(model="text-embedding-3-small", input="x")
    with pytest.raises(openai.AuthenticationError):
        bad.files.list()
    wrong = httpx.get(f"{sim.base_url}/embeddings", headers=AUTH)
    assert wrong.status_code == 405
    assert wrong.json()["error"]["message"] == "Invalid method for URL (GET /v1/embeddings)"
    client = openai.OpenAI(base_url=sim.base_url, api_key=KEY, max_retries=0)
    sim.knobs.fail_next, sim.knobs.fail_status = 1, 503
    assert client.files.list().data == []  # listing never consumes an injected fault
    with pytest.raises(openai.InternalServerError):
        client.moderations.create(input="x")
    assert client.moderations.create(input="x").results
    sim.knobs.fail_next, sim.knobs.fail_status = 1, 429
    with pytest.raises(openai.RateLimitError):
        client.audio.transcriptions.create(model="whisper-1", file=("a.wav", wav_bytes(1)))
    log = httpx.get(f"{sim.base_url.removesuffix('/v1')}/__sim/requests").json()
    assert log[-1]["form"]["fields"] == {"model": "whisper-1"} and log[-1]["body"] == ""


def test_usage_and_stream_knobs_apply_to_new_endpoints(client: openai.OpenAI, sim: OpenAISimulator) -> None:
    sim.knobs.omit_usage = True
    assert client.completions.create(model="davinci-002", prompt="x").usage is None
    assert client.embeddings.create(model="text-embedding-3-small", input="x", encoding_format="float").usage is None
    sim.knobs.omit_usage, sim.knobs.stream_cut_after = False, 1
    with pytest.raises(Exception, match="incomplete chunked read"), client.audio.speech.with_streaming_response.create(
            model="tts-1", voice="alloy", input="x" * 300, response_format="wav") as response:
        b"".join(response.iter_bytes())
