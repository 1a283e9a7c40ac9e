"""``python -m bench`` (``make bench``): relaygate beside LiteLLM and Portkey, written to RESULTS.md.

Options for development: ``--quick`` (2 s cells, one round, 50 TTFB requests), ``--targets`` to
measure a subset (the direct upstream is always included: every overhead is relative to it),
``--no-write`` to leave RESULTS.md alone.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from bench.report import render
from bench.runner import Options, log, run, save_json

BENCH = Path(__file__).resolve().parent


def parse(argv: list[str] | None) -> tuple[Options, argparse.Namespace]:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="2 s cells, 1 round, short warm-up (development)")
    p.add_argument("--duration", type=float, help="seconds per cell (default 10)")
    p.add_argument("--rounds", type=int, help="interleaved rounds (default 2)")
    p.add_argument("--targets", help="comma list: relaygate-1w, relaygate-2w, litellm, portkey (direct always); "
                   "relaygate-<N>w-aiohttp measures the gateway with RELAYGATE_UPSTREAM_CLIENT=aiohttp, "
                   "relaygate-<N>w-nolease with RELAYGATE_LEDGER_LEASE_REQUESTS=0")
    p.add_argument("--concurrency", help="comma list (default 1,64)")
    p.add_argument("--ttfb-count", type=int, help="sequential streams per round for TTFB (default 200)")
    p.add_argument("--upstream-procs", type=int, default=1, help="fake upstream processes (default 1)")
    p.add_argument("--wait-quiet", type=float, help="seconds to wait at most for other load to stop (default 120)")
    p.add_argument("--no-write", action="store_true", help="print only; do not touch bench/RESULTS.md")
    p.add_argument("--out", type=Path, default=BENCH / "RESULTS.md")
    a = p.parse_args(argv)
    o = Options(upstream_procs=a.upstream_procs)
    if a.quick:
        o.duration_s, o.rounds, o.ttfb_count, o.warmup_s = 2.0, 1, 50, 1.0
    if a.duration is not None:
        o.duration_s = a.duration
    if a.rounds is not None:
        o.rounds = a.rounds
    if a.ttfb_count is not None:
        o.ttfb_count = a.ttfb_count
    if a.wait_quiet is not None:
        o.wait_quiet_s = a.wait_quiet
    if a.targets:
        o.targets = {t.strip() for t in a.targets.split(",") if t.strip()}
    if a.concurrency:
        o.concurrency = tuple(int(c) for c in a.concurrency.split(","))
    return o, a


def main(argv: list[str] | None = None) -> int:
    opts, args = parse(argv)
    command = "python -m bench" + ("" if not (argv or sys.argv[1:]) else " " + shlex.join(argv or sys.argv[1:]))
    result = run(opts)
    text = render(result, command)
    print(text)
    if not args.no_write:
        args.out.write_text(text)
        save_json(result, args.out.with_name("results.json"))
        log(f"wrote {args.out} and {args.out.with_name('results.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
