"""Where a relaygate worker spends its time under load: py-spy samples during a wrk cell.

``python -m bench.profile [--mode stream|json] [--workers 1] [--seconds 10] [--concurrency 64]`` starts
the fake upstream and relaygate (set up as in the benchmark), drives wrk at that concurrency, samples the
busiest worker
with py-spy and prints the top frames by own time, by inclusive time and by module. It is the
measuring half of optimisation work: rerun it after a change and compare the lists.

py-spy attributes time spent in C (uvloop, syscalls) to the Python frame that called it, so
e.g. ``RequestResponseCycle.send`` includes the socket writes it triggers.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

from bench.load import ensure_wrk, run_wrk, scratch_dir, write_script
from bench.procstat import cpu_seconds
from bench.runner import request_body
from bench.targets import Relaygate, Upstream


def ensure_py_spy() -> str:
    exe = Path(sys.executable).parent / "py-spy"
    if exe.exists():
        return str(exe)
    found = shutil.which("py-spy")
    if found:
        return found
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "py-spy"], check=True)
    return str(exe)


def _module(frame: str) -> str:
    m = re.search(r"\((.*?)(:\d+)?\)$", frame)
    path = m.group(1) if m else frame
    if "relaygate/" in path:
        return "relaygate/" + path.split("relaygate/")[-1]
    if "site-packages/" in path:
        return path.split("site-packages/")[-1].split("/")[0]
    if "/lib/python3" in path:
        return "stdlib/" + path.split("/lib/python3")[-1].split("/", 2)[-1].split("/")[0]
    return path


def summarise(raw: Path, top: int = 25) -> str:
    own: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    mods: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        if not line.strip():
            continue
        stack, count = line.rsplit(" ", 1)
        n = int(count)
        total += n
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
        own[frames[-1]] += n
        mods[_module(stack.split(";")[-1])] += n
        for f in set(frames):
            incl[f] += n
    if not total:
        return "no samples"
    out = [f"{total} samples"]
    for title, counter in (("own time", own), ("inclusive time", incl), ("own time by module", mods)):
        out += ["", f"== top {top} by {title}"]
        out += [f"{100 * n / total:5.1f}%  {f}" for f, n in counter.most_common(top)]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.split("\n")[0])
    p.add_argument("--mode", choices=("json", "stream"), default="stream")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--rate", type=int, default=250, help="samples per second")
    p.add_argument("--concurrency", type=int, default=64, help="connections wrk keeps busy (default 64)")
    a = p.parse_args(argv)
    wrk, spy, workdir = ensure_wrk(), ensure_py_spy(), scratch_dir()
    upstream = Upstream(workdir)
    upstream.start()
    gw = Relaygate(workdir, upstream, a.workers)
    try:
        gw.start()
        script = write_script(workdir / "load.lua", request_body(a.mode), gw.headers)
        threads = 1 if a.concurrency == 1 else 2
        before = {p: cpu_seconds(p) for p in gw.worker_pids()}
        run_wrk(wrk, gw.url + gw.path, script, a.concurrency, 2.0, threads=threads)  # warm-up
        pid = max(before, key=lambda p: cpu_seconds(p) - before[p])  # at c=1 one worker serves it all
        load = threading.Thread(target=run_wrk, args=(wrk, gw.url + gw.path, script, a.concurrency, a.seconds + 3),
                                kwargs={"threads": threads}, daemon=True)
        load.start()
        raw = workdir / "profile.raw"
        subprocess.run([spy, "record", "-p", str(pid), "-d", f"{a.seconds:g}", "-r", str(a.rate), "--nonblocking",
                        "--format", "raw", "-o", str(raw)], check=True, capture_output=True)
        load.join()
        print(f"relaygate {a.workers} worker(s), {a.mode}, c={a.concurrency}, worker pid {pid}; raw stacks: {raw}")
        print(summarise(raw))
    finally:
        gw.stop()
        upstream.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
