"""Standalone runner: ``python -m relaygate.simulators.spark --credential APPID:APIKEY:APISECRET``."""

from __future__ import annotations

import argparse
import asyncio

from .simulator import SparkSimulator


async def _serve(args: argparse.Namespace) -> None:
    creds = {}
    for item in args.credentials or ["app00001:spark-key:spark-secret"]:
        app_id, api_key, secret = item.split(":", 2)
        creds[api_key] = (app_id, secret)
    sim = SparkSimulator(credentials=creds)
    url = await sim.start(host=args.host, port=args.port)
    print(f"Spark simulator listening on {url}  (control plane: /__sim/knobs)", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await sim.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m relaygate.simulators.spark")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9005)
    parser.add_argument("--credential", action="append", dest="credentials",
                        help="APPID:APIKEY:APISECRET (repeatable)")
    try:
        asyncio.run(_serve(parser.parse_args(argv)))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
