"""Standalone runner: ``python -m relaygate.simulators.openai --port 9001 --key sk-sim --mode openai``."""

from __future__ import annotations

import argparse
import asyncio

from .simulator import OpenAISimulator


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m relaygate.simulators.openai",
                                     description="Fake OpenAI / Azure OpenAI upstream.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9001)
    parser.add_argument("--key", action="append", dest="keys",
                        help="accepted API key (repeatable; default: any non-empty key)")
    parser.add_argument("--mode", choices=("openai", "azure"), default="openai")
    parser.add_argument("--model", action="append", dest="models",
                        help="restrict accepted models (repeatable; default: any model)")
    parser.add_argument("--deployment", action="append", default=[], metavar="NAME=MODEL",
                        help="azure deployment mapping (repeatable; default: gpt-4o-mini)")
    return parser.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    deployments = dict(d.split("=", 1) for d in args.deployment) or None
    sim = OpenAISimulator(api_keys=args.keys, mode=args.mode, models=args.models, deployments=deployments)
    url = await sim.start(host=args.host, port=args.port)
    print(f"OpenAI simulator ({args.mode}) listening on {url}  (control plane: /__sim/knobs)", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await sim.stop()


def main(argv: list[str] | None = None) -> None:
    try:
        asyncio.run(_serve(parse_args(argv)))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
