"""Standalone runner: ``python -m relaygate.simulators.baidu_fanyi --port 9008 --app APPID:SECRET``."""

from __future__ import annotations

import argparse

from relaygate.simulators.common.runner import serve_forever

from .simulator import FanyiSimulator


def _build(args: argparse.Namespace) -> FanyiSimulator:
    apps = dict(a.split(":", 1) for a in args.apps or ["20240001:fanyi-secret"])
    sim = FanyiSimulator(apps=apps)
    return sim


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m relaygate.simulators.baidu_fanyi")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9008)
    parser.add_argument("--app", action="append", dest="apps", help="APPID:SECRET (repeatable)")
    args = parser.parse_args(argv)
    serve_forever(_build(args), args.host, args.port, "Baidu Fanyi simulator")


if __name__ == "__main__":
    main()
