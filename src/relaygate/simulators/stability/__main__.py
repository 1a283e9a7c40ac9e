"""Standalone runner: ``python -m relaygate.simulators.stability --port 9011 --key sk-stab``."""

from __future__ import annotations

import argparse

from relaygate.simulators.common.runner import serve_forever

from .simulator import StabilitySimulator


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m relaygate.simulators.stability",
                                     description="Fake Stability AI REST API (v1 + v2beta).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9011)
    parser.add_argument("--key", action="append", dest="keys", help="accepted API key (repeatable; default: any)")
    parser.add_argument("--credits", type=float, default=1000.0, help="starting credit balance")
    args = parser.parse_args(argv)
    serve_forever(StabilitySimulator(api_keys=args.keys, credits=args.credits), args.host, args.port,
                  "Stability simulator")


if __name__ == "__main__":
    main()
