"""What an operator sees from the command line: the demo, the admin key, bad option combinations."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest

from tests.services import free_port

BIN = [sys.executable, "-m", "relaygate.cli"]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAYGATE_")}
    env.update(extra)
    return env


def _start(args: list[str], cwd: Path, **env: str) -> tuple[subprocess.Popen[str], list[str], str]:
    port = free_port()
    proc = subprocess.Popen([*BIN, "serve", "--port", str(port), *args], cwd=cwd, env=_env(**env),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip())
        if line.startswith("relaygate listening"):
            break
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/v1/models", timeout=1)
            return proc, lines, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("\n".join(lines))


def _stop(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(30)


def test_demo_prints_a_working_key_and_the_admin_key_only_once(tmp_path: Path) -> None:
    proc, lines, url = _start(["--demo", "--data-dir", str(tmp_path / "data")], tmp_path)
    try:
        admin_lines = [ln for ln in lines if ln.startswith("Admin key")]
        demo_lines = [ln for ln in lines if ln.startswith("Demo API key: ")]
        assert len(admin_lines) == 1 and len(demo_lines) == 1, lines
        admin_key = admin_lines[0].rsplit(" ", 1)[1]
        demo_key = demo_lines[0].split(": ", 1)[1]
        saved = tmp_path / "data" / "admin.key"
        assert saved.read_text().strip() == admin_key
        assert stat.S_IMODE(saved.stat().st_mode) == 0o600
        client = openai.OpenAI(base_url=f"{url}/v1", api_key=demo_key, max_retries=0)
        assert client.chat.completions.create(model="gpt-4o-mini",
                                              messages=[{"role": "user", "content": "hello"}]).choices
        assert {m.id for m in client.models.list()} == {"gpt-4o-mini", "gpt-4o"}
        assert httpx.get(f"{url}/api/users", headers={"Authorization": f"Bearer {admin_key}"}).status_code == 200
        assert httpx.get(f"{url}/api/users", headers={"Authorization": f"Bearer {demo_key}"}).status_code == 401
    finally:
        assert _stop(proc) == 0
    # second start: same keys, the admin key is not printed again
    proc, lines, url = _start(["--demo", "--data-dir", str(tmp_path / "data")], tmp_path)
    try:
        assert not any(ln.startswith("Admin key") for ln in lines), lines
        assert [ln for ln in lines if ln.startswith("Demo API key: ")] == demo_lines
        client = openai.OpenAI(base_url=f"{url}/v1", api_key=demo_key, max_retries=0)
        assert client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}]).choices
    finally:
        assert _stop(proc) == 0


def test_admin_key_from_the_environment_is_used_and_not_written(tmp_path: Path) -> None:
    proc, lines, url = _start(["--data-dir", str(tmp_path / "d")], tmp_path, RELAYGATE_ADMIN_KEY="env-admin-key-1")
    try:
        assert not any(ln.startswith("Admin key") for ln in lines)
        assert not (tmp_path / "d" / "admin.key").exists()
        ok = httpx.get(f"{url}/api/channels", headers={"Authorization": "Bearer env-admin-key-1"})
        assert ok.status_code == 200
    finally:
        assert _stop(proc) == 0


def test_several_workers_without_redis_are_refused_with_a_reason(tmp_path: Path) -> None:
    result = subprocess.run([*BIN, "serve", "--workers", "2", "--data-dir", str(tmp_path)], env=_env(),
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "--redis-url" in result.stderr


def test_an_unknown_upstream_client_is_refused_with_a_reason(tmp_path: Path) -> None:
    result = subprocess.run([*BIN, "serve", "--data-dir", str(tmp_path)], env=_env(RELAYGATE_UPSTREAM_CLIENT="httpx"),
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "RELAYGATE_UPSTREAM_CLIENT must be h1 or aiohttp" in result.stderr


@pytest.mark.parametrize(("name", "value"), [("RELAYGATE_LEDGER_LEASE_REQUESTS", "-1"),
                                             ("RELAYGATE_LEDGER_LEASE_IDLE_S", "0")])
def test_quota_block_settings_out_of_range_are_refused_with_a_reason(tmp_path: Path, name: str, value: str) -> None:
    result = subprocess.run([*BIN, "serve", "--data-dir", str(tmp_path)], env=_env(**{name: value}),
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and name in result.stderr
