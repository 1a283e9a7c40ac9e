"""Standalone runner: ``python -m relaygate.simulators.zhipu --port 9006 --key id.secret``."""

from __future__ import annotations

import argparse

from relaygate.simulators.common.runner import run_cli

from .simulator import ZhipuSimulator


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--key", action="append", dest="keys", help="accepted <id>.<secret> key (repeatable)")


def main(argv: list[str] | None = None) -> None:
    run_cli(__package__, 9006, "Zhipu simulator", _options,
            lambda args: ZhipuSimulator(api_keys=args.keys or ["zhipu-id.zhipu-secret"]), argv)


if __name__ == "__main__":
    main()
