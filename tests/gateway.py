"""A real relaygate process for end-to-end tests, driven over HTTP like an operator would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import openai

from tests.services import free_port

ADMIN_KEY = "rg-admin-test-0123456789"


class Gateway:
    def __init__(self, data_dir: Path, database_url: str = "", **settings: Any) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "RELAYGATE_ADMIN_KEY": ADMIN_KEY,
            "RELAYGATE_DATA_DIR": str(data_dir),
            "RELAYGATE_PORT": str(self.port),
            "RELAYGATE_DATABASE_URL": database_url,
            "RELAYGATE_USAGE_FLUSH_INTERVAL_S": "0.05",
            "RELAYGATE_HEALTH_CHECK_INTERVAL_S": "0.3",
            "RELAYGATE_AUTO_DISABLE_FAILURES": "3",
            "RELAYGATE_STATE_POLL_INTERVAL_S": "0.5",
            "RELAYGATE_FIRST_BYTE_TIMEOUT_S": "5",
            "RELAYGATE_UPSTREAM_TIMEOUT_S": "10",
            "RELAYGATE_SHUTDOWN_GRACE_S": "20",
            "RELAYGATE_LOG_LEVEL": "warning",
            "RELAYGATE_AUTH_FAILURES_PER_MINUTE": "100000",  # tests send wrong keys on purpose
        }
        self.env.update({f"RELAYGATE_{k.upper()}": str(v) for k, v in settings.items()})
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir / "gateway.log"
        self.admin = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"},
                                  timeout=30)

    # --- process ---------------------------------------------------------------------------
    def start(self, timeout: float = 30.0) -> Gateway:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen([sys.executable, "-m", "relaygate.cli", "serve"], env=self.env,
                                     stdout=log, stderr=subprocess.STDOUT, cwd=self.data_dir)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/v1/models", timeout=1).status_code == 401:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"gateway did not start in {timeout}s:\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    # --- management API ----------------------------------------------------------------------
    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        resp = self.admin.request(method, path, **kwargs)
        assert resp.status_code < 300, f"{method} {path} -> {resp.status_code}: {resp.text}"
        return resp.json() if resp.content else None

    def channel(self, base_url: str, models: list[str], keys: list[str] | None = None, **fields: Any) -> dict:
        body = {"name": f"ch-{uuid.uuid4().hex[:8]}", "type": "openai", "base_url": base_url,
                "keys": keys or ["sk-sim-1"], "models": models, **fields}
        return self.api("POST", "/api/channels", json=body)

    def price(self, model: str, input: str = "1.00", output: str = "2.00", **fields: Any) -> dict:
        return self.api("PUT", f"/api/prices/{model}", json={"input": input, "output": output, **fields})

    def user(self, balance: str = "10.00", group: str = "default") -> dict:
        return self.api("POST", "/api/users", json={"name": f"u-{uuid.uuid4().hex[:8]}", "group": group,
                                                     "balance": balance})

    def key(self, user_id: int, **fields: Any) -> dict:
        return self.api("POST", "/api/keys", json={"user_id": user_id, **fields})

    def funded_key(self, balance: str = "10.00", **fields: Any) -> tuple[dict, dict]:
        user = self.user(balance)
        return user, self.key(user["id"], **fields)

    def get_user(self, user_id: int) -> dict:
        return self.api("GET", f"/api/users/{user_id}")

    def logs(self, **params: Any) -> list[dict]:
        return self.api("GET", "/api/logs", params=params)["data"]

    def client(self, key: str, **kwargs: Any) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{self.url}/v1", api_key=key, max_retries=0, **kwargs)

    def async_client(self, key: str, **kwargs: Any) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=f"{self.url}/v1", api_key=key, max_retries=0, **kwargs)


def unique_model(prefix: str = "m") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def micro(amount: str) -> int:
    """A decimal money string from the API as integer micro-units, without floats."""
    whole, _, frac = amount.partition(".")
    sign = -1 if whole.startswith("-") else 1
    return sign * (abs(int(whole)) * 1_000_000 + int((frac + "000000")[:6]))
