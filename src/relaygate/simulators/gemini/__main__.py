"""Standalone runner: ``python -m relaygate.simulators.gemini --port 9003 --key AIza-sim``."""

from __future__ import annotations

import argparse

from relaygate.simulators.common.runner import serve_forever

from .simulator import GeminiSimulator


def _build(args: argparse.Namespace) -> GeminiSimulator:
    sim = GeminiSimulator(api_keys=args.keys, models=args.models)
    return sim


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m relaygate.simulators.gemini")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9003)
    parser.add_argument("--key", action="append", dest="keys", help="accepted API key (repeatable)")
    parser.add_argument("--model", action="append", dest="models", help="accepted model (repeatable)")
    args = parser.parse_args(argv)
    serve_forever(_build(args), args.host, args.port, "Gemini simulator")


if __name__ == "__main__":
    main()
