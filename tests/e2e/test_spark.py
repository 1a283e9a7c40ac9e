"""Spark behind the OpenAI API: official openai SDK -> gateway -> simulated iFlytek WebSocket API."""

from __future__ import annotations

import json
import time

import httpx
import openai
import orjson
import pytest

from tests.conftest import SPARK_APP, SPARK_KEY
from tests.e2e.streams import WEATHER, read_stream_deltas
from tests.gateway import Gateway, micro, unique_model


def _channel(gw: Gateway, sim, upstream: str = "spark-v3.5", key: str = SPARK_KEY, **fields):  # type: ignore[no-untyped-def]
    model = unique_model("spark")
    channel = gw.channel(sim.base_url, [], keys=[key], type="spark", model_mapping={model: upstream}, **fields)
    gw.price(model, "0.40", "1.20")
    return model, channel


@pytest.fixture()
def spark(gateway: Gateway, spark_sim):  # type: ignore[no-untyped-def]
    model, channel = _channel(gateway, spark_sim)
    user, key = gateway.funded_key("10.00")
    return gateway, model, user, key, channel


def _wait(predicate, timeout: float = 10.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not reached")


def _closed(spark_sim, index: int = -1) -> str:  # type: ignore[no-untyped-def]
    """Who closed a session: the simulator notes it after its last frame, which the gateway may
    already have answered from."""
    return _wait(lambda: spark_sim.sessions[index]["closed_by"])


def test_text_reply_frame_mapping_usage_and_bill(spark, spark_sim) -> None:  # type: ignore[no-untyped-def]
    gw, model, user, key, channel = spark
    reply = gw.client(key["key"]).chat.completions.create(
        model=model, temperature=0, max_tokens=100, user="end-user-7", messages=[
            {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello there"}])
    assert reply.choices[0].message.content and reply.choices[0].finish_reason == "stop"
    session = spark_sim.sessions[-1]
    assert session["path"] == "/v3.5/chat" and _closed(spark_sim) == "server"
    assert session["frame"] == {
        "header": {"app_id": SPARK_APP, "uid": "end-user-7"},
        "parameter": {"chat": {"domain": "generalv3.5", "temperature": 0.01, "max_tokens": 100}},
        "payload": {"message": {"text": [{"role": "system", "content": "Be brief."},
                                         {"role": "user", "content": "Hello there"}]}}}
    usage = reply.usage
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0
    [rec] = gw.logs(key_id=key["id"])
    assert rec["channel_id"] == channel["id"] and rec["usage_source"] == "upstream"
    assert (rec["prompt_tokens"], rec["completion_tokens"]) == (usage.prompt_tokens, usage.completion_tokens)
    expected = -(-(usage.prompt_tokens * 400_000 + usage.completion_tokens * 1_200_000) // 1_000_000)
    assert micro(rec["cost"]) == expected
    assert micro(gw.get_user(user["id"])["balance"]) == 10_000_000 - expected


@pytest.mark.parametrize(("upstream", "path", "domain"), [
    ("spark-v1.5", "/v1.1/chat", "lite"), ("spark-v2.0", "/v2.1/chat", "generalv2"),
    ("spark-v3.0", "/v3.1/chat", "generalv3"), ("spark-v3.5", "/v3.5/chat", "generalv3.5"),
    ("spark-4.0-ultra", "/v4.0/chat", "4.0Ultra"), ("spark-max-32k", "/chat/max-32k", "max-32k"),
])
def test_versions_and_domains(gateway: Gateway, spark_sim, upstream: str, path: str, domain: str) -> None:  # type: ignore[no-untyped-def]
    model, _ = _channel(gateway, spark_sim, upstream)
    _user, key = gateway.funded_key("1.00")
    gateway.client(key["key"]).chat.completions.create(model=model, messages=[
        {"role": "system", "content": "S"}, {"role": "user", "content": "Q"}])
    session = spark_sim.sessions[-1]
    assert session["path"] == path and session["frame"]["parameter"]["chat"]["domain"] == domain
    text = session["frame"]["payload"]["message"]["text"]
    if domain in ("generalv3.5", "4.0Ultra", "max-32k"):
        assert text == [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}]
    else:  # older versions take no system role: it goes in front of the first question
        assert text == [{"role": "user", "content": "S\n\nQ"}]


def test_stream_parity_usage_one_socket_each(spark, spark_sim) -> None:  # type: ignore[no-untyped-def]
    gw, model, _user, key, _ = spark
    client = gw.client(key["key"])
    messages = [{"role": "user", "content": "Tell me about lanterns"}]
    whole = client.chat.completions.create(model=model, messages=messages)
    text, finish, usage, _ = read_stream_deltas(client, model=model, messages=messages)
    assert text == whole.choices[0].message.content and finish == "stop" and usage is None
    text, _, usage, _ = read_stream_deltas(client, model=model, messages=messages,
                                           stream_options={"include_usage": True})
    assert text == whole.choices[0].message.content
    assert (usage.prompt_tokens, usage.completion_tokens) == (whole.usage.prompt_tokens, whole.usage.completion_tokens)
    assert len(spark_sim.sessions) == 3 and all(_closed(spark_sim, i) == "server" for i in range(3))
    records = gw.logs(key_id=key["id"])
    assert len(records) == 3 and len({r["cost"] for r in records}) == 1
    assert all(r["status_code"] == 200 and r["usage_source"] == "upstream" for r in records)


def test_usage_sent_as_strings_still_counts(spark, spark_sim) -> None:  # type: ignore[no-untyped-def]
    gw, model, _user, key, _ = spark
    spark_sim.knobs.usage_as_strings = True
    reply = gw.client(key["key"]).chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}])
    assert reply.usage.completion_tokens > 0
    assert gw.logs(key_id=key["id"])[0]["usage_source"] == "upstream"


def test_function_call_where_supported(spark, spark_sim, gateway: Gateway) -> None:  # type: ignore[no-untyped-def]
    gw, model, _user, key, _ = spark
    client = gw.client(key["key"])
    messages = [{"role": "user", "content": "Use get_weather for Hefei"}]
    whole = client.chat.completions.create(model=model, messages=messages, tools=[WEATHER])
    assert whole.choices[0].finish_reason == "tool_calls"
    [call] = whole.choices[0].message.tool_calls
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "example city"}
    assert spark_sim.sessions[-1]["frame"]["payload"]["functions"]["text"][0]["name"] == "get_weather"
    _, finish, _, streamed = read_stream_deltas(client, model=model, messages=messages, tools=[WEATHER])
    assert finish == "tool_calls" and streamed[0].function.name == "get_weather"
    lite, _ = _channel(gateway, spark_sim, "spark-v1.5")
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=lite, messages=messages, tools=[WEATHER])
    assert "Function calling is not available" in info.value.message


@pytest.mark.parametrize(("code", "error", "status"), [
    (11202, openai.RateLimitError, 429), (10013, openai.BadRequestError, 400),
    (10907, openai.BadRequestError, 400), (10012, openai.InternalServerError, 500),
])
def test_error_frames_map_to_openai_errors(spark, spark_sim, code: int, error: type, status: int) -> None:  # type: ignore[no-untyped-def]
    gw, model, _user, key, _ = spark
    spark_sim.knobs.fail_next = 1
    spark_sim.knobs.fail_code = code
    with pytest.raises(error) as info:
        gw.client(key["key"]).chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == status
    if code == 10013:
        assert info.value.code == "content_filter"
    [rec] = gw.logs(key_id=key["id"])
    assert rec["status_code"] == status and micro(rec["cost"]) == 0
    assert _closed(spark_sim) == "server"


@pytest.mark.parametrize("stream", [False, True])
def test_output_moderation_ends_with_content_filter(spark, spark_sim, stream: bool) -> None:  # type: ignore[no-untyped-def]
    gw, model, _user, key, _ = spark
    spark_sim.knobs.moderation_after = 2
    client = gw.client(key["key"])
    messages = [{"role": "user", "content": "something"}]
    if stream:
        text, finish, _, _ = read_stream_deltas(client, model=model, messages=messages)
    else:
        reply = client.chat.completions.create(model=model, messages=messages)
        text, finish = reply.choices[0].message.content, reply.choices[0].finish_reason
    assert finish == "content_filter" and len(text.split()) == 6  # two frames of three words made it
    [rec] = gw.logs(key_id=key["id"])
    assert rec["status_code"] == 200 and rec["usage_source"] == "local" and rec["completion_tokens"] > 0


def test_wrong_secret_and_clock_skew_are_clear_errors(gateway: Gateway, spark_sim) -> None:  # type: ignore[no-untyped-def]
    model, _ = _channel(gateway, spark_sim, key=f"{SPARK_APP}|not-the-secret|spark-api-key-0001")
    _user, key = gateway.funded_key("1.00")
    client = gateway.client(key["key"])
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == 502 and "credentials (401)" in info.value.message
    assert "APPID|APISecret|APIKey" in info.value.message and "clock" in info.value.message
    good, _ = _channel(gateway, spark_sim)
    spark_sim.knobs.clock_offset_s = 900  # the upstream sees our date 15 minutes in the past
    with pytest.raises(openai.InternalServerError):
        read_stream_deltas(client, model=good, messages=[{"role": "user", "content": "x"}])
    assert spark_sim.handshakes_refused == 2 and not spark_sim.sessions  # refused before any upgrade
    spark_sim.knobs.clock_offset_s = 120  # within the allowed skew
    assert client.chat.completions.create(model=good, messages=[{"role": "user", "content": "x"}]).choices
    with pytest.raises(openai.InternalServerError) as bad_key:
        client.chat.completions.create(model=_channel(gateway, spark_sim, key="only|two")[0],
                                       messages=[{"role": "user", "content": "x"}])
    assert "APPID|APISecret|APIKey" in bad_key.value.message


def test_client_disconnect_closes_the_websocket_cleanly_and_bills_what_was_sent(spark, spark_sim) -> None:  # type: ignore[no-untyped-def]
    gw, model, user, key, _ = spark
    spark_sim.knobs.reply_words = 300
    spark_sim.knobs.words_per_frame = 1
    spark_sim.knobs.trickle_ms = 20  # the full answer takes about 6 s
    received = ""
    with httpx.stream("POST", f"{gw.url}/v1/chat/completions", headers={"Authorization": f"Bearer {key['key']}"},
                      json={"model": model, "stream": True, "messages": [{"role": "user", "content": "go"}]},
                      timeout=30) as resp:
        assert resp.status_code == 200
        events = 0
        for line in resp.iter_lines():
            if line.startswith("data: {"):
                received += orjson.loads(line[6:])["choices"][0]["delta"].get("content") or ""
                events += 1
                if events == 10:
                    break
    rec = _wait(lambda: next(iter(gw.logs(key_id=key["id"])), None))
    assert rec["outcome"] == "client_cancelled" and rec["status_code"] == 499
    assert rec["latency_ms"] < 4000, "the gateway kept reading after the client left"
    assert 0 < rec["completion_tokens"] < 150 and rec["usage_source"] == "local"
    assert len(received.split()) <= rec["completion_tokens"] + 2
    session = _wait(lambda: spark_sim.sessions[-1] if spark_sim.sessions[-1]["closed_by"] else None)
    assert session["closed_by"] == "client" and session["close_code"] == 1000  # a closing handshake, not a drop
    assert session["frames_sent"] < 150
    assert micro(rec["cost"]) == 10_000_000 - micro(gw.get_user(user["id"])["balance"]) > 0


def test_server_drop_mid_stream_and_before_the_answer(spark, spark_sim, gateway: Gateway) -> None:  # type: ignore[no-untyped-def]
    gw, model, _user, key, _ = spark
    client = gw.client(key["key"])
    spark_sim.knobs.stream_cut_after = 3
    with pytest.raises(openai.APIError) as info:
        read_stream_deltas(client, model=model, messages=[{"role": "user", "content": "x"}])
    assert "incomplete" in str(info.value.message)
    rec = gw.logs(key_id=key["id"])[0]
    assert rec["status_code"] == 502 and rec["completion_tokens"] > 0 and micro(rec["cost"]) > 0
    # before the first frame: another channel takes over (the pipeline's failover)
    spark_sim.knobs.stream_cut_after = 0
    gateway.channel(spark_sim.base_url, [], keys=[SPARK_KEY], type="spark", model_mapping={model: "spark-v3.0"},
                    priority=-1)
    with pytest.raises(openai.InternalServerError):  # both channels reach the same dropping server
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}])
    assert gw.logs(key_id=key["id"])[0]["tries"] == 2


def test_silent_upstream_times_out(gateway: Gateway, spark_sim) -> None:  # type: ignore[no-untyped-def]
    model, _ = _channel(gateway, spark_sim, timeout_s=1)
    _user, key = gateway.funded_key("1.00")
    spark_sim.knobs.hang = True
    with pytest.raises(openai.APIStatusError) as info:
        gateway.client(key["key"]).chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == 504


def test_anthropic_callers_reach_spark_and_ernie_too(spark, spark_sim, gateway: Gateway, baidu_sim) -> None:  # type: ignore[no-untyped-def]
    import anthropic

    from tests.conftest import BAIDU_KEY

    gw, model, _user, key, _ = spark
    ernie = unique_model("ernie")
    gw.channel(baidu_sim.base_url, [], keys=[BAIDU_KEY], type="baidu", model_mapping={ernie: "ernie-bot"})
    gw.price(ernie, "0.40", "1.20")
    client = anthropic.Anthropic(base_url=gw.url, api_key=key["key"], max_retries=0)
    for name in (model, ernie):
        whole = client.messages.create(model=name, max_tokens=200, system="Be brief.",
                                       messages=[{"role": "user", "content": "Hello"}])
        assert whole.content[0].text and whole.stop_reason == "end_turn" and whole.usage.output_tokens > 0
        with client.messages.stream(model=name, max_tokens=200, system="Be brief.",
                                    messages=[{"role": "user", "content": "Hello"}]) as stream:
            assert "".join(stream.text_stream) == whole.content[0].text
    assert _closed(spark_sim) == "server"
    assert [r["endpoint"] for r in gw.logs(key_id=key["id"])] == ["messages"] * 4
