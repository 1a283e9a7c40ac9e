"""Turns a benchmark run into RESULTS.md: tables, ratios, the issue's targets, accounting.

Figures per (target, mode, concurrency) are the median of the interleaved rounds; each round's
RPS is shown too so drift between rounds is visible rather than hidden in an average.
"""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.runner import MODES, Cell, Run, median
from bench.targets import REPO

MODE_TITLE = {"json": "non-stream", "stream": "stream (20 chunks)"}


def _fmt(v: float | None, digits: int = 2) -> str:
    if v is None or v != v:  # NaN
        return "–"
    return f"{v:,.{digits}f}"


def _ratio(a: float | None, b: float | None) -> str:
    if not a or not b or a != a or b != b:
        return "–"
    return f"{a / b:,.1f}×"


class Summary:
    """Per-cell medians across rounds, looked up by (target, mode, conc)."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.cells: dict[tuple[str, str, int], list[Cell]] = {}
        for c in run.cells:
            self.cells.setdefault((c.target, c.mode, c.conc), []).append(c)
        self.live = [name for name, t in run.targets.items() if not t["skipped"]]

    def get(self, target: str, mode: str, conc: int, attr: str) -> float | None:
        cells = self.cells.get((target, mode, conc))
        if not cells:
            return None
        return median([float(getattr(c, attr)) for c in cells])

    def per_request_ms(self, target: str, mode: str, conc: int, attr: str) -> float | None:
        cells = self.cells.get((target, mode, conc))
        if not cells:
            return None
        return median([1000 * getattr(c, attr) / c.requests for c in cells if c.requests])

    def overhead(self, target: str, mode: str, conc: int) -> float | None:
        mine, direct = self.get(target, mode, conc, "p50_ms"), self.get("direct", mode, conc, "p50_ms")
        if mine is None or direct is None or target == "direct":
            return None
        return mine - direct

    def ttfb(self, target: str, attr: str = "ttfb_p50_ms") -> float | None:
        values = [t[attr] for t in self.run.ttfb if t["target"] == target]
        return median(values) if values else None

    def errors(self, target: str, mode: str, conc: int) -> int:
        return sum(c.errors_status + c.errors_socket for c in self.cells.get((target, mode, conc), []))


def main_table(s: Summary) -> list[str]:
    concs = sorted({c.conc for c in s.run.cells})
    out = ["| target | mode | c | RPS | RPS per round | p50 ms | p99 ms | p50 overhead over direct ms | "
           "gateway CPU ms/req | upstream CPU ms/req | errors | other load on the box, cores |",
           "|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for mode in MODES:
        for conc in concs:
            for name in s.live:
                cells = s.cells.get((name, mode, conc), [])
                if not cells:
                    continue
                rounds = " / ".join(f"{c.rps:,.0f}" for c in sorted(cells, key=lambda c: c.round))
                gw = "(is the upstream)" if name == "direct" else _fmt(s.per_request_ms(name, mode, conc,
                                                                                      "cpu_target_s"), 3)
                up = s.per_request_ms(name, mode, conc, "cpu_target_s" if name == "direct" else "cpu_upstream_s")
                out.append(f"| {name} | {MODE_TITLE[mode]} | {conc} | {_fmt(s.get(name, mode, conc, 'rps'), 0)} | "
                           f"{rounds} | {_fmt(s.get(name, mode, conc, 'p50_ms'))} | "
                           f"{_fmt(s.get(name, mode, conc, 'p99_ms'))} | {_fmt(s.overhead(name, mode, conc))} | "
                           f"{gw} | {_fmt(up, 3)} | {s.errors(name, mode, conc)} | "
                           f"{' / '.join(f'{c.cpu_others_s / c.duration_s:.2f}' for c in cells)} |")
    return out


def ttfb_table(s: Summary) -> list[str]:
    out = ["| target | TTFB p50 ms | TTFB p99 ms | TTFB over direct ms | whole stream p50 ms (same client) |",
           "|---|---:|---:|---:|---:|"]
    direct = s.ttfb("direct")
    for name in s.live:
        mine = s.ttfb(name)
        over = None if name == "direct" or mine is None or direct is None else mine - direct
        out.append(f"| {name} | {_fmt(mine, 3)} | {_fmt(s.ttfb(name, 'ttfb_p99_ms'), 3)} | {_fmt(over, 3)} | "
                   f"{_fmt(s.ttfb(name, 'total_p50_ms'), 3)} |")
    return out


def ratio_table(s: Summary) -> list[str]:
    mine = [n for n in s.live if n.startswith("relaygate")]
    peers = [n for n in s.live if n in ("litellm", "portkey")]
    if not mine or not peers:
        return ["(no peer was measured, so there are no ratios)"]
    high = max(c.conc for c in s.run.cells)
    out = [f"| relaygate / peer | RPS non-stream c={high} | RPS stream c={high} | "
           "p50 overhead c=1 non-stream (peer ÷ ours) | p50 overhead c=1 stream (peer ÷ ours) | "
           f"CPU/req non-stream c={high} (peer ÷ ours) |",
           "|---|---:|---:|---:|---:|---:|"]
    for m in mine:
        for p in peers:
            cpu = _ratio(s.per_request_ms(p, "json", high, "cpu_target_s"),
                         s.per_request_ms(m, "json", high, "cpu_target_s"))
            out.append(
                f"| {m} / {p} | {_ratio(s.get(m, 'json', high, 'rps'), s.get(p, 'json', high, 'rps'))} | "
                f"{_ratio(s.get(m, 'stream', high, 'rps'), s.get(p, 'stream', high, 'rps'))} | "
                f"{_ratio(s.overhead(p, 'json', 1), s.overhead(m, 'json', 1))} | "
                f"{_ratio(s.overhead(p, 'stream', 1), s.overhead(m, 'stream', 1))} | "
                f"{cpu} |")
    return out


def cpu_table(s: Summary) -> list[str]:
    out = ["| target | mode | c | target's own | upstream | Redis | wrk | other processes on the box | "
           "kernel irq/softirq | whole machine | busiest long-lived other processes (s per cell) |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for (name, mode, conc), cells in sorted(s.cells.items(), key=lambda kv: (kv[0][1], kv[0][2])):
        own = s.per_request_ms(name, mode, conc, "cpu_target_s") or 0.0
        up = s.per_request_ms(name, mode, conc, "cpu_upstream_s") or 0.0
        aux = s.per_request_ms(name, mode, conc, "cpu_aux_s") or 0.0
        wrk = s.per_request_ms(name, mode, conc, "cpu_wrk_s") or 0.0
        others = s.per_request_ms(name, mode, conc, "cpu_others_s") or 0.0
        machine = s.per_request_ms(name, mode, conc, "cpu_machine_s") or 0.0
        irq = s.per_request_ms(name, mode, conc, "cpu_irq_s") or 0.0
        top = "; ".join(", ".join(f"{k} {v:.1f}" for k, v in c.others_top.items() if v >= 0.05) or "–"
                        for c in sorted(cells, key=lambda c: c.round))
        out.append(f"| {name} | {MODE_TITLE[mode]} | {conc} | {own:.3f} | {up:.3f} | {aux:.3f} | {wrk:.3f} | "
                   f"{others:.3f} | {irq:.3f} | {machine:.3f} | {top} |")
    return out


def rss_table(s: Summary) -> list[str]:
    phases = []
    for per in s.run.rss.values():
        for ph in per:
            if ph not in phases:
                phases.append(ph)
    out = ["| target | " + " | ".join(f"RSS MiB per worker, {p}" for p in phases) + " |",
           "|---|" + "---:|" * len(phases)]
    for name, per in s.run.rss.items():
        out.append(f"| {name} | " + " | ".join(", ".join(f"{v:.1f}" for v in per.get(p, [])) for p in phases) + " |")
    return out


def checks(s: Summary) -> list[str]:
    """The issue's targets, judged for each relaygate configuration measured."""
    high = max((c.conc for c in s.run.cells), default=64)
    out = ["| check | target | " + " | ".join(n for n in s.live if n.startswith("relaygate")) + " |",
           "|---|---|" + "---|" * len([n for n in s.live if n.startswith("relaygate")])]
    mine = [n for n in s.live if n.startswith("relaygate")]
    if not mine:
        return ["(relaygate was not measured)"]

    def row(label: str, goal: str, fn: Any) -> None:
        cells = []
        for m in mine:
            value, ok = fn(m)
            cells.append(f"{value} {'✅' if ok else '❌'}" if ok is not None else value)
        out.append(f"| {label} | {goal} | " + " | ".join(cells) + " |")

    def limit(v: float | None, goal: float, digits: int = 2) -> tuple[str, bool | None]:
        return (_fmt(v, digits), None) if v is None else (_fmt(v, digits), v <= goal)

    def at_least(a: float | None, b: float | None, goal: float) -> tuple[str, bool | None]:
        if not a or not b:
            return "peer not measured", None
        return f"{a / b:.1f}×", a / b >= goal

    direct_ttfb = s.ttfb("direct")
    row("p50 overhead, c=1, non-stream", "≤ 0.5 ms", lambda m: limit(s.overhead(m, "json", 1), 0.5))
    row("p50 overhead, c=1, whole 20-chunk stream", "≤ 0.5 ms", lambda m: limit(s.overhead(m, "stream", 1), 0.5))
    row("stream TTFB over direct (p50)", "≤ 1 ms",
        lambda m: limit(None if s.ttfb(m) is None or direct_ttfb is None else s.ttfb(m) - direct_ttfb, 1.0, 3))
    for mode in MODES:
        row(f"RPS c={high} {MODE_TITLE[mode]} vs Portkey", "≥ 6×",
            lambda m, mode=mode: at_least(s.get(m, mode, high, "rps"), s.get("portkey", mode, high, "rps"), 6))
        row(f"RPS c={high} {MODE_TITLE[mode]} vs LiteLLM", "≥ 30×",
            lambda m, mode=mode: at_least(s.get(m, mode, high, "rps"), s.get("litellm", mode, high, "rps"), 30))
    row(f"gateway CPU per request, c={high}, non-stream", "≤ 0.6 ms",
        lambda m: limit(s.per_request_ms(m, "json", high, "cpu_target_s"), 0.6, 3))
    row(f"gateway CPU per 20-chunk stream, c={high}", "≤ 0.8 ms",
        lambda m: limit(s.per_request_ms(m, "stream", high, "cpu_target_s"), 0.8, 3))

    def rss_after(m: str) -> tuple[str, bool | None]:
        per = s.run.rss.get(m, {})
        last = list(per.values())[-1] if per else []
        return (", ".join(f"{v:.0f}" for v in last) + " MiB", all(v <= 150 for v in last)) if last else ("–", None)

    def growth(m: str) -> tuple[str, bool | None]:
        per = s.run.rss.get(m, {})
        rounds = [v for k, v in per.items() if k.startswith("after round")]
        if len(rounds) < 2:
            return "needs 2 rounds", None
        first, last = rounds[0], rounds[-1]
        deltas = [b - a for a, b in zip(first, last, strict=False)]
        return ", ".join(f"{d:+.1f}" for d in deltas) + " MiB", all(d <= 5 for d in deltas)

    row("RSS per worker after the run", "≤ 150 MiB", rss_after)
    row("RSS growth from round 1 to the last round", "none (≤ 5 MiB)", growth)
    row("errors (non-2xx + socket)", "0", lambda m: (str(sum(s.errors(m, mo, c) for mo in MODES
                                                             for c in {c.conc for c in s.run.cells})),
                                                     sum(s.errors(m, mo, c) for mo in MODES
                                                         for c in {c.conc for c in s.run.cells}) == 0))
    row("every request recorded and billed", "yes",
        lambda m: (("yes" if s.run.accounting[m]["passed"] else "no"), s.run.accounting[m]["passed"])
        if m in s.run.accounting else ("not checked", None))
    return out


def accounting_section(s: Summary) -> list[str]:
    out: list[str] = []
    for name, a in s.run.accounting.items():
        out += [f"**{name}** — measured part only (after warm-up): clients got **{a['client_ok']:,}** successful "
                f"answers (wrk cells + TTFB client), with {a['client_errors']} errors; relaygate recorded "
                f"**{a['records']:,}** requests costing **{a['cost']}**, and the user's balance fell by "
                f"**{a['balance_change']}**. Price per request: {a['price_per_request']} "
                f"(12 prompt + 20 completion tokens); client successes × price = {a['expected_cost_for_client_ok']}. "
                f"Records beyond the clients' count: {a['records'] - a['client_ok']} "
                f"(allowed: ≤ {a['cut_off_bound']}, the requests in flight when wrk cut each cell off).", "",
                "| check | result |", "|---|---|"]
        out += [f"| {k} | {'✅' if v else '❌'} |" for k, v in a["checks"].items()]
        out += ["", "All rows of the usage table by outcome (warm-up included): " + "; ".join(
            f"{o} {st}: {n:,} rows, cost {lo}–{hi} µ each" for o, st, n, lo, hi, _sum in a["outcomes_all_rows"]), ""]
    return out or ["(relaygate was not measured)"]


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _cmd(args: list[str]) -> str:
    try:
        return subprocess.run(args, capture_output=True, text=True, cwd=REPO, timeout=10).stdout.strip()
    except OSError:
        return "?"


def machine() -> dict[str, str]:
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = next((ln.split()[1] for ln in Path("/proc/meminfo").read_text().splitlines()
                if ln.startswith("MemTotal")), "0")
    return {"cores (nproc)": str(os.cpu_count()), "CPU": cpu, "memory": f"{int(mem) / 1024 / 1024:.1f} GiB",
            "kernel": platform.release(), "wrk": _cmd(["wrk", "--version"]).split(" [")[0] or "?"}


def versions(s: Summary) -> dict[str, str]:
    rev = _cmd(["git", "rev-parse", "--short", "HEAD"])
    diff = subprocess.run(["git", "diff", "HEAD", "--", "src"], capture_output=True, cwd=REPO).stdout
    untracked = _cmd(["git", "ls-files", "--others", "--exclude-standard", "--", "src"])
    dirty = ""
    if diff or untracked:
        digest = hashlib.sha1(diff + untracked.encode()).hexdigest()[:10]
        dirty = f" + uncommitted changes in src/ (diff sha1 {digest})"
    out = {"relaygate": f"{_version('relaygate')}, git {rev}{dirty}", "python": sys.version.split()[0],
           "uvicorn": _version("uvicorn"), "aiohttp": _version("aiohttp"), "uvloop": _version("uvloop"),
           "httptools": _version("httptools"), "orjson": _version("orjson")}
    for name in ("litellm", "portkey"):
        t = s.run.targets.get(name)
        if t is not None:
            out[t["title"]] = t["version"] or "–"
    return out


def render(run: Run, command: str) -> str:
    s = Summary(run)
    o = run.options
    lines = [
        "# relaygate benchmark: beside LiteLLM and Portkey",
        "",
        f"Run {run.started}, `{command}`, {run.wall_s / 60:.1f} min. Produced by `bench/` (see "
        "`bench/__main__.py`); rerun with `make bench`.",
        "",
        "## Machine and versions",
        "",
        *[f"- {k}: {v}" for k, v in machine().items()],
        *[f"- {k}: {v}" for k, v in versions(s).items()],
        "",
        "## Method",
        "",
        f"- Fake upstream (`bench/upstream.py`): raw asyncio protocol on uvloop, {o['upstream_procs']} process; "
        "a 20-word chat completion, or a stream of 20 content chunks (each event its own HTTP chunk and socket "
        "write) + usage chunk when asked + `[DONE]`. Usage is fixed (12 prompt, 20 completion tokens).",
        f"- Load: `wrk` on loopback, {o['duration_s']:g} s per cell, concurrency "
        f"{', '.join(map(str, o['concurrency']))} "
        f"(1 wrk thread at c=1, 2 above), {o['rounds']} interleaved rounds (every target's cell, then again); figures "
        "are medians of the rounds. For streams wrk times the whole response. Each target had a warm-up "
        f"({o['warmup_s']:g} s at c=64 per mode) before the first cell.",
        f"- TTFB: a raw-socket client sends {o['ttfb_count']} sequential stream requests per round over one "
        "keep-alive connection and times the first `data:` bytes.",
        "- CPU: utime+stime from `/proc/<pid>/stat` of every process of a target, before and after each cell, "
        "divided by the requests wrk completed. Upstream, Redis and wrk are measured apart, and so is every other "
        "process on the box (this machine is shared: other work may run during a cell): the machine's process time "
        "from `/proc/stat` (short-lived processes included) less the benchmark's own; kernel irq/softirq time "
        "(mostly loopback TCP) is shown apart. Before each cell the driver waits (up to "
        f"{o['quiet_max_wait_s']:g} s, {o['quiet_budget_s']:g} s in all) for other load to fall under 0.15 cores.",
        "- relaygate runs as users run it: a channel to the upstream, a price (input 10.00 / output 30.00 per 1M "
        "tokens), a funded user and a real key created through the management API; usage recording on; SQLite in "
        "a fresh data dir; the multi-worker runs with Redis (db 13, each target under its own key prefix, "
        "deleted before it starts).",
        "- Why uvicorn, the gateway's own upstream client and quota blocks with Redis, with the figures that "
        "decided it: [CHOICES.md](CHOICES.md).",
        "",
    ]
    loads = sorted(c.cpu_others_s / c.duration_s for c in run.cells if c.duration_s)
    if loads:
        mid = loads[len(loads) // 2]
        warn = (" **The box was not quiet: other sessions' work shared the two cores with the benchmark, so "
                "throughput and latency figures are lower and noisier than on an idle machine; CPU per request "
                "(each process's own time) is the least affected figure.**" if mid > 0.2 else "")
        lines += [f"Other load on the box during the cells (processes outside the benchmark): median "
                  f"{mid:.2f} cores, max {loads[-1]:.2f}; waited {run.waited_before_s:.0f} s for quiet before the "
                  f"first cell and {sum(c.waited_s for c in run.cells):.0f} s between cells.{warn}", ""]
    skipped = [(n, t) for n, t in run.targets.items() if t["skipped"]]
    if skipped:
        lines += ["**Missing columns:** " + "; ".join(f"{t['title']} — {t['skipped']}" for n, t in skipped), ""]
    notes = [(n, t) for n, t in run.targets.items() if t["notes"] and not t["skipped"]]
    if notes:
        lines += ["Target notes: " + "; ".join(f"{n}: {', '.join(t['notes'])}" for n, t in notes), ""]
    lines += ["## Results", "", *main_table(s), "", "### Stream time to first byte (sequential, c=1)", "",
              *ttfb_table(s), "", "### Ratios", "", *ratio_table(s), "", "### The issue's targets", "", *checks(s),
              "", "### CPU per request by process (ms, median of rounds)", "", *cpu_table(s), "",
              "### Memory", "", *rss_table(s), "", "### Accounting check", "", *accounting_section(s), ""]
    return "\n".join(lines)
