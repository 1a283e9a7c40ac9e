"""Knobs of the fake Qianfan v1 upstream (the shared fault knobs plus ERNIE-specific ones)."""

from __future__ import annotations

from dataclasses import dataclass

from relaygate.simulators.anthropic.runner import BaseKnobs


@dataclass
class Knobs(BaseKnobs):
    fail_code: int = 336100
    """``error_code`` of injected failures (``fail_next``/``error_rate``), sent with HTTP 200 as
    Qianfan does: e.g. 18 (QPS limit), 17 (daily limit), 336100 (busy), 110/111 (token). 0 sends
    an HTTP ``fail_status`` error instead."""
    token_ttl_s: int = 2592000
    """``expires_in`` of issued access tokens (30 days, as Baidu)."""
    token_latency_ms: int = 0
    """Extra delay of the token endpoint (so concurrent fetches would overlap)."""
    is_truncated: bool = False
    """Answers say ``is_truncated: true`` (cut by the output limit)."""
    need_clear_history: bool = False
    """Answers are judged unsafe: ``need_clear_history: true`` with ``ban_round``."""
    words_per_event: int = 3
    """Words of text per streamed event."""
