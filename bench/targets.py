"""The things measured: the fake upstream itself, relaygate, and the peer gateways.

Each target is started the way its users run it and configured through its own interface:
relaygate through its management API (channel, price, funded user, key; usage recording on),
LiteLLM through a proxy config YAML, Portkey through its routing headers. A peer that cannot be
installed or started is not fatal: the target records why (``skipped``) and the table says so.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import upstream as fake
from bench.procstat import descendants

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
PEERS = BENCH_DIR / ".peers"
MODEL = "bench-model"
ADMIN_KEY = "rg-admin-bench-0123456789abcdef"
PRICE_INPUT = "10.00"  # per 1M prompt tokens
PRICE_OUTPUT = "30.00"  # per 1M completion tokens
LITELLM_SPEC = "litellm[proxy]==1.106.0"  # pinned: 1.106.1+ need a certifi newer than the index here
PORTKEY_VERSION = "1.15.2"
PORTKEY_HONO = "1.13.5"  # @portkey-ai/gateway 1.15.x streams only with this @hono/node-server


def expected_cost_micro() -> int:
    """What relaygate must charge per request for the upstream's fixed usage, in micro-units."""
    total = (fake.PROMPT_TOKENS * int(float(PRICE_INPUT) * 1e6)
             + fake.COMPLETION_TOKENS * int(float(PRICE_OUTPUT) * 1e6))
    return -(-total // 1_000_000)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None,
         timeout: float = 10.0) -> tuple[int, bytes]:
    """A small stdlib client for set-up calls (keeps the bench free of extra dependencies)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={
        **({"Content-Type": "application/json"} if data is not None else {}), **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_until(check: Any, timeout: float, proc: subprocess.Popen[bytes] | None, log: Path | None,
               what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}: {tail(log)}")
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not become ready in {timeout:.0f}s: {tail(log)}")


def tail(log: Path | None, n: int = 1500) -> str:
    if log is None or not log.exists():
        return ""
    return log.read_text(errors="replace")[-n:]


class Process:
    """A child process with its log file; stopped with SIGTERM, then SIGKILL."""

    def __init__(self, cmd: list[str], log: Path, env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
        self.log = log
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                         start_new_session=True)

    def pids(self) -> list[int]:
        return descendants(self.proc.pid) if self.proc.poll() is None else []

    def stop(self, timeout: float = 20.0) -> None:
        if self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the group this Popen created, nothing else
            self.proc.wait()


class Upstream:
    """The fake upstream, in ``procs`` processes sharing one port."""

    def __init__(self, workdir: Path, procs: int = 1) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.procs = procs
        self.workdir = workdir
        self.process: Process | None = None

    def start(self) -> None:
        self.process = Process([sys.executable, "-m", "bench.upstream", "--port", str(self.port),
                                "--procs", str(self.procs)], self.workdir / "upstream.log", cwd=REPO)
        wait_until(lambda: http("GET", f"{self.url}/v1/models", timeout=1)[0] == 200, 15, self.process.proc,
                   self.process.log, "fake upstream")

    def pids(self) -> list[int]:
        return self.process.pids() if self.process else []

    def stop(self) -> None:
        if self.process:
            self.process.stop()


class Target:
    """Something that answers ``POST {url}{path}`` like OpenAI's chat completions."""

    name = "target"
    title = "target"

    def __init__(self, workdir: Path, upstream: Upstream) -> None:
        self.workdir = workdir
        self.upstream = upstream
        self.url = ""
        self.path = "/v1/chat/completions"
        self.headers: dict[str, str] = {}
        self.version = ""
        self.skipped: str | None = None  # why this target has no figures
        self.process: Process | None = None
        self.notes: list[str] = []

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def start(self) -> None:
        raise NotImplementedError

    def pids(self) -> list[int]:
        return self.process.pids() if self.process else []

    def aux_pids(self) -> list[int]:
        """Processes the target needs besides its own (e.g. Redis), measured separately."""
        return []

    def worker_pids(self) -> list[int]:
        """The processes that serve requests (for RSS per worker)."""
        return self.pids()

    def stop(self) -> None:
        if self.process:
            self.process.stop()


class Direct(Target):
    name = "direct"
    title = "upstream direct"

    def start(self) -> None:
        self.url = self.upstream.url
        self.headers = {"Authorization": "Bearer sk-bench"}
        self.version = f"bench/upstream.py ({self.upstream.procs} process)"

    def pids(self) -> list[int]:
        return self.upstream.pids()

    def stop(self) -> None:
        pass  # the upstream outlives every target


# Settings the gateway chose by measurement (bench/CHOICES.md): a target named
# relaygate-<N>w-<variant> runs with the other choice, only when named in --targets.
VARIANTS: dict[str, tuple[dict[str, str], str]] = {
    "aiohttp": ({"RELAYGATE_UPSTREAM_CLIENT": "aiohttp"}, "aiohttp client"),
    "nolease": ({"RELAYGATE_LEDGER_LEASE_REQUESTS": "0"}, "no quota blocks"),
}


class Relaygate(Target):
    """relaygate as an operator runs it: fresh data dir and SQLite file, set up over its API."""

    REDIS_DB = 13  # dedicated to the benchmark

    def __init__(self, workdir: Path, upstream: Upstream, workers: int, variant: str = "") -> None:
        super().__init__(workdir, upstream)
        self.workers = workers
        self.variant_env, label = VARIANTS[variant] if variant else ({}, "")  # a choice measured against the default
        self.name = f"relaygate-{workers}w" + (f"-{variant}" if variant else "")
        self.title = f"relaygate, {workers} worker{'s' if workers > 1 else ''}" + (f", {label}" if label else "")
        self.user_id = 0
        self.key = ""
        self.redis_pid: int | None = None
        self.data_dir = workdir / self.name
        # targets run side by side (interleaved cells): each keeps its balances under its own keys
        self.redis_prefix = f"bench-{self.name}"

    def _admin(self, method: str, path: str, body: Any = None) -> Any:
        status, raw = http(method, self.url + path, body, {"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=60)
        if status >= 300:
            raise RuntimeError(f"{method} {path} -> {status}: {raw[:500]!r}")
        return json.loads(raw) if raw else None

    def start(self) -> None:
        self.version = metadata.version("relaygate")
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        if self.data_dir.exists():
            shutil.rmtree(self.data_dir)
        self.data_dir.mkdir(parents=True)
        env = {**os.environ, "RELAYGATE_ADMIN_KEY": ADMIN_KEY, "RELAYGATE_DATA_DIR": str(self.data_dir),
               "RELAYGATE_PORT": str(port), "RELAYGATE_WORKERS": str(self.workers),
               "RELAYGATE_LOG_LEVEL": "warning", **self.variant_env}
        if self.workers > 1:
            redis_url = f"redis://127.0.0.1:6379/{self.REDIS_DB}"
            self._flush_redis()
            env["RELAYGATE_REDIS_URL"] = redis_url
            env["RELAYGATE_REDIS_PREFIX"] = self.redis_prefix
            self.notes.append(f"Redis {redis_url}, keys {self.redis_prefix}:* (deleted first)")
        self.process = Process([sys.executable, "-m", "relaygate.cli", "serve"], self.data_dir / "gateway.log",
                               env=env, cwd=self.data_dir)
        wait_until(lambda: http("GET", f"{self.url}/v1/models", timeout=1)[0] == 401, 60, self.process.proc,
                   self.process.log, self.name)
        self._configure()
        # Every worker must know the new key before the load starts (other workers learn of
        # changes through Redis); require a run of successes, not one lucky worker.
        body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
        streak = 0
        deadline = time.monotonic() + 30
        while streak < 20 * self.workers:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name}: the key is not accepted by every worker: {tail(self.process.log)}")
            ok = http("POST", self.url + self.path, body, self.headers)[0] == 200
            streak = streak + 1 if ok else 0
            if not ok:
                time.sleep(0.1)

    def _flush_redis(self) -> None:
        import redis

        client = redis.Redis(host="127.0.0.1", port=6379, db=self.REDIS_DB)
        try:
            stale = list(client.scan_iter(f"{self.redis_prefix}:*", count=1000))
            if stale:
                client.delete(*stale)
            self.redis_pid = int(client.info("server")["process_id"])
        finally:
            client.close()

    def _configure(self) -> None:
        self._admin("POST", "/api/channels", {"name": "bench-upstream", "type": "openai",
                                              "base_url": f"{self.upstream.url}/v1", "keys": ["sk-bench"],
                                              "models": [MODEL]})
        self._admin("PUT", f"/api/prices/{MODEL}", {"input": PRICE_INPUT, "output": PRICE_OUTPUT})
        user = self._admin("POST", "/api/users", {"name": "bench-user", "balance": "1000000.00"})
        self.user_id = int(user["id"])
        self.key = self._admin("POST", "/api/keys", {"user_id": self.user_id, "name": "bench"})["key"]
        self.headers = {"Authorization": f"Bearer {self.key}"}

    def account(self) -> dict[str, Any]:
        """The user's usage and balance as the management API reports them (it flushes first)."""
        usage = self._admin("GET", f"/api/usage?group_by=user&user_id={self.user_id}")["data"]
        user = self._admin("GET", f"/api/users/{self.user_id}")
        row = usage[0] if usage else {"requests": 0, "cost": "0", "prompt_tokens": 0, "completion_tokens": 0}
        return {"requests": int(row["requests"]), "cost": row["cost"], "prompt_tokens": int(row["prompt_tokens"]),
                "completion_tokens": int(row["completion_tokens"]), "balance": user["balance"],
                "used": user["used"]}

    def outcomes(self) -> list[tuple[str, int, int, int, int, int]]:
        """(outcome, status, rows, min cost, max cost, sum cost) straight from the SQLite file, read-only.

        The management API sums per user; this breaks the rows down by outcome, to tell the
        requests wrk cut off at the end of a cell from real failures.
        """
        import sqlite3

        db = self.data_dir / "relaygate.db"
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            return list(conn.execute(
                "SELECT outcome, status_code, count(*), min(cost), max(cost), sum(cost) FROM usage_logs "
                "WHERE user_id = ? GROUP BY outcome, status_code ORDER BY 3 DESC", (self.user_id,)))

    def aux_pids(self) -> list[int]:
        return [self.redis_pid] if self.redis_pid else []

    def worker_pids(self) -> list[int]:
        if self.workers > 1:
            return uvicorn_workers(self.process.proc.pid) if self.process else []
        return self.pids()


def uvicorn_workers(supervisor: int) -> list[int]:
    """The processes that serve requests under uvicorn's supervisor (not it, nor multiprocessing's helpers)."""
    return [p for p in descendants(supervisor) if p != supervisor and is_uvicorn_worker(p)]


def is_uvicorn_worker(pid: int) -> bool:
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"resource_tracker" not in cmd


class LiteLLM(Target):
    name = "litellm"
    title = "LiteLLM proxy"
    MASTER_KEY = "sk-bench-master-0123456789"

    def install(self) -> Path:
        venv = PEERS / "litellm-venv"
        exe = venv / "bin" / "litellm"
        if exe.exists():
            return venv
        PEERS.mkdir(parents=True, exist_ok=True)
        base = getattr(sys, "_base_executable", None) or sys.executable
        log = self.workdir / "litellm-install.log"
        with open(log, "ab") as out:
            subprocess.run([base, "-m", "venv", str(venv)], check=True, stdout=out, stderr=subprocess.STDOUT)
            r = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", LITELLM_SPEC], stdout=out,
                               stderr=subprocess.STDOUT, timeout=900)
        if r.returncode != 0 or not exe.exists():
            shutil.rmtree(venv, ignore_errors=True)
            raise RuntimeError(f"pip install {LITELLM_SPEC} failed: {tail(log, 600)}")
        return venv

    def start(self) -> None:
        venv = self.install()
        self.version = _pip_version(venv, "litellm")
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        cfg = self.workdir / "litellm.yaml"
        cfg.write_text(
            "model_list:\n"
            f"  - model_name: {MODEL}\n"
            "    litellm_params:\n"
            f"      model: openai/{MODEL}\n"
            f"      api_base: {self.upstream.url}/v1\n"
            "      api_key: sk-bench\n"
            "general_settings:\n"
            f"  master_key: {self.MASTER_KEY}\n"
            "litellm_settings:\n"
            "  telemetry: false\n")
        env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR",
               "LITELLM_TELEMETRY": "False", "NO_DOCS": "True"}
        env.pop("VIRTUAL_ENV", None)
        self.process = Process([str(venv / "bin" / "litellm"), "--config", str(cfg), "--host", "127.0.0.1",
                                "--port", str(port), "--num_workers", "1"], self.workdir / "litellm.log",
                               env=env, cwd=self.workdir)
        self.headers = {"Authorization": f"Bearer {self.MASTER_KEY}"}
        wait_until(lambda: http("GET", f"{self.url}/health/liveliness", timeout=2)[0] == 200, 180,
                   self.process.proc, self.process.log, "LiteLLM proxy")
        self.notes.append("master key, no database (LiteLLM keeps no per-key spend without PostgreSQL)")


class Portkey(Target):
    name = "portkey"
    title = "Portkey gateway"

    def install(self) -> Path:
        """npm install with an override: the gateway's own dependency range would pull a newer
        @hono/node-server into a nested node_modules, where streaming fails ("immutable")."""
        root = PEERS / "portkey"
        entry = root / "node_modules" / "@portkey-ai" / "gateway" / "build" / "start-server.js"
        if entry.exists() and _hono_versions(root) == {PORTKEY_HONO}:
            return root
        npm = shutil.which("npm")
        if npm is None or shutil.which("node") is None:
            raise RuntimeError("node/npm are not installed")
        root.mkdir(parents=True, exist_ok=True)
        (root / "package.json").write_text(json.dumps({
            "name": "bench-portkey", "private": True,
            "dependencies": {"@portkey-ai/gateway": PORTKEY_VERSION, "@hono/node-server": PORTKEY_HONO},
            "overrides": {"@hono/node-server": PORTKEY_HONO}}, indent=1) + "\n")
        shutil.rmtree(root / "node_modules", ignore_errors=True)
        (root / "package-lock.json").unlink(missing_ok=True)
        log = self.workdir / "portkey-install.log"
        with open(log, "ab") as out:
            r = subprocess.run([npm, "install", "--no-audit", "--no-fund"], cwd=root, stdout=out,
                               stderr=subprocess.STDOUT, timeout=600)
        if r.returncode != 0 or not entry.exists():
            raise RuntimeError(f"npm install @portkey-ai/gateway@{PORTKEY_VERSION} failed: {tail(log, 600)}")
        if _hono_versions(root) != {PORTKEY_HONO}:
            raise RuntimeError(f"@hono/node-server versions {_hono_versions(root)}, wanted only {PORTKEY_HONO}")
        return root

    def start(self) -> None:
        root = self.install()
        pkg = root / "node_modules" / "@portkey-ai" / "gateway"
        self.version = json.loads((pkg / "package.json").read_text())["version"]
        hono = json.loads((root / "node_modules" / "@hono" / "node-server" / "package.json").read_text())["version"]
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.process = Process(["node", str(pkg / "build" / "start-server.js"), f"--port={port}", "--headless"],
                               self.workdir / "portkey.log", env={**os.environ, "NODE_ENV": "production"},
                               cwd=root)
        self.headers = {"Authorization": "Bearer sk-bench", "x-portkey-provider": "openai",
                        "x-portkey-custom-host": f"{self.upstream.url}/v1"}
        wait_until(lambda: _port_open(port), 60, self.process.proc, self.process.log, "Portkey gateway")
        self.notes.append(f"node {_node_version()}, @hono/node-server {hono}; routed by x-portkey-* headers")


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _hono_versions(root: Path) -> set[str]:
    found = set()
    for pkg in (root / "node_modules").glob("**/@hono/node-server/package.json"):
        found.add(json.loads(pkg.read_text())["version"])
    return found


def _pip_version(venv: Path, name: str) -> str:
    out = subprocess.run([str(venv / "bin" / "python"), "-c", f"import importlib.metadata as m;"
                          f"print(m.version({name!r}))"], capture_output=True, text=True)
    return out.stdout.strip() or "?"


def _node_version() -> str:
    out = subprocess.run(["node", "--version"], capture_output=True, text=True)
    return out.stdout.strip()


def make_targets(workdir: Path, upstream: Upstream, only: set[str] | None) -> list[Target]:
    """Direct is always measured: every overhead figure is relative to it."""
    per_core = os.cpu_count() or 1
    relaygates = [Relaygate(workdir, upstream, 1)] + ([Relaygate(workdir, upstream, per_core)] if per_core > 1 else [])
    all_targets: list[Target] = [Direct(workdir, upstream), *relaygates, LiteLLM(workdir, upstream),
                                 Portkey(workdir, upstream)]
    chosen = [t for t in all_targets if only is None or t.name in only or t.name == "direct"]
    for name in sorted(only or ()):
        if (found := re.fullmatch(r"relaygate-(\d+)w-(\w+)", name)) and found[2] in VARIANTS:
            chosen.append(Relaygate(workdir, upstream, int(found[1]), found[2]))
    return chosen
