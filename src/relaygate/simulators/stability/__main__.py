"""Standalone runner: ``python -m relaygate.simulators.stability --port 9011 --key sk-stab``."""

from __future__ import annotations

import argparse

from relaygate.simulators.common.runner import run_cli

from .simulator import StabilitySimulator


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--key", action="append", dest="keys", help="accepted API key (repeatable; default: any)")
    parser.add_argument("--credits", type=float, default=1000.0, help="starting credit balance")


def main(argv: list[str] | None = None) -> None:
    run_cli(__package__, 9011, "Stability simulator", _options,
            lambda args: StabilitySimulator(api_keys=args.keys, credits=args.credits), argv)


if __name__ == "__main__":
    main()
