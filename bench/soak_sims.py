"""The soak's upstreams: several OpenAI simulators in one process, each with its own fault knobs.

Knobs are per simulator, not per request, so each kind of upstream behaviour (healthy, failing
half the time, cutting streams, trickling) gets its own simulator and its own model on the
gateway. A separate process keeps the simulators' CPU off the load client's core.

``python -m bench.soak_sims '{"ok": {}, "flaky": {"error_rate": 0.5}}'`` prints one JSON line,
``{"ok": "http://127.0.0.1:PORT/v1", ...}``, then serves until SIGTERM. The simulators' request
logs are cleared every few seconds: tens of thousands of recorded requests are not the point here.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Any

import orjson

from relaygate.simulators.openai import OpenAISimulator
from relaygate.simulators.openai.knobs import Knobs

SIM_KEY = "sk-soak-upstream"
# Idle keep-alive connections are closed after this long, as real upstreams do (sooner than most):
# the gateway must cope with pooled connections dying under it, and once the load stops its pool
# empties, so its open sockets can be compared exactly between passes.
KEEPALIVE_S = 1.0


async def serve(knobs: dict[str, dict[str, Any]]) -> None:
    sims: dict[str, OpenAISimulator] = {}
    for name, values in knobs.items():
        k = Knobs()
        k.update(values)
        sims[name] = OpenAISimulator(api_keys={SIM_KEY}, knobs=k, keepalive_timeout=KEEPALIVE_S)
    urls = {name: await sim.start() for name, sim in sims.items()}
    print(orjson.dumps(urls).decode(), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), timeout=5.0)
        except TimeoutError:
            for sim in sims.values():
                sim.requests.clear()
    for sim in sims.values():
        await sim.stop()


def main() -> None:
    asyncio.run(serve(orjson.loads(sys.argv[1])))


if __name__ == "__main__":
    main()
