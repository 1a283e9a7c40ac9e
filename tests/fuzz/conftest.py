"""A gateway of its own for the fuzzers: SQLite, small body limits (so 413s are cheap to provoke),
a channel to the OpenAI simulator serving one model per endpoint family, priced, and a key whose
balance no fuzzed request can exhaust."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.fuzz.harness import CASES, OUTCOMES
from tests.gateway import ADMIN_KEY, Gateway

MAX_BODY_BYTES = 64 * 1024
MAX_UPLOAD_BYTES = 256 * 1024

# One served model per endpoint family (the simulator answers each family for fitting names).
MODELS = {
    "chat": "gpt-4o-mini",
    "completions": "gpt-3.5-turbo-instruct",
    "embeddings": "text-embedding-3-small",
    "moderations": "omni-moderation-latest",
    "images": "dall-e-2",
    "speech": "tts-1",
    "transcriptions": "whisper-1",
    "fine_tuning": "gpt-4o-mini-2024-07-18",
}


@dataclass(frozen=True)
class FuzzEnv:
    gw: Gateway
    key: str  # a user key with a huge balance and every model
    http: httpx.Client  # authenticated with ``key``
    admin: httpx.Client  # authenticated with the admin key

    @property
    def url(self) -> str:
        return self.gw.url


@pytest.fixture(scope="session")
def fuzz(sim, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzEnv]:  # type: ignore[no-untyped-def]
    data = tmp_path_factory.mktemp("fuzz-gateway")
    # auto_disable_failures=0: an upstream 5xx shows as itself, not as the 503s of a disabled channel
    gw = Gateway(data, f"sqlite+aiosqlite:///{data / 'fuzz.db'}", max_body_bytes=MAX_BODY_BYTES,
                 max_upload_bytes=MAX_UPLOAD_BYTES, first_byte_timeout_s=10, upstream_timeout_s=20,
                 auto_disable_failures=0).start()
    try:
        gw.channel(sim.base_url, sorted(set(MODELS.values())), config={"files": True})
        for model in set(MODELS.values()):
            gw.price(model, "0.01", "0.02", per_image="0.01", per_second="0.0001", per_character="0.01")
        _user, key = gw.funded_key("1000000000.00")
        with httpx.Client(base_url=gw.url, headers={"Authorization": f"Bearer {key['key']}"}, timeout=60) as http, \
                httpx.Client(base_url=gw.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=60) as admin:
            yield FuzzEnv(gw, key["key"], http, admin)
    finally:
        code = gw.stop()
        log = gw.log()
        assert code == 0, f"fuzz gateway exited with {code}:\n{log[-5000:]}"
        assert "Traceback" not in log and "unhandled error" not in log, f"the gateway logged a crash:\n{log[-8000:]}"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not CASES:
        return
    terminalreporter.section("fuzz cases run")
    for family, count in sorted(CASES.items()):
        split = "  ".join(f"{k}xx: {OUTCOMES[family, k]}" for k in range(1, 6) if OUTCOMES[family, k])
        terminalreporter.write_line(f"{family:<44} {count:>7}   {split}")
    terminalreporter.write_line(f"{'total':<44} {sum(CASES.values()):>7}")
