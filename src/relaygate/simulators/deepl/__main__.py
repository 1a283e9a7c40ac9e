"""Standalone runner: ``python -m relaygate.simulators.deepl --port 9007 --key deepl-key``."""

from __future__ import annotations

import argparse

from relaygate.simulators.common.runner import serve_forever

from .simulator import DeepLSimulator


def _build(args: argparse.Namespace) -> DeepLSimulator:
    sim = DeepLSimulator(api_keys=args.keys)
    return sim


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m relaygate.simulators.deepl")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9007)
    parser.add_argument("--key", action="append", dest="keys", help="accepted auth key (repeatable; none: any)")
    args = parser.parse_args(argv)
    serve_forever(_build(args), args.host, args.port, "DeepL simulator")


if __name__ == "__main__":
    main()
