"""Standalone runner: ``python -m relaygate.simulators.sdwebui --port 7860 [--api-auth user:pass]``."""

from __future__ import annotations

import argparse

from relaygate.simulators.common.runner import serve_forever

from .simulator import SDWebUISimulator


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m relaygate.simulators.sdwebui",
                                     description="Fake AUTOMATIC1111 stable-diffusion-webui API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--api-auth", default=None, help="user:pass[,user2:pass2] HTTP Basic credentials")
    args = parser.parse_args(argv)
    serve_forever(SDWebUISimulator(api_auth=args.api_auth), args.host, args.port, "SD WebUI simulator")


if __name__ == "__main__":
    main()
