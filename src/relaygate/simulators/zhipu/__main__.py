"""Standalone runner: ``python -m relaygate.simulators.zhipu --port 9006 --key id.secret``."""

from __future__ import annotations

import argparse
import asyncio

from .simulator import ZhipuSimulator


async def _serve(args: argparse.Namespace) -> None:
    sim = ZhipuSimulator(api_keys=args.keys or ["zhipu-id.zhipu-secret"])
    url = await sim.start(host=args.host, port=args.port)
    print(f"Zhipu simulator listening on {url}/api/paas/v4  (control plane: /__sim/knobs)", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await sim.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m relaygate.simulators.zhipu")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9006)
    parser.add_argument("--key", action="append", dest="keys", help="accepted <id>.<secret> key (repeatable)")
    try:
        asyncio.run(_serve(parser.parse_args(argv)))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
