"""The soak's load: a seeded mix of request kinds, each response judged against what its upstream did.

Every kind goes to its own model, served by a simulator with matching fault knobs
(bench/soak_sims.py), so the client knows what each answer should be and can tell an upstream
failure the gateway relayed (the injected error body, with its distinctive code, passed through)
from a failure the gateway made itself (any other 5xx, a broken connection, a missing
``[DONE]`` on a healthy stream). Every response's ``X-Request-Id`` is kept, so the database
check can compare the exact set of requests with the set of usage records.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

FAULT_CODE = "soak_upstream_fault"
SIM_KNOBS: dict[str, dict[str, Any]] = {
    "ok": {},
    "flaky": {"error_rate": 0.5, "seed": 11, "fail_status": 500,
              "fail_body": {"error": {"message": "soak: injected upstream failure", "type": "server_error",
                                      "param": None, "code": FAULT_CODE}}},
    "cut": {"stream_cut_after": 3},  # the upstream resets the connection after 3 content chunks
    "slow": {"trickle_ms": 15},  # 20 chunks over ~0.3 s: time for the client to leave mid-stream
}
MODELS = {name: f"soak-{name}" for name in SIM_KNOBS}
UNSERVED_MODEL = "soak-unserved"

# verdicts: what a response was, judged against its kind
OK, RELAYED_5XX, CUT, LEFT, REFUSED = "ok", "relayed upstream 5xx", "stream cut by upstream", "client left", "404"
GATEWAY_5XX, UNEXPECTED = "GATEWAY 5xx", "UNEXPECTED"
BAD = (GATEWAY_5XX, UNEXPECTED)


@dataclass(frozen=True)
class Kind:
    name: str
    weight: float
    sim: str | None  # None: a model no channel serves (a refusal that is still recorded)
    stream: bool
    leave: bool = False  # the client disconnects after the first event

    @property
    def model(self) -> str:
        return MODELS[self.sim] if self.sim else UNSERVED_MODEL


KINDS = (
    Kind("json", 0.34, "ok", False),
    Kind("stream", 0.30, "ok", True),
    Kind("flaky json", 0.10, "flaky", False),
    Kind("flaky stream", 0.06, "flaky", True),
    Kind("cut stream", 0.08, "cut", True),
    Kind("disconnect", 0.09, "slow", True, leave=True),
    Kind("unknown model", 0.03, None, False),
)


@dataclass
class PassResult:
    name: str
    requests: int = 0
    wall_s: float = 0.0
    verdicts: Counter[tuple[str, str]] = field(default_factory=Counter)  # (kind, verdict) -> n
    statuses: Counter[int] = field(default_factory=Counter)
    ids: set[str] = field(default_factory=set)
    without_id: int = 0
    examples: dict[str, str] = field(default_factory=dict)  # first bad response of each verdict

    @property
    def rps(self) -> float:
        return self.requests / self.wall_s if self.wall_s else 0.0

    def count(self, verdict: str) -> int:
        return sum(n for (_k, v), n in self.verdicts.items() if v == verdict)


def _error_code(body: bytes) -> str | None:
    try:
        err = orjson.loads(body).get("error")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return err.get("code") if isinstance(err, dict) else None


def judge(kind: Kind, status: int, body: bytes) -> str:
    if status >= 500:
        return RELAYED_5XX if kind.sim == "flaky" and _error_code(body) == FAULT_CODE else GATEWAY_5XX
    if kind.sim is None:
        return REFUSED if status == 404 else UNEXPECTED
    if status != 200:
        return UNEXPECTED
    if not kind.stream:
        try:
            return OK if orjson.loads(body)["choices"][0]["message"]["content"] else UNEXPECTED
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
            return UNEXPECTED
    done = body.rstrip().endswith(b"data: [DONE]")
    if kind.sim == "cut":
        return CUT if not done and b"stream_incomplete" in body else UNEXPECTED
    return OK if done else UNEXPECTED


async def one(session: aiohttp.ClientSession, url: str, headers: dict[str, str], kind: Kind, n: int,
              result: PassResult) -> None:
    body: dict[str, Any] = {"model": kind.model, "max_tokens": 64,
                            "messages": [{"role": "user", "content": f"soak request {n}: say something"}]}
    if kind.stream:
        body["stream"] = True
    verdict, status, raw = UNEXPECTED, 0, b""
    try:
        async with session.post(url, data=orjson.dumps(body), headers=headers) as resp:
            status = resp.status
            rid = resp.headers.get("X-Request-Id")
            if rid:
                result.ids.add(rid)
            else:
                result.without_id += 1
            if kind.leave and status == 200:
                async for chunk in resp.content.iter_any():
                    if b"data:" in chunk:
                        break
                resp.close()  # drops the connection mid-stream
                verdict = LEFT
            else:
                raw = await resp.read()
                verdict = judge(kind, status, raw)
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raw = f"{type(exc).__name__}: {exc}".encode()
    result.statuses[status] += 1
    result.verdicts[(kind.name, verdict)] += 1
    if verdict in BAD and verdict not in result.examples:
        result.examples[verdict] = f"{kind.name} -> {status}: {raw[:300]!r}"


async def run_pass(name: str, base_url: str, key: str, requests: int, concurrency: int, seed: int) -> PassResult:
    """``requests`` requests, ``concurrency`` at a time, kinds drawn from a seeded RNG."""
    rng = random.Random(seed)
    kinds = rng.choices(KINDS, weights=[k.weight for k in KINDS], k=requests)
    result = PassResult(name, requests)
    url = f"{base_url}/v1/chat/completions"
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    queue = iter(enumerate(kinds))
    timeout = aiohttp.ClientTimeout(total=120)
    started = time.perf_counter()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency), timeout=timeout) as session:

        async def worker() -> None:
            for n, kind in queue:
                await one(session, url, headers, kind, n, result)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.wall_s = time.perf_counter() - started
    return result
