"""State of the fake Qianfan API: the shared simulator state plus credentials and issued tokens."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from relaygate.simulators.anthropic.runner import SimState


@dataclass
class BaiduState(SimState):
    credentials: dict[str, str] | None = None
    """API key -> secret key; None accepts any pair."""
    tokens: dict[str, float] = field(default_factory=dict)
    """Issued access token -> expiry (unix seconds). Tokens survive ``reset()``, as at Baidu."""
    tokens_issued: int = 0
    """Tokens issued since the last reset: how often clients fetched one."""

    def issue_token(self, client_id: str, ttl_s: int) -> str:
        token = f"24.{os.urandom(16).hex()}.{ttl_s}.{int(time.time())}.{client_id[:6]}"
        self.tokens[token] = time.time() + ttl_s
        self.tokens_issued += 1
        return token

    def check_token(self, token: str) -> int:
        """0 when valid, else Qianfan's error code: 110 unknown, 111 expired."""
        expiry = self.tokens.get(token)
        if expiry is None:
            return 110
        return 111 if expiry <= time.time() else 0

    def expire_tokens(self) -> None:
        """Every token issued so far expires now (the next call with one gets error 111)."""
        past = time.time() - 1
        for token in self.tokens:
            self.tokens[token] = past

    def reset(self) -> None:
        super().reset()
        self.tokens_issued = 0
