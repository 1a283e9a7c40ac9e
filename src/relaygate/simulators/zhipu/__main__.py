"""Standalone runner: ``python -m relaygate.simulators.zhipu --port 9006 --key id.secret``."""

from __future__ import annotations

import argparse

from relaygate.simulators.common.runner import serve_forever

from .simulator import ZhipuSimulator


def _build(args: argparse.Namespace) -> ZhipuSimulator:
    sim = ZhipuSimulator(api_keys=args.keys or ["zhipu-id.zhipu-secret"])
    return sim


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m relaygate.simulators.zhipu")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9006)
    parser.add_argument("--key", action="append", dest="keys", help="accepted <id>.<secret> key (repeatable)")
    args = parser.parse_args(argv)
    serve_forever(_build(args), args.host, args.port, "Zhipu simulator")


if __name__ == "__main__":
    main()
