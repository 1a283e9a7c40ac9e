"""Standalone runner: ``python -m relaygate.simulators.spark --credential APPID:APIKEY:APISECRET``."""

from __future__ import annotations

import argparse

from relaygate.simulators.common.runner import serve_forever

from .simulator import SparkSimulator


def _build(args: argparse.Namespace) -> SparkSimulator:
    creds = {}
    for item in args.credentials or ["app00001:spark-key:spark-secret"]:
        app_id, api_key, secret = item.split(":", 2)
        creds[api_key] = (app_id, secret)
    sim = SparkSimulator(credentials=creds)
    return sim


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m relaygate.simulators.spark")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9005)
    parser.add_argument("--credential", action="append", dest="credentials",
                        help="APPID:APIKEY:APISECRET (repeatable)")
    args = parser.parse_args(argv)
    serve_forever(_build(args), args.host, args.port, "Spark simulator")


if __name__ == "__main__":
    main()
