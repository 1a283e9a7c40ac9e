"""``python -m bench.soak`` (``make soak``): tens of thousands of mixed requests against one gateway.

The mix (bench/soak_client.py): whole answers and streams from a healthy upstream, an upstream
that fails half its requests with 5xx, one that resets streams mid-way, clients that leave
mid-stream, and requests for a model nobody serves. Afterwards, from the gateway process and from
the database:

- no 5xx made by the gateway itself (relayed upstream errors carry the upstream's error body);
- resident memory, open file descriptors and live asyncio tasks flat: sampled after a warm-up,
  after the main pass and after a second pass (from /proc and the gateway's own /metrics);
- every request accounted for: the set of X-Request-Id the client saw equals the set of usage
  records, and the sum of their costs equals the balance decrease (and the user's and key's spend).

Prints a table and writes bench/SOAK.md (``--no-write`` to leave it alone). ``--database-url`` and
``--redis-url`` run it against PostgreSQL and Redis instead of SQLite and the in-process ledger;
``--workers N`` (with ``--redis-url``) runs N worker processes and samples each of them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench import soak_client as load
from bench.procstat import fd_counts, rss_mib
from bench.soak_sims import SIM_KEY
from bench.targets import uvicorn_workers
from relaygate.store.db import make_engine
from relaygate.store.models import ApiKey, UsageLog, User
from tests.gateway import Gateway, micro

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
INITIAL_BALANCE = "100000.00"
RSS_SLACK_MIB = 5.0  # growth allowed between the two passes (a 256-byte-per-request leak is 5 MiB)


@dataclass
class SoakOptions:
    requests: int = 20_000
    second_pass: int = 20_000
    warmup: int = 2_000
    concurrency: int = 48
    database_url: str = ""
    redis_url: str = ""
    workers: int = 1  # more than one needs redis_url; every worker is sampled
    seed: int = 1
    settle_s: float = 2.0  # quiet time before each sample: streams finish, records flush, idle upstreams close
    rss_slack_mib: float = RSS_SLACK_MIB


@dataclass
class Sample:
    phase: str
    pid: int
    rss_mib: float
    fds: int
    sockets: int
    tasks: int  # live asyncio tasks, from the gateway's own /metrics
    metrics_rss_mib: float
    metrics_fds: int


@dataclass
class SoakResult:
    options: SoakOptions
    started: str = ""
    backend: str = ""
    passes: list[load.PassResult] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    accounting: dict[str, Any] = field(default_factory=dict)
    log_errors: list[str] = field(default_factory=list)
    checks: dict[str, bool] = field(default_factory=dict)
    wall_s: float = 0.0

    @property
    def requests(self) -> int:
        return sum(p.requests for p in self.passes)

    def count(self, verdict: str) -> int:
        return sum(p.count(verdict) for p in self.passes)

    @property
    def passed(self) -> bool:
        return all(self.checks.values())


class Sims:
    """bench/soak_sims.py in a child process; ``urls`` maps simulator name to base URL."""

    def __init__(self, workdir: Path, knobs: dict[str, dict[str, Any]] | None = None) -> None:
        knobs = load.SIM_KNOBS if knobs is None else knobs
        self.proc = subprocess.Popen([sys.executable, "-m", "bench.soak_sims", json.dumps(knobs)],
                                     stdout=subprocess.PIPE, stderr=open(workdir / "sims.log", "wb"),  # noqa: SIM115
                                     cwd=REPO)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"simulators did not start: {(workdir / 'sims.log').read_text()[-2000:]}")
        self.urls: dict[str, str] = json.loads(line)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def configure(gw: Gateway, sims: Sims) -> tuple[dict, dict]:
    for name, url in sims.urls.items():
        model = load.MODELS[name]
        gw.channel(url, [model], keys=[SIM_KEY], name=f"soak-{name}")
        gw.price(model, input="1.00", output="2.00")
    gw.price(load.UNSERVED_MODEL)
    return gw.funded_key(INITIAL_BALANCE, name="soak")


def _metric(text: str, name: str, pid: int) -> float:
    prefix = f'{name}{{pid="{pid}"}} '
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line[len(prefix):])
    raise RuntimeError(f"{name} for pid {pid} is missing from /metrics")


def worker_pids(gw: Gateway, workers: int) -> list[int]:
    """The processes that serve requests: the gateway itself, or uvicorn's workers under its supervisor."""
    assert gw.proc is not None
    if workers == 1:
        return [gw.proc.pid]
    found = uvicorn_workers(gw.proc.pid)
    if len(found) != workers:
        raise RuntimeError(f"expected {workers} worker processes, found {found}")
    return sorted(found)


def sample(gw: Gateway, phase: str, settle_s: float, workers: int = 1) -> list[Sample]:
    """One sample per worker. Other workers' /metrics figures are their own, published every 2 s."""
    gw.logs(limit=1)  # flushes the recorder, and the admin connection is open in every sample alike
    time.sleep(max(settle_s, 2.5 if workers > 1 else 0.0))
    out = []
    text = gw.admin.get("/metrics").text
    for pid in worker_pids(gw, workers):
        rss, (fds, sockets) = rss_mib(pid), fd_counts(pid)
        out.append(Sample(phase, pid, round(rss, 1), fds, sockets, int(_metric(text, "relaygate_asyncio_tasks", pid)),
                          round(_metric(text, "process_resident_memory_bytes", pid) / 2**20, 1),
                          int(_metric(text, "process_open_fds", pid))))
    return out


async def stored_account(url: str, user_id: int, key_id: int) -> dict[str, Any]:
    """Straight from the tables, not through the gateway."""
    engine = make_engine(url)
    try:
        async with engine.connect() as c:
            ids = set((await c.execute(select(UsageLog.request_id).where(UsageLog.user_id == user_id))).scalars())
            n, cost = (await c.execute(select(func.count(), func.coalesce(func.sum(UsageLog.cost), 0))
                                       .where(UsageLog.user_id == user_id))).one()
            outcomes = (await c.execute(select(UsageLog.outcome, UsageLog.status_code, func.count(),
                                               func.sum(UsageLog.cost))
                                        .where(UsageLog.user_id == user_id)
                                        .group_by(UsageLog.outcome, UsageLog.status_code))).all()
            balance, used = (await c.execute(select(User.balance, User.used).where(User.id == user_id))).one()
            key_used = (await c.execute(select(ApiKey.used).where(ApiKey.id == key_id))).scalar_one()
    finally:
        await engine.dispose()
    return {"ids": ids, "records": int(n), "cost": int(cost), "balance": int(balance), "used": int(used),
            "key_used": int(key_used),
            "outcomes": sorted(([o, int(s), int(k), int(c or 0)] for o, s, k, c in outcomes), key=lambda r: -r[2])}


def check(result: SoakResult, gw: Gateway, db_url: str, user: dict, key: dict) -> None:
    stored = asyncio.run(stored_account(db_url, user["id"], key["id"]))
    client_ids = set().union(*(p.ids for p in result.passes))
    live_balance = micro(gw.get_user(user["id"])["balance"])
    initial = micro(INITIAL_BALANCE)
    acc = result.accounting = {
        "requests": result.requests, "records": stored["records"], "distinct request ids": len(client_ids),
        "ids without a record": len(client_ids - stored["ids"]),
        "records the client never saw": len(stored["ids"] - client_ids),
        "sum of costs": stored["cost"], "balance decrease": initial - stored["balance"],
        "user used": stored["used"], "key used": stored["key_used"], "live balance": live_balance,
        "stored balance": stored["balance"], "outcomes": stored["outcomes"]}
    by: dict[int, dict[str, Sample]] = {}
    for smp in result.samples:
        by.setdefault(smp.pid, {})[smp.phase] = smp
    phases = [(b["after warm-up"], b["after main pass"], b["after second pass"]) for b in by.values()]
    # Summed over the workers: the admin client's keep-alive connection (and its task) is held by
    # whichever worker accepted it, which differs from sample to sample.
    fds = {ph: sum(s.fds for s in result.samples if s.phase == ph) for ph in ("after main pass", "after second pass")}
    tasks = {ph: sum(s.tasks for s in result.samples if s.phase == ph)
             for ph in ("after warm-up", "after main pass", "after second pass")}
    every = " (all workers together)" if len(by) > 1 else ""
    result.checks = {
        "no 5xx made by the gateway": result.count(load.GATEWAY_5XX) == 0,
        "every answer as its upstream behaved": result.count(load.UNEXPECTED) == 0,
        "every response has an X-Request-Id": sum(p.without_id for p in result.passes) == 0,
        "records = requests (the same request ids)": stored["records"] == result.requests
        and len(client_ids) == result.requests and client_ids == stored["ids"],
        "sum of costs = balance decrease = user and key spend":
            stored["cost"] == acc["balance decrease"] == stored["used"] == stored["key_used"] > 0,
        "live balance = stored balance (no reservation left)": live_balance == stored["balance"],
        f"RSS growth between passes <= {result.options.rss_slack_mib:g} MiB"
        + (" (each worker)" if len(phases) > 1 else ""):
            all(second.rss_mib - end.rss_mib <= result.options.rss_slack_mib for _w, end, second in phases),
        # the simulators close idle connections after 1 s, so once idle the upstream pool is empty; a
        # database pool may still open a connection during the main pass (it grows on demand up to
        # its size), so a leak is growth between the two identical measured passes
        "open fds (files and sockets) the same after both measured passes" + every: len(set(fds.values())) == 1,
        "asyncio tasks the same after every pass" + every: len(set(tasks.values())) == 1,
        "no errors in the gateway log": not result.log_errors,
    }


def _log_errors(gw: Gateway) -> list[str]:
    return [ln for ln in gw.log().splitlines() if " ERROR " in ln or "Traceback" in ln or " CRITICAL " in ln]


def run(opts: SoakOptions, workdir: Path | None = None) -> SoakResult:
    started = time.monotonic()
    result = SoakResult(opts, started=time.strftime("%Y-%m-%d %H:%M:%S %Z"))
    own_dir = workdir is None
    workdir = workdir or Path(tempfile.mkdtemp(prefix="relaygate-soak-"))
    data_dir = workdir / "gateway"
    db_url = opts.database_url or f"sqlite+aiosqlite:///{data_dir / 'relaygate.db'}"
    result.backend = ("PostgreSQL" if "postgres" in db_url else "MySQL" if "mysql" in db_url else "SQLite") + (
        " + Redis" if opts.redis_url else "")
    settings: dict[str, Any] = {"usage_flush_interval_s": 0.5, "auto_disable_failures": 0,
                                "first_byte_timeout_s": 30, "upstream_timeout_s": 60,
                                "health_check_interval_s": 60}
    if opts.redis_url:
        settings["redis_url"] = opts.redis_url
    if opts.workers > 1:
        if not opts.redis_url:
            raise ValueError("several workers share balances through Redis: give --redis-url")
        settings["workers"] = opts.workers
        result.backend += f", {opts.workers} workers"
    sims = Sims(workdir)
    gw = Gateway(data_dir, opts.database_url, **settings)
    try:
        gw.start(timeout=60)
        user, key = configure(gw, sims)
        plan = [("warm-up", opts.warmup, "after warm-up"), ("main", opts.requests, "after main pass"),
                ("second", opts.second_pass, "after second pass")]
        pids = worker_pids(gw, opts.workers)
        result.samples += sample(gw, "start", 0.5, opts.workers)
        for i, (name, count, phase) in enumerate(plan):
            res = asyncio.run(load.run_pass(name, gw.url, key["key"], count, opts.concurrency, opts.seed + i))
            result.passes.append(res)
            _progress(f"{name}: {res.requests} requests in {res.wall_s:.1f} s ({res.rps:.0f}/s), "
                      f"gateway 5xx {res.count(load.GATEWAY_5XX)}, unexpected {res.count(load.UNEXPECTED)}")
            result.samples += sample(gw, phase, opts.settle_s, opts.workers)
        if worker_pids(gw, opts.workers) != pids:
            result.log_errors.append(f"worker processes changed during the soak: {pids} -> "
                                     f"{worker_pids(gw, opts.workers)}")
        result.log_errors += _log_errors(gw)[:20]
        check(result, gw, db_url, user, key)
    finally:
        with contextlib.suppress(Exception):
            gw.stop()
        sims.stop()
        result.wall_s = time.monotonic() - started
        if own_dir and result.checks and result.passed:
            shutil.rmtree(workdir, ignore_errors=True)
        elif own_dir:
            _progress(f"kept {workdir} for inspection")
    return result


def _progress(msg: str) -> None:
    print(f"[soak {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def machine() -> str:
    cpu = "?"
    with contextlib.suppress(OSError):
        cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                    if ln.startswith("model name")), "?")
    mem = "?"
    with contextlib.suppress(OSError, StopIteration):
        meminfo = Path("/proc/meminfo").read_text().splitlines()
        kb = int(next(ln for ln in meminfo if ln.startswith("MemTotal")).split()[1])
        mem = f"{kb / 2**20:.1f} GiB"
    return (f"{cpu}, {os.cpu_count()} cores, {mem} RAM; {platform.system()} {platform.release()}; "
            f"Python {platform.python_version()} (shared machine: other sessions ran tests at the same time)")


def render(r: SoakResult, command: str) -> str:
    from bench.soak_report import render_markdown

    return render_markdown(r, command, machine())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n")[0])
    p.add_argument("--requests", type=int, default=20_000, help="main pass (default 20000)")
    p.add_argument("--second-pass", type=int, help="second pass, for growth between passes (default: as main)")
    p.add_argument("--warmup", type=int, default=2_000, help="warm-up requests before the baseline (default 2000)")
    p.add_argument("--concurrency", type=int, default=48, help="requests in flight (default 48)")
    p.add_argument("--database-url", default="", help="e.g. postgresql+asyncpg://postgres@127.0.0.1/soak")
    p.add_argument("--redis-url", default="", help="e.g. redis://127.0.0.1:6379/14")
    p.add_argument("--workers", type=int, default=1, help="gateway worker processes (more than 1 needs --redis-url)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--no-write", action="store_true", help="print only; leave bench/SOAK.md alone")
    a = p.parse_args(argv)
    opts = SoakOptions(requests=a.requests, second_pass=a.second_pass if a.second_pass is not None else a.requests,
                       warmup=a.warmup, concurrency=a.concurrency, database_url=a.database_url,
                       redis_url=a.redis_url, workers=a.workers, seed=a.seed)
    result = run(opts)
    args = sys.argv[1:] if argv is None else argv
    text = render(result, "python -m bench.soak" + (" " + " ".join(args) if args else ""))
    print(text)
    if not a.no_write:
        from bench.soak_report import write_section

        write_section(BENCH / "SOAK.md", "soak" if opts.workers == 1 else f"soak-{opts.workers}w", text)
        _progress(f"wrote {BENCH / 'SOAK.md'}")
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
