"""``relaygate serve``: prepare storage, then run the gateway's worker processes."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys

from relaygate.config import Settings
from relaygate.logs import setup_logging


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="relaygate", description="AI API aggregation gateway")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the gateway (every flag also as RELAYGATE_<NAME>)")
    serve.add_argument("--host", help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 3000)")
    serve.add_argument("--data-dir", dest="data_dir", help="data folder: SQLite file, admin.key (default ./data)")
    serve.add_argument("--workers", type=int, help="worker processes (default 1; more need --redis-url)")
    serve.add_argument("--demo", action="store_true", default=None, help="simulated upstreams and a demo key")
    serve.add_argument("--database-url", dest="database_url", help="e.g. postgresql+asyncpg://user@host/db")
    serve.add_argument("--redis-url", dest="redis_url", help="e.g. redis://127.0.0.1:6379/0")
    serve.add_argument("--config", dest="config_file", help="relaygate.yaml to apply at start-up")
    serve.add_argument("--log-level", dest="log_level", help="debug, info, warning, error")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    overrides = {k: v for k, v in vars(args).items() if k != "command" and v is not None}
    settings = Settings.load(overrides)
    setup_logging(settings.log_level)
    if settings.workers > 1 and not settings.redis_url:
        print("relaygate: --workers > 1 needs --redis-url (RELAYGATE_REDIS_URL): balances and rate limits "
              "must be shared between processes.", file=sys.stderr)
        return 2
    problem = _refused(settings)
    if problem:
        print(f"relaygate: {problem}", file=sys.stderr)
        return 2
    return serve(settings)


def _refused(settings: Settings) -> str | None:
    """Settings that would start a broken gateway (a busy loop, an unknown client) are refused at once."""
    if settings.upstream_client not in ("h1", "aiohttp"):
        return f"RELAYGATE_UPSTREAM_CLIENT must be h1 or aiohttp, not {settings.upstream_client!r}."
    if settings.ledger_lease_requests < 0:
        return "RELAYGATE_LEDGER_LEASE_REQUESTS must be 0 (no quota blocks) or more."
    if settings.ledger_lease_idle_s <= 0 or settings.ledger_heartbeat_s <= 0:
        return "RELAYGATE_LEDGER_LEASE_IDLE_S and RELAYGATE_LEDGER_HEARTBEAT_S must be more than 0 seconds."
    return None


def serve(settings: Settings) -> int:
    import uvicorn

    from relaygate.bootstrap import config_path, ensure_admin_key, load_keyring, prepare, warn_about_key_file
    from relaygate.store.sealing import SecretsUnreadable
    from relaygate.store.secretbox import SecretKeyError

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        warn_about_key_file(*load_keyring(settings))
        asyncio.run(prepare(settings, config_path(settings)))
    except (SecretKeyError, SecretsUnreadable) as exc:
        print(f"relaygate: {exc}", file=sys.stderr, flush=True)
        return 2
    admin_key, new = ensure_admin_key(settings)
    settings.admin_key = admin_key
    url = f"http://{settings.host}:{settings.port}"
    if new:
        print(f"Admin key (shown once, saved to {settings.data_dir / 'admin.key'}): {admin_key}", flush=True)
    if settings.demo:
        from relaygate.demo import seed, start_simulators

        _sim, base = start_simulators()
        demo_key = asyncio.run(seed(settings, base))
        print(f"Demo upstream (simulated OpenAI) at {base}", flush=True)
        print(f"Demo API key: {demo_key}", flush=True)
        print(f"Try: curl {url}/v1/chat/completions -H 'Authorization: Bearer {demo_key}' "
              "-H 'Content-Type: application/json' "
              "-d '{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}]}'",
              flush=True)
    print(f"relaygate listening on {url} (OpenAI API at {url}/v1, management API at {url}/api)", flush=True)
    os.environ.update(settings.to_env())
    # uvicorn re-raises the stop signal once its graceful shutdown is done; landing it on a
    # no-op handler makes a requested stop exit 0 instead of dying by the signal.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    uvicorn.run("relaygate.app:create_app", factory=True, host=settings.host, port=settings.port,
                workers=settings.workers if settings.workers > 1 else None, loop="uvloop", http="httptools",
                lifespan="on", access_log=False, log_level=settings.log_level,
                timeout_graceful_shutdown=int(settings.shutdown_grace_s), server_header=False,
                # the gateway decides which proxies to believe (RELAYGATE_TRUSTED_PROXIES); uvicorn's
                # default would trust X-Forwarded-For from 127.0.0.1 and rewrite the client address
                proxy_headers=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
