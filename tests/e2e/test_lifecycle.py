"""Streams that end early and processes that stop: nothing lost, nothing over-billed."""

from __future__ import annotations

import signal
import threading
import time

import httpx
import orjson

from tests.gateway import Gateway, micro, unique_model


def _wait_record(gw: Gateway, key_id: int, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        records = gw.logs(key_id=key_id)
        if records:
            return records[0]
        time.sleep(0.1)
    raise AssertionError("no usage record was written")


def test_client_disconnect_mid_stream_stops_upstream_and_bills_what_was_relayed(gateway: Gateway, sim) -> None:  # type: ignore[no-untyped-def]
    model = unique_model("gpt-4o-mini")
    gateway.channel(sim.base_url, [model])
    gateway.price(model, "1.00", "1.00")
    user, key = gateway.funded_key("10.00")
    sim.knobs.reply_words = 300
    sim.knobs.trickle_ms = 20  # a full answer takes about 6 s
    received = ""
    with httpx.stream("POST", f"{gateway.url}/v1/chat/completions",
                      headers={"Authorization": f"Bearer {key['key']}"},
                      json={"model": model, "stream": True, "messages": [{"role": "user", "content": "go"}]},
                      timeout=30) as resp:
        assert resp.status_code == 200
        events = 0
        for line in resp.iter_lines():
            if line.startswith("data: {"):
                delta = orjson.loads(line[6:])["choices"][0]["delta"]
                received += delta.get("content") or ""
                events += 1
                if events == 10:
                    break
    started = time.monotonic()
    rec = _wait_record(gateway, key["id"])
    assert rec["outcome"] == "client_cancelled" and rec["status_code"] == 499
    assert rec["latency_ms"] < 4000, "the gateway kept streaming after the client left"
    assert time.monotonic() - started < 4
    # billed for what was relayed (possibly a few chunks more that were in flight), not the full answer
    assert 0 < rec["completion_tokens"] < 150
    assert len(received.split()) <= rec["completion_tokens"] + 2
    spent = 10_000_000 - micro(gateway.get_user(user["id"])["balance"])
    assert spent == micro(rec["cost"]) > 0


def test_sigterm_finishes_streams_in_flight_and_loses_no_record(fresh_database_url: str, sim, tmp_path) -> None:  # type: ignore[no-untyped-def]
    gw = Gateway(tmp_path / "gw", fresh_database_url).start()
    try:
        model = unique_model()
        gw.channel(sim.base_url, [model])
        gw.price(model, "1.00", "2.00")
        user, key = gw.funded_key("10.00")
        sim.knobs.reply_words = 40
        sim.knobs.trickle_ms = 25  # about 1 s per stream
        outcomes: list[tuple[int, bool, int]] = []
        streaming = threading.Barrier(11)  # ten streams under way, plus this thread
        client = httpx.Client(timeout=30)

        def stream() -> None:
            with client.stream("POST", f"{gw.url}/v1/chat/completions",
                               headers={"Authorization": f"Bearer {key['key']}"},
                               json={"model": model, "stream": True,
                                     "messages": [{"role": "user", "content": "hello"}]}) as resp:
                lines = resp.iter_lines()
                first = next(lines)
                streaming.wait(10)
                rest = [first, *lines]
                words = sum(1 for ln in rest if ln.startswith("data: {"))
                outcomes.append((resp.status_code, "data: [DONE]" in rest, words))

        threads = [threading.Thread(target=stream) for _ in range(10)]
        for t in threads:
            t.start()
        streaming.wait(20)  # every stream has its first event: all ten are in flight
        gw.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        try:
            httpx.get(f"{gw.url}/v1/models", timeout=1)
            refused = False
        except httpx.TransportError:
            refused = True
        for t in threads:
            t.join(30)
        client.close()
        code = gw.proc.wait(30)
    finally:
        gw.stop()
    assert code == 0, gw.log()
    assert refused, "the gateway still accepted new connections after SIGTERM"
    assert len(outcomes) == 10 and all(status == 200 and done for status, done, _ in outcomes), (outcomes, gw.log())
    # a new process on the same database sees every record and a consistent balance
    again = Gateway(tmp_path / "gw", fresh_database_url).start()
    try:
        records = again.logs(key_id=key["id"])
        assert len(records) == 10 and all(r["status_code"] == 200 for r in records)
        spent = sum(micro(r["cost"]) for r in records)
        assert micro(again.get_user(user["id"])["balance"]) == 10_000_000 - spent
    finally:
        assert again.stop() == 0
