"""``python -m bench.sigkill`` (``make sigkill``): SIGKILL a loaded gateway, restart it, count lost records.

A client keeps ``concurrency`` chat requests (whole answers and streams, alternately) in flight
against a gateway on SQLite, remembers the X-Request-Id of every request it received in full
(200, JSON parsed or the stream's ``[DONE]`` read), and SIGKILLs the gateway mid-load. The
gateway restarts on the same data folder (replaying its usage journal if any), and the database
is compared with the client's list: a completed request without a usage record is lost. Also
checked: the stored balance equals the initial balance minus the sum of the records' costs, and
the user's and key's spend equal that sum (records and balance changes commit together, journal
replay included, so a kill can lose records but must never corrupt a balance).

Runs the measurement with the journal off, then on, ``--rounds`` times each, and writes the
figures to bench/SOAK.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import orjson

from bench.soak import INITIAL_BALANCE, Sims, machine, stored_account
from bench.soak_sims import SIM_KEY
from tests.gateway import Gateway, micro

BENCH = Path(__file__).resolve().parent
MODEL = "kill-model"
_REPLAYED = re.compile(r"usage journal replay: (\d+) records .*?; (\d+) written now")


@dataclass
class KillResult:
    journal: bool
    flush_interval_s: float
    sent: int
    completed: int  # 200 and read in full before the kill
    records: int  # usage records after the restart
    lost: int  # completed requests without a record
    replayed: int  # records written from the journal at the restart
    cost: int
    balance_decrease: int
    user_used: int
    key_used: int
    load_s: float

    @property
    def balance_ok(self) -> bool:
        return self.cost == self.balance_decrease == self.user_used == self.key_used

    @property
    def rps(self) -> float:
        return self.completed / self.load_s if self.load_s else 0.0


def _complete(stream: bool, raw: bytes) -> bool:
    if stream:
        return raw.rstrip().endswith(b"data: [DONE]")
    try:
        return bool(orjson.loads(raw)["choices"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return False


async def drive_and_kill(url: str, key: str, pid: int, concurrency: int, kill_after_s: float) -> tuple[set[str], int]:
    """Load until ``kill_after_s``, SIGKILL ``pid`` while requests are in flight, let them fail."""
    completed: set[str] = set()
    sent = 0
    stop = asyncio.Event()
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    async def worker(session: aiohttp.ClientSession, i: int) -> None:
        nonlocal sent
        while not stop.is_set():
            stream = (sent + i) % 2 == 0
            body = {"model": MODEL, "stream": stream, "messages": [{"role": "user", "content": f"kill test {sent}"}]}
            sent += 1
            try:
                async with session.post(f"{url}/v1/chat/completions", data=orjson.dumps(body), headers=headers) as r:
                    raw = await r.read()
                    if r.status == 200 and _complete(stream, raw):
                        completed.add(r.headers["X-Request-Id"])
            except (aiohttp.ClientError, OSError, TimeoutError):
                await asyncio.sleep(0.01)  # the gateway is gone; stop is about to be set

    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency), timeout=timeout) as session:
        workers = [asyncio.create_task(worker(session, i)) for i in range(concurrency)]
        await asyncio.sleep(kill_after_s)
        os.kill(pid, signal.SIGKILL)
        stop.set()
        await asyncio.gather(*workers)
    return completed, sent


def measure(workdir: Path, journal: bool, flush_interval_s: float = 0.5, load_s: float = 3.0,
            concurrency: int = 32, sims: Sims | None = None, flush_batch: int = 2000) -> KillResult:
    """One kill: fresh data folder, load, SIGKILL, restart on the same folder, compare."""
    own_sims = sims is None
    sims = sims or Sims(workdir, {"ok": {}})
    data_dir = workdir / f"gateway-journal-{'on' if journal else 'off'}-{time.monotonic_ns()}"
    gw = Gateway(data_dir, "", usage_flush_interval_s=flush_interval_s, usage_flush_batch=flush_batch,
                 usage_journal=int(journal))
    try:
        gw.start(timeout=60)
        gw.channel(sims.urls["ok"], [MODEL], keys=[SIM_KEY])
        gw.price(MODEL, input="1.00", output="2.00")
        user, key = gw.funded_key(INITIAL_BALANCE)
        assert gw.proc is not None
        started = time.monotonic()
        completed, sent = asyncio.run(drive_and_kill(gw.url, key["key"], gw.proc.pid, concurrency, load_s))
        elapsed = time.monotonic() - started
        assert gw.proc.wait(10) == -signal.SIGKILL
        gw.start(timeout=60)  # same data folder: replays the journal before serving
        stored = asyncio.run(stored_account(f"sqlite+aiosqlite:///{data_dir / 'relaygate.db'}", user["id"],
                                            key["id"]))
        found = _REPLAYED.findall(gw.log())
        return KillResult(journal=journal, flush_interval_s=flush_interval_s, sent=sent, completed=len(completed),
                          records=stored["records"], lost=len(completed - stored["ids"]),
                          replayed=sum(int(written) for _n, written in found), cost=stored["cost"],
                          balance_decrease=micro(INITIAL_BALANCE) - stored["balance"], user_used=stored["used"],
                          key_used=stored["key_used"], load_s=elapsed)
    finally:
        with contextlib.suppress(Exception):
            gw.stop()
        if own_sims:
            sims.stop()


def render(results: list[KillResult], command: str) -> str:
    off = [r for r in results if not r.journal]
    on = [r for r in results if r.journal]
    lines = ["## SIGKILL under load, then restart", "",
             f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}; `{command}`.  ", f"Machine: {machine()}.", "",
             "One gateway on SQLite, 32 chat requests in flight (whole answers and streams alternately), "
             "SIGKILL after about 3 s, restart on the same data folder. *Completed*: 200 and read in full by the "
             "client before the kill; *lost*: completed without a usage record after the restart; *replayed*: "
             "records written from the journal at the restart. Usage flushed every 0.5 s (the default).", "",
             "| journal | completed | records after restart | lost | replayed | sum of costs = balance decrease "
             "= spend |", "|---|---:|---:|---:|---:|---|"]
    lines += [f"| {'on' if r.journal else 'off'} | {r.completed:,} | {r.records:,} | {r.lost:,} | {r.replayed:,} | "
              f"{'yes' if r.balance_ok else '**NO**'} ({r.cost:,}) |" for r in results]
    if off and on:
        lines += ["", f"Lost without the journal: {sum(r.lost for r in off):,} of {sum(r.completed for r in off):,} "
                  f"completed requests (up to {max(r.lost for r in off):,} per kill: every record queued since the "
                  f"last committed batch, i.e. one flush interval plus a batch still being written); with the "
                  f"journal: {sum(r.lost for r in on):,} of "
                  f"{sum(r.completed for r in on):,}. Balances were consistent with the records in every run."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.sigkill", description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=3, help="kills per setting (default 3)")
    p.add_argument("--load-s", type=float, default=3.0, help="seconds of load before the kill (default 3)")
    p.add_argument("--no-write", action="store_true", help="print only; leave bench/SOAK.md alone")
    a = p.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="relaygate-sigkill-"))
    sims = Sims(workdir, {"ok": {}})
    results: list[KillResult] = []
    try:
        for _ in range(a.rounds):
            for journal in (False, True):
                r = measure(workdir, journal, load_s=a.load_s, sims=sims)
                print(f"[sigkill] journal {'on ' if journal else 'off'}: completed {r.completed}, lost {r.lost}, "
                      f"replayed {r.replayed}, balance consistent {r.balance_ok}", file=sys.stderr, flush=True)
                results.append(r)
    finally:
        sims.stop()
    shutil.rmtree(workdir, ignore_errors=True)
    args = sys.argv[1:] if argv is None else argv
    text = render(results, "python -m bench.sigkill" + (" " + " ".join(args) if args else ""))
    print(text)
    if not a.no_write:
        from bench.soak_report import write_section

        write_section(BENCH / "SOAK.md", "sigkill", text)
    ok = all(r.balance_ok for r in results) and all(r.lost == 0 for r in results if r.journal)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
