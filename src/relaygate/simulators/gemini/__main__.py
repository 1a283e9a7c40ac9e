"""Standalone runner: ``python -m relaygate.simulators.gemini --port 9003 --key AIza-sim``."""

from __future__ import annotations

import argparse

from relaygate.simulators.common.runner import run_cli

from .simulator import GeminiSimulator


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--key", action="append", dest="keys", help="accepted API key (repeatable)")
    parser.add_argument("--model", action="append", dest="models", help="accepted model (repeatable)")


def main(argv: list[str] | None = None) -> None:
    run_cli(__package__, 9003, "Gemini simulator", _options,
            lambda args: GeminiSimulator(api_keys=args.keys, models=args.models), argv)


if __name__ == "__main__":
    main()
