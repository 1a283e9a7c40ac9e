"""Standalone runner: ``python -m relaygate.simulators.spark --credential APPID:APIKEY:APISECRET``."""

from __future__ import annotations

import argparse

from relaygate.simulators.common.runner import run_cli

from .simulator import SparkSimulator


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--credential", action="append", dest="credentials",
                        help="APPID:APIKEY:APISECRET (repeatable)")


def _build(args: argparse.Namespace) -> SparkSimulator:
    creds = {}
    for item in args.credentials or ["app00001:spark-key:spark-secret"]:
        app_id, api_key, secret = item.split(":", 2)
        creds[api_key] = (app_id, secret)
    return SparkSimulator(credentials=creds)


def main(argv: list[str] | None = None) -> None:
    run_cli(__package__, 9005, "Spark simulator", _options, _build, argv)


if __name__ == "__main__":
    main()
