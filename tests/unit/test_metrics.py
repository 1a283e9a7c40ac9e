"""Metrics add up across worker processes and render as valid Prometheus text."""

from __future__ import annotations

import json
import os
from pathlib import Path

from relaygate.relay.metrics import Metrics, collect, render


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
