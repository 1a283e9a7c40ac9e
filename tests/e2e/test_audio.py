"""Speech (binary, streamed through), transcriptions and translations (uploads), priced per unit."""

from __future__ import annotations

import math
import time

import httpx
import openai
import orjson
import pytest

from relaygate.simulators.openai import audiofmt
from tests.gateway import Gateway, micro, unique_model
from tests.openapi_schemas import validate

CONTENT_TYPES = {"mp3": "audio/mpeg", "opus": "audio/opus", "aac": "audio/aac", "flac": "audio/flac",
                 "wav": "audio/wav", "pcm": "audio/pcm"}


def wav_bytes(seconds: float) -> bytes:
    return audiofmt.wav(audiofmt.pcm(seconds, b"test-audio"))


@pytest.fixture()
def audio(gateway: Gateway, sim):  # type: ignore[no-untyped-def]
    tts, whisper, gpt4o = unique_model("tts-1"), unique_model("whisper-1"), unique_model("gpt-4o-transcribe")
    gateway.channel(sim.base_url, [], model_mapping={tts: "tts-1", whisper: "whisper-1", gpt4o: "gpt-4o-transcribe"})
    gateway.price(tts, "0", "0", per_character="15.00")  # per 1M characters
    gateway.price(whisper, "0", "0", per_second="0.0001", per_request="0.00001")
    gateway.price(gpt4o, "2.50", "10.00")  # token-priced: billed on the usage it reports
    user, key = gateway.funded_key("10.00")
    return gateway, user, key, tts, whisper, gpt4o


@pytest.mark.parametrize("fmt", ["mp3", "opus", "aac", "flac", "wav", "pcm"])
def test_speech_every_format_streamed_and_billed_per_character(audio, sim, fmt: str) -> None:  # type: ignore[no-untyped-def]
    gw, user, key, tts, _, _ = audio
    client = gw.client(key["key"])
    text = "Hello from the simulated speech endpoint."
    direct = httpx.post(f"{sim.base_url}/audio/speech", headers={"Authorization": "Bearer sk-sim-1"},
                        json={"model": "tts-1", "voice": "alloy", "input": text, "response_format": fmt}).content
    with client.audio.speech.with_streaming_response.create(model=tts, voice="alloy", input=text,
                                                            response_format=fmt) as response:
        assert response.headers["content-type"] == CONTENT_TYPES[fmt]
        chunks = list(response.iter_bytes(chunk_size=None))
    assert b"".join(chunks) == direct, "relayed byte for byte"
    assert sim.requests[-1].json["model"] == "tts-1"
    [rec] = gw.logs(key_id=key["id"])
    assert rec["endpoint"] == "audio.speech" and rec["prompt_tokens"] == len(text)
    assert micro(rec["cost"]) == math.ceil(len(text) * 15_000_000 / 1_000_000)
    assert micro(gw.get_user(user["id"])["balance"]) == 10_000_000 - micro(rec["cost"])


def test_speech_is_streamed_as_it_arrives(audio, sim) -> None:  # type: ignore[no-untyped-def]
    gw, _user, key, tts, _, _ = audio
    sim.knobs.trickle_ms = 200  # the simulator pauses between its (at least four) chunks
    started = time.monotonic()
    arrivals = []
    with gw.client(key["key"]).audio.speech.with_streaming_response.create(
            model=tts, voice="nova", input="A sentence long enough for several chunks of audio.",
            response_format="mp3") as response:
        assert response.headers["transfer-encoding"] == "chunked"
        for _chunk in response.iter_bytes(chunk_size=None):
            arrivals.append(time.monotonic() - started)
    assert len(arrivals) >= 3 and arrivals[-1] - arrivals[0] >= 0.4, "the first audio came before the last was made"


def test_speech_caller_leaving_stops_the_upstream_call(audio, sim) -> None:  # type: ignore[no-untyped-def]
    gw, _user, key, tts, _, _ = audio
    sim.knobs.trickle_ms = 300
    text = "x" * 600
    with gw.client(key["key"]).audio.speech.with_streaming_response.create(model=tts, voice="alloy", input=text,
                                                                           response_format="wav") as response:
        next(response.iter_bytes())  # then leave
    deadline = time.monotonic() + 5
    while not (records := gw.logs(key_id=key["id"])) and time.monotonic() < deadline:
        time.sleep(0.05)
    [rec] = records
    assert (rec["status_code"], rec["outcome"]) == (499, "client_cancelled")
    assert rec["latency_ms"] < 2000, "the relay stopped when the caller left, not when the audio ended"
    assert micro(rec["cost"]) == len(text) * 15  # the upstream bills the whole input


def test_speech_errors_and_broken_stream(audio, sim) -> None:  # type: ignore[no-untyped-def]
    gw, _user, key, tts, _, _ = audio
    client = gw.client(key["key"])
    with pytest.raises(openai.BadRequestError) as voice:  # the upstream's own validation, passed on
        client.audio.speech.create(model=tts, voice="robot", input="x")  # type: ignore[arg-type]
    assert voice.value.param == "voice"
    r = httpx.post(f"{gw.url}/v1/audio/speech", headers={"Authorization": f"Bearer {key['key']}"},
                   json={"model": tts, "voice": "alloy"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "input"
    sim.knobs.stream_cut_after = 1
    with pytest.raises(Exception, match=r"incomplete|peer closed|RemoteProtocolError"), \
            client.audio.speech.with_streaming_response.create(model=tts, voice="alloy", input="x" * 300,
                                                               response_format="wav") as response:
        b"".join(response.iter_bytes())
    sim.knobs.stream_cut_after = None
    records = {rec["status_code"]: rec for rec in gw.logs(key_id=key["id"])}
    assert micro(records[400]["cost"]) == 0
    assert records[502]["outcome"] == "upstream_error" and micro(records[502]["cost"]) == math.ceil(300 * 15)


@pytest.mark.parametrize("fmt", ["json", "text", "srt", "verbose_json", "vtt"])
def test_transcription_every_format_billed_per_second(audio, sim, fmt: str) -> None:  # type: ignore[no-untyped-def]
    gw, _user, key, _, whisper, _ = audio
    client = gw.client(key["key"])
    clip = wav_bytes(8.4)
    raw = client.audio.transcriptions.with_raw_response.create(model=whisper, file=("talk.wav", clip),
                                                               response_format=fmt)
    content = raw.http_response.content
    if fmt == "json":
        validate("CreateTranscriptionResponseJson", orjson.loads(content))
    elif fmt == "verbose_json":
        body = orjson.loads(content)
        validate("CreateTranscriptionResponseVerboseJson", body)
        assert body["duration"] == 8.4
    elif fmt == "srt":
        assert content.startswith(b"1\n00:00:00,000 --> ")
    elif fmt == "vtt":
        assert content.startswith(b"WEBVTT\n\n")
    else:
        assert raw.http_response.headers["content-type"].startswith("text/plain") and content.endswith(b"\n")
    form = sim.requests[-1].form
    assert form["fields"]["model"] == "whisper-1" and form["files"][0]["size"] == len(clip)
    [rec] = gw.logs(key_id=key["id"])
    assert rec["endpoint"] == "audio.transcriptions" and rec["prompt_tokens"] == 9  # 8.4 s, whole seconds up
    assert micro(rec["cost"]) == 9 * 100 + 10


@pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")
@pytest.mark.parametrize("fmt", ["json", "text", "srt", "verbose_json", "vtt"])
def test_translation_every_format(audio, fmt: str) -> None:  # type: ignore[no-untyped-def]
    gw, _user, key, _, whisper, _ = audio
    raw = gw.client(key["key"]).audio.translations.with_raw_response.create(
        model=whisper, file=("fr.wav", wav_bytes(4.0)), response_format=fmt)
    if fmt == "json":
        validate("CreateTranslationResponseJson", orjson.loads(raw.http_response.content))
    elif fmt == "verbose_json":
        validate("CreateTranslationResponseVerboseJson", orjson.loads(raw.http_response.content))
    [rec] = gw.logs(key_id=key["id"])
    assert rec["endpoint"] == "audio.translations" and rec["prompt_tokens"] == 4
    assert micro(rec["cost"]) == 4 * 100 + 10


def test_transcription_duration_sources_and_token_pricing(audio) -> None:  # type: ignore[no-untyped-def]
    gw, _user, key, _, whisper, gpt4o = audio
    client = gw.client(key["key"])
    mp3 = audiofmt.mp3(4.0, b"x")[:32000]  # not a WAV: the upstream says 2 s
    verbose = client.audio.transcriptions.create(model=whisper, file=("clip.mp3", mp3), response_format="verbose_json")
    assert verbose.duration == 2.0
    client.audio.transcriptions.create(model=whisper, file=("clip.mp3", mp3), response_format="srt")  # last cue: 2 s
    client.audio.transcriptions.create(model=whisper, file=("clip.mp3", mp3), response_format="text")  # size: 2 s
    raw = client.audio.transcriptions.with_raw_response.create(model=gpt4o, file=("clip.mp3", mp3))
    usage = orjson.loads(raw.http_response.content)["usage"]
    records = gw.logs(key_id=key["id"])
    whisper_records = [r for r in records if r["model"] == whisper]
    assert [r["prompt_tokens"] for r in whisper_records] == [2, 2, 2]
    assert [r["usage_source"] for r in whisper_records] == ["local", "local", "upstream"]  # newest first
    [token_priced] = [r for r in records if r["model"] == gpt4o]
    assert (token_priced["prompt_tokens"], token_priced["completion_tokens"]) == (usage["input_tokens"],
                                                                                  usage["output_tokens"])
    assert micro(token_priced["cost"]) == -(-(usage["input_tokens"] * 2_500_000 + usage["output_tokens"]
                                              * 10_000_000) // 1_000_000)


def test_transcription_errors(audio, sim) -> None:  # type: ignore[no-untyped-def]
    gw, _user, key, _, whisper, _ = audio
    client = gw.client(key["key"])
    auth = {"Authorization": f"Bearer {key['key']}"}
    r = httpx.post(f"{gw.url}/v1/audio/transcriptions", headers=auth, data={"model": whisper})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_content_type"
    r = httpx.post(f"{gw.url}/v1/audio/transcriptions", headers=auth, data={"model": whisper},
                   files={"other": ("a.wav", b"RIFF")})
    assert r.status_code == 400 and r.json()["error"]["param"] == "file"
    r = httpx.post(f"{gw.url}/v1/audio/transcriptions", headers=auth, files={"file": ("a.wav", wav_bytes(1))})
    assert r.status_code == 400 and r.json()["error"]["param"] == "model"
    with pytest.raises(openai.BadRequestError) as fmt:
        client.audio.transcriptions.create(model=whisper, file=("a.wav", wav_bytes(1)), response_format="docx")  # type: ignore[arg-type]
    assert fmt.value.param == "response_format"
    with pytest.raises(openai.BadRequestError) as short:  # the upstream's 400, passed on, not billed
        client.audio.transcriptions.create(model=whisper, file=("tiny.wav", wav_bytes(0.05)))
    assert short.value.code == "audio_too_short"
    # the model field after the file (curl's order): read from the spool before the channel is picked
    body = (b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n\r\n" + wav_bytes(2.0)
            + b"\r\n--b\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\n" + whisper.encode()
            + b"\r\n--b--\r\n")
    r = httpx.post(f"{gw.url}/v1/audio/transcriptions", content=body,
                   headers={**auth, "Content-Type": "multipart/form-data; boundary=b"})
    assert r.status_code == 200 and r.json()["text"]
    assert sim.requests[-1].form["fields"] == {"model": "whisper-1"}
    assert sum(micro(rec["cost"]) for rec in gw.logs(key_id=key["id"])) == 2 * 100 + 10
