"""Knobs of the fake Baidu Fanyi API."""

from __future__ import annotations

from dataclasses import dataclass

from relaygate.simulators.anthropic.runner import BaseKnobs


@dataclass
class Knobs(BaseKnobs):
    fail_code: int = 54003
    """``error_code`` of injected failures (sent with HTTP 200): 54003 access limit, 54004 balance,
    52001 timeout, 52002 system error, 58000 client IP..."""
