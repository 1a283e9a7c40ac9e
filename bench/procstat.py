"""CPU time and memory of process trees, read from /proc.

Why per process: on a 2-core machine the load generator, the fake upstream and the gateway
share the cores, so the machine's CPU says little. Each target's own CPU (utime + stime of all
its processes, summed over the cell) divided by the requests served is the cost the gateway
itself adds per request.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def descendants(pid: int) -> list[int]:
    """The process and all its children, grandchildren... (threads' children included)."""
    out: list[int] = []
    todo = [pid]
    while todo:
        p = todo.pop()
        if not Path(f"/proc/{p}").exists():
            continue
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                todo.extend(int(c) for c in (task / "children").read_text().split())
            except OSError:
                continue
    return out


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process (its own threads, not its reaped children); 0 if gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = raw[raw.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # fields 14 and 15 of stat(5)


def rss_mib(pid: int) -> float:
    try:
        pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except OSError:
        return 0.0
    return pages * PAGE / (1024 * 1024)


def comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


@dataclass
class CpuSample:
    """CPU seconds per pid at one instant; subtract two samples to get a cell's usage."""

    per_pid: dict[int, float]

    @classmethod
    def take(cls, pids: list[int]) -> CpuSample:
        return cls({p: cpu_seconds(p) for p in pids})

    def since(self, before: CpuSample) -> float:
        return sum(v - before.per_pid.get(p, 0.0) for p, v in self.per_pid.items())


@dataclass
class MachineTimes:
    """All cores' CPU seconds so far from /proc/stat, split as the kernel accounts them.

    ``processes`` (user + nice + system) is every process's time, short-lived ones included,
    which a scan of /proc would miss once they exit; ``irq`` (irq + softirq) is work done
    outside any process, mostly loopback TCP here.
    """

    processes: float
    irq: float

    @classmethod
    def take(cls) -> MachineTimes:
        first = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
        v = [int(x) for x in first] + [0] * 8
        return cls((v[0] + v[1] + v[2]) / CLK_TCK, (v[5] + v[6]) / CLK_TCK)

    def since(self, before: MachineTimes) -> MachineTimes:
        return MachineTimes(self.processes - before.processes, self.irq - before.irq)


def self_cpu_seconds() -> float:
    """This process's own CPU (the benchmark driver), to leave it out of "other load"."""
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def all_processes() -> dict[int, tuple[str, float]]:
    """Every process on the machine: pid -> (name, CPU seconds). Used to show other load on the box."""
    out: dict[int, tuple[str, float]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            pid = int(entry.name)
            out[pid] = (comm(pid), cpu_seconds(pid))
    return out


def others_since(before: dict[int, tuple[str, float]], exclude: set[int]) -> tuple[float, dict[str, float]]:
    """CPU used since ``before`` by processes outside ``exclude`` that lived through the interval,
    in total and per process name."""
    by_name: dict[str, float] = {}
    for pid, (name, cpu) in all_processes().items():
        if pid in exclude or pid not in before or before[pid][0] != name:
            continue
        used = cpu - before[pid][1]
        if used > 0:
            by_name[name] = by_name.get(name, 0.0) + used
    return sum(by_name.values()), by_name


def fd_counts(pid: int) -> tuple[int, int]:
    """(open file descriptors, how many of them are sockets) of one process; (0, 0) if gone."""
    total = sockets = 0
    try:
        entries = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return 0, 0
    for entry in entries:
        try:
            target = os.readlink(entry)
        except OSError:  # closed while we looked
            continue
        total += 1
        sockets += target.startswith("socket:")
    return total, sockets
