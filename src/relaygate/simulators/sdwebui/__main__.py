"""Standalone runner: ``python -m relaygate.simulators.sdwebui --port 7860 [--api-auth user:pass]``."""

from __future__ import annotations

import argparse

from relaygate.simulators.common.runner import run_cli

from .simulator import SDWebUISimulator


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--api-auth", default=None, help="user:pass[,user2:pass2] HTTP Basic credentials")


def main(argv: list[str] | None = None) -> None:
    run_cli(__package__, 7860, "SD WebUI simulator", _options,
            lambda args: SDWebUISimulator(api_auth=args.api_auth), argv)


if __name__ == "__main__":
    main()
