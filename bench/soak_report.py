"""bench/SOAK.md: the soak's and the SIGKILL measurement's figures, each in its own section.

Each tool rewrites only its section (between ``<!-- name:start -->`` and ``<!-- name:end -->``),
so running one does not erase the other's figures.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from bench import soak_client as load

if TYPE_CHECKING:
    from bench.soak import SoakResult

HEADER = "# relaygate: soak and crash figures\n\nWritten by `python -m bench.soak` and `python -m bench.sigkill`.\n"


def write_section(path: Path, name: str, text: str) -> None:
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{text.rstrip()}\n{end}\n"
    current = path.read_text() if path.exists() else HEADER
    if start in current and end in current:
        before, rest = current.split(start, 1)
        after = rest.split(end, 1)[1].lstrip("\n")
        current = before + block + ("\n" + after if after else "")
    else:
        current = current.rstrip() + "\n\n" + block
    path.write_text(current)


def render_markdown(r: SoakResult, command: str, machine: str) -> str:
    o = r.options
    lines = [f"## Soak: {r.requests:,} mixed requests against one gateway ({r.backend})", "",
             f"{r.started}; `{command}`; {r.wall_s:.0f} s in all.  ", f"Machine: {machine}.", "",
             ("One gateway process (1 worker)" if o.workers == 1 else
              f"One gateway with {o.workers} worker processes sharing balances through Redis")
             + ", usage flushed every 0.5 s (the default), the usage journal on; "
             f"{o.concurrency} requests in flight; passes: warm-up {o.warmup:,}, main {o.requests:,}, "
             f"second {o.second_pass:,}. Upstreams: OpenAI simulators in their own process, one per behaviour "
             f"(knobs in bench/soak_client.py), closing idle keep-alive connections after 1 s.", "",
             "| pass | requests | seconds | req/s | gateway 5xx | unexpected |", "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {p.name} | {p.requests:,} | {p.wall_s:.1f} | {p.rps:.0f} | {p.count(load.GATEWAY_5XX)} | "
              f"{p.count(load.UNEXPECTED)} |" for p in r.passes]
    mix: Counter[tuple[str, str]] = Counter()
    for p in r.passes:
        mix.update(p.verdicts)
    lines += ["", "Mix, every pass together (kind: what the client got):", "",
              "| kind | verdict | requests |", "|---|---|---:|"]
    lines += [f"| {k} | {v} | {n:,} |" for (k, v), n in sorted(mix.items())]
    lines += ["", "Gateway worker processes, sampled when idle after each phase (/proc, and the gateway's own "
              "/metrics):", "",
              "| phase | worker pid | RSS MiB | open fds | of which sockets | asyncio tasks | /metrics RSS MiB | "
              "/metrics fds |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {s.phase} | {s.pid} | {s.rss_mib} | {s.fds} | {s.sockets} | {s.tasks} | {s.metrics_rss_mib} | "
              f"{s.metrics_fds} |" for s in r.samples]
    acc = dict(r.accounting)
    outcomes = acc.pop("outcomes", [])
    lines += ["", "Accounting, from the database tables (money in micro-units):", "", "| figure | value |",
              "|---|---:|"]
    lines += [f"| {k} | {v:,} |" for k, v in acc.items()]
    lines += ["", "Usage records by outcome: " + ", ".join(f"{o} {s}: {n:,} (cost {c:,})" for o, s, n, c in outcomes)
              + ".", "", "| check | |", "|---|---|"]
    lines += [f"| {name} | {'PASS' if ok else '**FAIL**'} |" for name, ok in r.checks.items()]
    examples = {v: e for p in r.passes for v, e in p.examples.items()}
    if examples:
        lines += ["", "First bad responses:", ""] + [f"- {v}: `{e}`" for v, e in examples.items()]
    if r.log_errors:
        lines += ["", "Gateway log errors:", "", "```", *r.log_errors, "```"]
    return "\n".join(lines) + "\n"
