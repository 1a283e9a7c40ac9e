"""Standalone runner: ``python -m relaygate.simulators.deepl --port 9007 --key deepl-key``."""

from __future__ import annotations

import argparse

from relaygate.simulators.common.runner import run_cli

from .simulator import DeepLSimulator


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--key", action="append", dest="keys", help="accepted auth key (repeatable; none: any)")


def main(argv: list[str] | None = None) -> None:
    run_cli(__package__, 9007, "DeepL simulator", _options, lambda args: DeepLSimulator(api_keys=args.keys), argv)


if __name__ == "__main__":
    main()
