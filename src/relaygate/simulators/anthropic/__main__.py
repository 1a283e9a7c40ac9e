"""Standalone runner: ``python -m relaygate.simulators.anthropic --port 9002 --key sk-ant-sim``."""

from __future__ import annotations

import argparse

from relaygate.simulators.common.runner import serve_forever

from .simulator import AnthropicSimulator


def _build(args: argparse.Namespace) -> AnthropicSimulator:
    sim = AnthropicSimulator(api_keys=args.keys, models=args.models)
    return sim


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m relaygate.simulators.anthropic")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9002)
    parser.add_argument("--key", action="append", dest="keys", help="accepted API key (repeatable)")
    parser.add_argument("--model", action="append", dest="models", help="accepted model (repeatable)")
    args = parser.parse_args(argv)
    serve_forever(_build(args), args.host, args.port, "Anthropic simulator")


if __name__ == "__main__":
    main()
