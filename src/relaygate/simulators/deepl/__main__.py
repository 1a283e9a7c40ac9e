"""Standalone runner: ``python -m relaygate.simulators.deepl --port 9007 --key deepl-key``."""

from __future__ import annotations

import argparse
import asyncio

from .simulator import DeepLSimulator


async def _serve(args: argparse.Namespace) -> None:
    sim = DeepLSimulator(api_keys=args.keys)
    url = await sim.start(host=args.host, port=args.port)
    print(f"DeepL simulator listening on {url}  (control plane: /__sim/knobs)", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await sim.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m relaygate.simulators.deepl")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9007)
    parser.add_argument("--key", action="append", dest="keys", help="accepted auth key (repeatable; none: any)")
    try:
        asyncio.run(_serve(parser.parse_args(argv)))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
