"""Standalone runner: ``python -m relaygate.simulators.baidu_fanyi --port 9008 --app APPID:SECRET``."""

from __future__ import annotations

import argparse

from relaygate.simulators.common.runner import run_cli

from .simulator import FanyiSimulator


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--app", action="append", dest="apps", help="APPID:SECRET (repeatable)")


def _build(args: argparse.Namespace) -> FanyiSimulator:
    return FanyiSimulator(apps=dict(a.split(":", 1) for a in args.apps or ["20240001:fanyi-secret"]))


def main(argv: list[str] | None = None) -> None:
    run_cli(__package__, 9008, "Baidu Fanyi simulator", _options, _build, argv)


if __name__ == "__main__":
    main()
