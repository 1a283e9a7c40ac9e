"""Request metrics in Prometheus text format, cheap enough for the hot path.

Each process counts in plain dicts and lists (no locks: one event loop). Several worker
processes each write their counts to ``<data-dir>/metrics/<pid>.json`` every few seconds, and
``/metrics`` adds up the files of live processes, so a scrape that lands on any worker sees the
whole gateway.

Besides the request counts, each process reports its own resident memory, open file descriptors,
CPU time and live asyncio tasks (labelled by pid): a gateway that leaks any of them under load
shows it here long before it falls over (bench/soak.py watches exactly these).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import os
from pathlib import Path

import orjson

# gateway overhead per request, in milliseconds
OVERHEAD_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0)
# whole request latency, in seconds
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def process_sample() -> dict[str, float]:
    """This process's gauges. Call it on the event loop's thread: ``asyncio.all_tasks`` needs the
    running loop. RSS and fds come from /proc (Linux); elsewhere those two are left out."""
    times = os.times()
    sample: dict[str, float] = {"pid": os.getpid(), "cpu_seconds": times.user + times.system}
    with contextlib.suppress(RuntimeError):
        sample["tasks"] = len(asyncio.all_tasks())
    with contextlib.suppress(OSError, ValueError, IndexError):
        with open("/proc/self/statm", "rb") as f:
            sample["rss_bytes"] = int(f.read().split()[1]) * _PAGE
        sample["open_fds"] = len(os.listdir("/proc/self/fd")) - 1  # minus the one listdir itself opened
    return sample


class Histogram:
    __slots__ = ("buckets", "count", "counts", "total")

    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)
        self.count = 0
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.count += 1
        self.total += value

    def state(self) -> dict:
        return {"counts": self.counts, "count": self.count, "total": self.total}


class Metrics:
    def __init__(self) -> None:
        self.overhead = Histogram(OVERHEAD_BUCKETS)
        self.latency = Histogram(LATENCY_BUCKETS)
        self.requests: dict[tuple[str, int], int] = {}  # (endpoint, status) -> count

    def observe(self, endpoint: str, status: int, overhead_ms: float, latency_s: float) -> None:
        key = (endpoint, status)
        self.requests[key] = self.requests.get(key, 0) + 1
        self.overhead.observe(overhead_ms)
        self.latency.observe(latency_s)

    def state(self, process: dict[str, float] | None = None) -> dict:
        out = {"overhead": self.overhead.state(), "latency": self.latency.state(),
               "requests": [[e, s, n] for (e, s), n in self.requests.items()]}
        if process is not None:
            out["process"] = process
        return out

    def dump(self, folder: Path, process: dict[str, float] | None = None) -> None:
        """Publish this process's counts for the others (atomic rename: never half a file)."""
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{os.getpid()}.tmp"
        tmp.write_bytes(orjson.dumps(self.state(process)))
        tmp.replace(folder / f"{os.getpid()}.json")


def collect(folder: Path, own: Metrics, process: dict[str, float] | None = None) -> list[dict]:
    """This process's live counts plus the last published counts of every other live worker."""
    states = [own.state(process)]
    if folder.is_dir():
        for path in folder.glob("*.json"):
            pid = int(path.stem)
            if pid == os.getpid():
                continue
            if not _alive(pid):
                with contextlib.suppress(OSError):
                    path.unlink()
                continue
            with contextlib.suppress(OSError, orjson.JSONDecodeError):
                states.append(orjson.loads(path.read_bytes()))
    return states


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def render(states: list[dict]) -> str:
    lines: list[str] = []
    requests: dict[tuple[str, int], int] = {}
    for st in states:
        for endpoint, status, n in st["requests"]:
            requests[(endpoint, status)] = requests.get((endpoint, status), 0) + n
    lines += ["# HELP relaygate_requests_total Relayed requests by endpoint and status.",
              "# TYPE relaygate_requests_total counter"]
    lines += [f'relaygate_requests_total{{endpoint="{e}",status="{s}"}} {n}' for (e, s), n in sorted(requests.items())]
    _render_hist(lines, "relaygate_overhead_ms", "Time spent in the gateway itself per request, in ms.",
                 OVERHEAD_BUCKETS, [st["overhead"] for st in states])
    _render_hist(lines, "relaygate_request_seconds", "Whole request latency as the caller saw it, in seconds.",
                 LATENCY_BUCKETS, [st["latency"] for st in states])
    _render_process(lines, [st["process"] for st in states if st.get("process")])
    return "\n".join(lines) + "\n"


# (name, key in the sample, type, help): the first three are the standard Prometheus process metrics
_GAUGES = (
    ("process_resident_memory_bytes", "rss_bytes", "gauge", "Resident memory size in bytes."),
    ("process_open_fds", "open_fds", "gauge", "Number of open file descriptors."),
    ("process_cpu_seconds_total", "cpu_seconds", "counter", "Total user and system CPU time spent in seconds."),
    ("relaygate_asyncio_tasks", "tasks", "gauge", "Live asyncio tasks in the worker's event loop."),
)


def _render_process(lines: list[str], samples: list[dict]) -> None:
    """One series per worker process (label ``pid``); other workers' values are up to 2 s old."""
    for name, key, kind, help_text in _GAUGES:
        rows = [(int(p["pid"]), p[key]) for p in samples if key in p]
        if not rows:
            continue
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
        lines += [f'{name}{{pid="{pid}"}} {_num(value)}' for pid, value in sorted(rows)]


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.3f}"


def _render_hist(lines: list[str], name: str, help_text: str, buckets: tuple[float, ...], parts: list[dict]) -> None:
    counts = [sum(p["counts"][i] for p in parts) for i in range(len(buckets) + 1)]
    lines += [f"# HELP {name} {help_text}", f"# TYPE {name} histogram"]
    running = 0
    for bound, n in zip(buckets, counts, strict=False):
        running += n
        lines.append(f'{name}_bucket{{le="{bound}"}} {running}')
    running += counts[-1]
    lines.append(f'{name}_bucket{{le="+Inf"}} {running}')
    lines.append(f"{name}_sum {sum(p['total'] for p in parts)}")
    lines.append(f"{name}_count {sum(p['count'] for p in parts)}")
