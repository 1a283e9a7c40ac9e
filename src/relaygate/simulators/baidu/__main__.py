"""Standalone runner: ``python -m relaygate.simulators.baidu --port 9004 --credential AK:SK``."""

from __future__ import annotations

import argparse

from relaygate.simulators.common.runner import serve_forever

from .simulator import BaiduSimulator


def _build(args: argparse.Namespace) -> BaiduSimulator:
    creds = dict(c.split(":", 1) for c in args.credentials) if args.credentials else None
    sim = BaiduSimulator(credentials=creds)
    return sim


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m relaygate.simulators.baidu")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9004)
    parser.add_argument("--credential", action="append", dest="credentials", help="API_KEY:SECRET_KEY (repeatable)")
    args = parser.parse_args(argv)
    serve_forever(_build(args), args.host, args.port, "Qianfan v1 simulator")


if __name__ == "__main__":
    main()
