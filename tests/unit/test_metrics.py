"""Metrics add up across worker processes and render as valid Prometheus text."""

from __future__ import annotations

import json
import os
from pathlib import Path

from relaygate.relay.metrics import Metrics, collect, process_sample, render


def test_histogram_buckets_are_cumulative_and_sum_and_count_add_up() -> None:
    m = Metrics()
    for overhead in (0.05, 0.3, 0.3, 7.0, 500.0):
        m.observe("chat.completions", 200, overhead, 0.2)
    m.observe("chat.completions", 429, 0.2, 0.01)
    text = render([m.state()])
    assert 'relaygate_requests_total{endpoint="chat.completions",status="200"} 5' in text
    assert 'relaygate_requests_total{endpoint="chat.completions",status="429"} 1' in text
    assert 'relaygate_overhead_ms_bucket{le="0.1"} 1' in text
    assert 'relaygate_overhead_ms_bucket{le="0.5"} 4' in text
    assert 'relaygate_overhead_ms_bucket{le="10.0"} 5' in text
    assert 'relaygate_overhead_ms_bucket{le="+Inf"} 6' in text
    assert "relaygate_overhead_ms_count 6" in text


def test_collect_adds_live_workers_and_forgets_dead_ones(tmp_path: Path) -> None:
    other = Metrics()
    other.observe("chat.completions", 200, 1.0, 0.1)
    (tmp_path / f"{os.getppid()}.json").write_text(json.dumps(other.state()))  # a live process
    (tmp_path / "999999999.json").write_text(json.dumps(other.state()))  # no such process
    own = Metrics()
    own.observe("chat.completions", 200, 1.0, 0.1)
    text = render(collect(tmp_path, own))
    assert 'relaygate_requests_total{endpoint="chat.completions",status="200"} 2' in text
    assert not (tmp_path / "999999999.json").exists()


async def test_process_gauges_are_this_processes_and_per_worker(tmp_path: Path) -> None:
    import asyncio

    held = [asyncio.create_task(asyncio.sleep(5)) for _ in range(3)]
    try:
        mine = process_sample()
    finally:
        for task in held:
            task.cancel()
    assert mine["pid"] == os.getpid()
    assert mine["tasks"] >= 4  # the three above and this test's own
    fd = os.open(os.devnull, os.O_RDONLY)  # one more open file must show
    try:
        assert process_sample()["open_fds"] == mine["open_fds"] + 1
    finally:
        os.close(fd)
    assert mine["rss_bytes"] > 10 * 1024 * 1024  # a Python process with the relay imported
    other = Metrics()
    (tmp_path / f"{os.getppid()}.json").write_text(json.dumps(
        other.state({"pid": os.getppid(), "rss_bytes": 123, "open_fds": 7, "tasks": 2, "cpu_seconds": 1.5})))
    text = render(collect(tmp_path, Metrics(), mine))
    assert f'process_resident_memory_bytes{{pid="{os.getppid()}"}} 123' in text
    assert f'process_open_fds{{pid="{os.getpid()}"}} {mine["open_fds"]}' in text
    assert f'relaygate_asyncio_tasks{{pid="{os.getppid()}"}} 2' in text
    assert "# TYPE process_cpu_seconds_total counter" in text
    assert text.count("# TYPE relaygate_asyncio_tasks gauge") == 1
