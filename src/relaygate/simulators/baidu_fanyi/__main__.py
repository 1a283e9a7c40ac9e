"""Standalone runner: ``python -m relaygate.simulators.baidu_fanyi --port 9008 --app APPID:SECRET``."""

from __future__ import annotations

import argparse
import asyncio

from .simulator import FanyiSimulator


async def _serve(args: argparse.Namespace) -> None:
    apps = dict(a.split(":", 1) for a in args.apps or ["20240001:fanyi-secret"])
    sim = FanyiSimulator(apps=apps)
    url = await sim.start(host=args.host, port=args.port)
    print(f"Baidu Fanyi simulator listening on {url}  (control plane: /__sim/knobs)", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await sim.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m relaygate.simulators.baidu_fanyi")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9008)
    parser.add_argument("--app", action="append", dest="apps", help="APPID:SECRET (repeatable)")
    try:
        asyncio.run(_serve(parser.parse_args(argv)))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
