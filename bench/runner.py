"""Runs the benchmark: start everything, check it answers right, measure cells interleaved.

Interleaving: round 1 runs every (mode, concurrency) cell for each target in turn, round 2 does
it all again, so a target is never measured only while the machine happened to be busy or
quiet; the figures reported are the median of the rounds (with two, their mean) and every
round's own figure is kept in results.json.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench import upstream as fake
from bench.load import WrkResult, ensure_wrk, measure_ttfb, run_wrk, scratch_dir, write_script
from bench.procstat import CpuSample, MachineTimes, all_processes, others_since, rss_mib, self_cpu_seconds
from bench.targets import MODEL, Relaygate, Target, Upstream, expected_cost_micro, http, make_targets

MODES = ("json", "stream")
PROMPT = [{"role": "user", "content": "Write twenty words about a fox."}]


def request_body(mode: str) -> bytes:
    body: dict[str, Any] = {"model": MODEL, "messages": PROMPT}
    if mode == "stream":
        body["stream"] = True
    return json.dumps(body, separators=(",", ":")).encode()


@dataclass
class Options:
    duration_s: float = 10.0
    rounds: int = 2
    concurrency: tuple[int, ...] = (1, 64)
    targets: set[str] | None = None
    ttfb_count: int = 200
    upstream_procs: int = 1
    warmup_s: float = 2.0
    quiet_max_wait_s: float = 15.0  # per cell: wait this long at most for other load to stop
    quiet_budget_s: float = 180.0  # in all
    wait_quiet_s: float = 120.0  # before the first cell: wait this long at most for a quiet box


@dataclass
class Cell:
    target: str
    mode: str
    conc: int
    round: int
    rps: float
    requests: int
    ok: int
    errors_status: int
    errors_socket: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    cpu_target_s: float
    cpu_upstream_s: float
    cpu_aux_s: float
    cpu_wrk_s: float
    cpu_machine_s: float  # all processes + irq/softirq
    cpu_irq_s: float  # irq + softirq: kernel work outside processes (loopback TCP)
    cpu_others_s: float  # processes on the box that are not part of the benchmark, short-lived ones too
    others_top: dict[str, float]  # the long-lived ones among them, by name
    duration_s: float
    waited_s: float = 0.0  # how long the cell waited for the box to calm down first


@dataclass
class Run:
    options: dict[str, Any]
    started: str
    workdir: str
    targets: dict[str, dict[str, Any]] = field(default_factory=dict)
    cells: list[Cell] = field(default_factory=list)
    ttfb: list[dict[str, Any]] = field(default_factory=list)
    rss: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # target -> phase -> MiB per worker
    accounting: dict[str, dict[str, Any]] = field(default_factory=dict)
    wall_s: float = 0.0
    waited_before_s: float = 0.0


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def smoke(t: Target) -> str:
    """One whole answer and one stream must carry the upstream's 20 words, the stream its [DONE]."""
    want = " ".join(fake.WORDS)
    status, raw = http("POST", t.url + t.path, json.loads(request_body("json")), t.headers, timeout=30)
    if status != 200:
        raise RuntimeError(f"chat completion -> {status}: {raw[:300]!r}")
    got = json.loads(raw)["choices"][0]["message"]["content"]
    if got != want:
        raise RuntimeError(f"wrong content: {got!r}")
    status, raw = http("POST", t.url + t.path, json.loads(request_body("stream")), t.headers, timeout=30)
    if status != 200:
        raise RuntimeError(f"stream -> {status}: {raw[:300]!r}")
    events = [ln[5:].strip() for ln in raw.decode().splitlines() if ln.startswith("data:")]
    if not events or events[-1] != "[DONE]":
        raise RuntimeError(f"stream without [DONE]: {raw[-300:]!r}")
    parts = []
    for e in events[:-1]:
        for choice in json.loads(e).get("choices") or ():
            parts.append((choice.get("delta") or {}).get("content") or "")
    if "".join(parts) != want:
        raise RuntimeError(f"wrong stream content: {''.join(parts)!r}")
    return f"{len(events) - 1} stream events"


def measure_cell(wrk: str, t: Target, upstream: Upstream, script: Path, mode: str, conc: int, rnd: int,
                 duration_s: float) -> Cell:
    own = t.pids()
    up = [] if t.name == "direct" else upstream.pids()
    aux = t.aux_pids()
    s_own, s_up, s_aux = CpuSample.take(own), CpuSample.take(up), CpuSample.take(aux)
    s_all, s_machine, s_self = all_processes(), MachineTimes.take(), self_cpu_seconds()
    res: WrkResult = run_wrk(wrk, t.url + t.path, script, conc, duration_s, threads=1 if conc == 1 else 2)
    cpu_own = CpuSample.take(own).since(s_own)
    cpu_up = CpuSample.take(up).since(s_up)
    cpu_aux = CpuSample.take(aux).since(s_aux)
    machine = MachineTimes.take().since(s_machine)
    mine = self_cpu_seconds() - s_self
    _, by_name = others_since(s_all, {*own, *up, *aux, os.getpid()})
    others = max(0.0, machine.processes - cpu_own - cpu_up - cpu_aux - res.wrk_cpu_s - mine)
    top = dict(sorted(by_name.items(), key=lambda kv: -kv[1])[:3])
    return Cell(target=t.name, mode=mode, conc=conc, round=rnd, rps=res.rps, requests=res.requests, ok=res.ok,
                errors_status=res.errors_status, errors_socket=res.errors_socket, p50_ms=res.p50_ms,
                p90_ms=res.p90_ms, p99_ms=res.p99_ms, mean_ms=res.mean_ms, max_ms=res.max_ms,
                cpu_target_s=cpu_own, cpu_upstream_s=cpu_up, cpu_aux_s=cpu_aux, cpu_wrk_s=res.wrk_cpu_s,
                cpu_machine_s=machine.processes + machine.irq, cpu_irq_s=machine.irq, cpu_others_s=others,
                others_top={k: round(v, 2) for k, v in top.items()},
                duration_s=res.duration_s)


def wait_for_quiet(exclude: set[int], max_wait_s: float, threshold_cores: float = 0.15,
                   consecutive: int = 1) -> float:
    """Wait until processes outside the benchmark use under ``threshold_cores`` for
    ``consecutive`` seconds in a row.

    The machine is shared (other sessions run test suites on it) and a previous target may
    still be working off its backlog; a cell started then would measure their load, not ours.
    """
    start = time.monotonic()
    calm = 0
    pids = list(exclude)
    while True:
        ours, machine, mine = CpuSample.take(pids), MachineTimes.take(), self_cpu_seconds()
        time.sleep(1.0)
        used = (MachineTimes.take().since(machine).processes - CpuSample.take(pids).since(ours)
                - (self_cpu_seconds() - mine))
        calm = calm + 1 if used < threshold_cores else 0
        waited = time.monotonic() - start
        if calm >= consecutive or waited >= max_wait_s:
            return waited


def rss_of(t: Target) -> list[float]:
    return [round(rss_mib(p), 1) for p in t.worker_pids()]


def run(opts: Options) -> Run:
    started = time.monotonic()
    wrk = ensure_wrk()
    workdir = scratch_dir()
    result = Run(options={k: (sorted(v) if isinstance(v, set) else v) for k, v in asdict(opts).items()},
                 started=time.strftime("%Y-%m-%d %H:%M:%S %Z"), workdir=str(workdir))
    log(f"scratch dir {workdir}")
    upstream = Upstream(workdir, opts.upstream_procs)
    upstream.start()
    targets = make_targets(workdir, upstream, opts.targets)
    live: list[Target] = []
    try:
        for t in targets:
            log(f"starting {t.name}")
            try:
                t.start()
                t.notes.append(smoke(t))
                live.append(t)
            except Exception as exc:
                t.skipped = f"{type(exc).__name__}: {exc}"[:800]
                log(f"{t.name} skipped: {t.skipped}")
                t.stop()
        scripts = {(t.name, m): write_script(workdir / f"{t.name}-{m}.lua", request_body(m), t.headers)
                   for t in live for m in MODES}
        for t in live:
            result.rss[t.name] = {"after start": rss_of(t)}
        for t in live:
            log(f"warming up {t.name}")
            for m in MODES:
                run_wrk(wrk, t.url + t.path, scripts[(t.name, m)], 64, opts.warmup_s, threads=2)
            result.rss[t.name]["after warm-up"] = rss_of(t)
        ours = {p for t in live for p in (*t.pids(), *t.aux_pids())} | {*upstream.pids(), os.getpid()}
        log(f"waiting up to {opts.wait_quiet_s:.0f} s for other load on the box to stop")
        result.waited_before_s = round(wait_for_quiet(ours, opts.wait_quiet_s, consecutive=5), 1)
        log(f"waited {result.waited_before_s:.0f} s")
        time.sleep(2.0)  # let every worker flush the warm-up's usage records before the baseline
        before = {t.name: t.account() for t in live if isinstance(t, Relaygate)}
        ttfb_ok: dict[str, int] = {t.name: 0 for t in live}
        waited_total = 0.0
        for rnd in range(1, opts.rounds + 1):
            for mode in MODES:
                for conc in opts.concurrency:
                    for t in list(live):
                        budget = min(opts.quiet_max_wait_s, max(0.0, opts.quiet_budget_s - waited_total))
                        waited = wait_for_quiet({*t.pids(), *upstream.pids(), *t.aux_pids(), os.getpid()}, budget)
                        waited_total += waited
                        try:
                            cell = measure_cell(wrk, t, upstream, scripts[(t.name, mode)], mode, conc, rnd,
                                                opts.duration_s)
                        except Exception as exc:  # a target that dies mid-run loses its later cells, not the run
                            t.notes.append(f"FAILED in round {rnd}, {mode} c={conc}: {type(exc).__name__}: "
                                           f"{str(exc)[:300]}; no further cells")
                            log(f"{t.name} failed: {exc}")
                            live.remove(t)
                            continue
                        cell.waited_s = round(waited, 1)
                        result.cells.append(cell)
                        log(f"round {rnd} {mode:6} c={conc:<3} {t.name:14} {cell.rps:9.0f} rps  p50 "
                            f"{cell.p50_ms:7.2f} ms  p99 {cell.p99_ms:7.2f} ms  cpu "
                            f"{1000 * cell.cpu_target_s / max(cell.requests, 1):.3f} ms/req  "
                            f"errors {cell.errors_status + cell.errors_socket}")
            for t in live:
                wait_for_quiet({*t.pids(), *upstream.pids(), *t.aux_pids(), os.getpid()}, 10.0)
                tt = measure_ttfb("127.0.0.1", t.port, t.path, request_body("stream"), t.headers, opts.ttfb_count)
                ttfb_ok[t.name] += tt.count - tt.errors
                result.ttfb.append({"target": t.name, "round": rnd, "count": tt.count, "errors": tt.errors,
                                    "ttfb_p50_ms": tt.ttfb_p50, "ttfb_p99_ms": tt.ttfb_p99,
                                    "total_p50_ms": tt.total_p50})
                log(f"round {rnd} ttfb {t.name:14} p50 {tt.ttfb_p50:.3f} ms (whole stream {tt.total_p50:.3f} ms)")
                result.rss[t.name][f"after round {rnd}"] = rss_of(t)
        for t in live:
            if isinstance(t, Relaygate):
                time.sleep(2.0)  # other workers flush their usage queues on their own timer
                try:
                    result.accounting[t.name] = accounting(t, before[t.name], result.cells, ttfb_ok[t.name])
                except Exception as exc:
                    t.notes.append(f"accounting check failed: {type(exc).__name__}: {str(exc)[:300]}")
    finally:
        for t in targets:
            t.stop()
        upstream.stop()
    for t in targets:
        result.targets[t.name] = {"title": t.title, "version": t.version, "skipped": t.skipped, "notes": t.notes,
                                  "workers": getattr(t, "workers", 1)}
    result.wall_s = time.monotonic() - started
    return result


def accounting(t: Relaygate, before: dict[str, Any], cells: list[Cell], ttfb_ok: int) -> dict[str, Any]:
    """Compare what the clients got with what relaygate recorded and charged, over the measured part.

    wrk stops a cell by dropping its connections, so up to ``c`` requests per cell were sent
    but never counted by wrk: relaygate still serves or cancels them, and records them. So the
    records may exceed the clients' count by at most the sum of the cells' concurrencies.
    """
    from decimal import Decimal

    after = t.account()
    mine = [c for c in cells if c.target == t.name]
    client_ok = sum(c.ok for c in mine) + ttfb_ok
    client_errors = sum(c.errors_status + c.errors_socket for c in mine)
    cut_off_bound = sum(c.conc for c in mine)
    records = after["requests"] - before["requests"]
    cost = Decimal(after["cost"]) - Decimal(before["cost"])
    spent = Decimal(before["balance"]) - Decimal(after["balance"])
    per_request = Decimal(expected_cost_micro()) / Decimal(1_000_000)
    outcomes = t.outcomes()
    ok_rows = sum(n for outcome, _status, n, *_ in outcomes if outcome == "ok")
    ok_costs = {(lo, hi) for outcome, _s, _n, lo, hi, _sum in outcomes if outcome == "ok"}
    # All rows, warm-up included, are in `outcomes`; the measured part is `records`.
    checks = {
        "every client success is recorded": records >= client_ok,
        "extra records only from cut-off in-flight requests": 0 <= records - client_ok <= cut_off_bound,
        "every ok record charged the exact price": ok_costs == {(expected_cost_micro(), expected_cost_micro())},
        "balance fell by exactly the recorded cost": spent == cost,
        "charged at least client successes x price": cost >= per_request * client_ok,
    }
    return {
        "client_ok": client_ok, "client_errors": client_errors, "records": records,
        "cut_off_bound": cut_off_bound, "cost": str(cost), "balance_change": str(spent),
        "price_per_request": str(per_request), "expected_cost_for_client_ok": str(per_request * client_ok),
        "prompt_tokens": after["prompt_tokens"] - before["prompt_tokens"],
        "completion_tokens": after["completion_tokens"] - before["completion_tokens"],
        "outcomes_all_rows": [list(o) for o in outcomes], "ok_rows_all": ok_rows,
        "checks": checks, "passed": all(checks.values()),
    }


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def save_json(run_: Run, path: Path) -> None:
    data = asdict(run_)
    path.write_text(json.dumps(data, indent=1, default=str) + "\n")
