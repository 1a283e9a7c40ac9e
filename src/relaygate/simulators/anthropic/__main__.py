"""Standalone runner: ``python -m relaygate.simulators.anthropic --port 9002 --key sk-ant-sim``."""

from __future__ import annotations

import argparse
import asyncio

from .simulator import AnthropicSimulator


async def _serve(args: argparse.Namespace) -> None:
    sim = AnthropicSimulator(api_keys=args.keys, models=args.models)
    url = await sim.start(host=args.host, port=args.port)
    print(f"Anthropic simulator listening on {url}  (control plane: /__sim/knobs)", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await sim.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m relaygate.simulators.anthropic")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9002)
    parser.add_argument("--key", action="append", dest="keys", help="accepted API key (repeatable)")
    parser.add_argument("--model", action="append", dest="models", help="accepted model (repeatable)")
    try:
        asyncio.run(_serve(parser.parse_args(argv)))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
