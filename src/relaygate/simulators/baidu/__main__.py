"""Standalone runner: ``python -m relaygate.simulators.baidu --port 9004 --credential AK:SK``."""

from __future__ import annotations

import argparse
import asyncio

from .simulator import BaiduSimulator


async def _serve(args: argparse.Namespace) -> None:
    creds = dict(c.split(":", 1) for c in args.credentials) if args.credentials else None
    sim = BaiduSimulator(credentials=creds)
    url = await sim.start(host=args.host, port=args.port)
    print(f"Qianfan v1 simulator listening on {url}  (control plane: /__sim/knobs)", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await sim.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m relaygate.simulators.baidu")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9004)
    parser.add_argument("--credential", action="append", dest="credentials", help="API_KEY:SECRET_KEY (repeatable)")
    try:
        asyncio.run(_serve(parser.parse_args(argv)))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
