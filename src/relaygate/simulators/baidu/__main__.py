"""Standalone runner: ``python -m relaygate.simulators.baidu --port 9004 --credential AK:SK``."""

from __future__ import annotations

import argparse

from relaygate.simulators.common.runner import run_cli

from .simulator import BaiduSimulator


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--credential", action="append", dest="credentials", help="API_KEY:SECRET_KEY (repeatable)")


def _build(args: argparse.Namespace) -> BaiduSimulator:
    creds = dict(c.split(":", 1) for c in args.credentials) if args.credentials else None
    return BaiduSimulator(credentials=creds)


def main(argv: list[str] | None = None) -> None:
    run_cli(__package__, 9004, "Qianfan v1 simulator", _options, _build, argv)


if __name__ == "__main__":
    main()
