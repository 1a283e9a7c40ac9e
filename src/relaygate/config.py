"""Runtime settings: one dataclass, filled from defaults, then environment, then CLI flags.

Every option has an environment variable named ``RELAYGATE_<FIELD>`` so containers and
process managers can configure the gateway without a command line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any


def _parse_bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass
class Settings:
    host: str = "127.0.0.1"
    port: int = 3000
    data_dir: Path = field(default_factory=lambda: Path("./data"))
    workers: int = 1
    demo: bool = False
    database_url: str = ""  # empty -> SQLite file in data_dir
    redis_url: str = ""  # empty -> in-process quota and state
    redis_prefix: str = "relaygate"  # key prefix, so several gateways can share one Redis
    redis_max_connections: int = 64  # per process; requests beyond it wait for a free one
    # how often a process renews its Redis heartbeat; after 3 missed beats its reservations are returned
    ledger_heartbeat_s: float = 5.0
    # with Redis, each process reserves quota ahead in blocks of this many worst-case requests, so
    # most requests skip a round trip; 0: every request reserves in Redis
    ledger_lease_requests: int = 16
    ledger_lease_idle_s: float = 1.0  # a block unused this long goes back to its account
    admin_key: str = ""  # empty -> generated on first start, saved to data_dir/admin.key
    # seals channel credentials at rest; comma-separated for rotation (the first seals, all open);
    # empty -> generated on first start, saved to data_dir/secret.key
    secret_key: str = ""
    config_file: str = ""  # optional relaygate.yaml applied at start-up
    currency: str = "USD"
    allow_unpriced: bool = False  # serve models without a price for free
    max_body_bytes: int = 8 * 1024 * 1024
    max_upload_bytes: int = 25 * 1024 * 1024  # one multipart upload (audio, images, files); over it -> 413
    public_url: str = ""  # how callers reach the gateway, for image URLs it serves; empty: from the Host header
    image_retention_s: float = 86_400.0  # generated images served at /v1/images/files/ are deleted after this
    # Image URLs the gateway downloads for upstreams that take images inline only (Gemini); see README.
    media_fetch_max_bytes: int = 10 * 1024 * 1024  # one image
    media_fetch_max_total_bytes: int = 15 * 1024 * 1024  # one request's images (Gemini: 20 MB inline, base64)
    media_fetch_timeout_s: float = 10.0  # everything one request fetches, redirects included
    media_fetch_ports: str = "80,443"  # comma-separated; empty or * -> any port
    media_fetch_allow_private: bool = False  # loopback, RFC 1918, link-local, CGNAT, ULA (never metadata)
    media_fetch_allow_hosts: str = ""  # CIDRs, addresses or host names exempted from the address checks
    trusted_proxies: str = ""  # CIDRs whose X-Forwarded-For is believed, comma-separated
    auth_failures_per_minute: int = 30  # wrong keys per client address before 429 (0: off)
    rate_limit_window_s: float = 60.0  # the window of per-key and per-user RPM/TPM limits
    relay_max_tries: int = 3  # channels tried per request on retryable failures
    upstream_timeout_s: float = 300.0  # default per-channel total timeout
    upstream_connect_timeout_s: float = 10.0
    upstream_client: str = "h1"  # chat calls and JSON POSTs: h1 (relay/h1client.py) or aiohttp
    first_byte_timeout_s: float = 120.0  # default wait for response headers
    default_max_output_tokens: int = 4096  # reservation when neither request nor price says
    auto_disable_failures: int = 5  # consecutive failures before a channel is disabled
    health_check_interval_s: float = 60.0
    usage_flush_interval_s: float = 0.5
    usage_flush_batch: int = 2000
    usage_journal: bool = True  # append each record to <data_dir>/journal as it is queued (survives SIGKILL)
    usage_journal_fsync: bool = False  # O_DSYNC appends: survive power loss too, at a disk write per request
    state_poll_interval_s: float = 2.0  # version-counter poll for changes made by other processes
    shutdown_grace_s: float = 30.0
    log_level: str = "info"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'relaygate.db').resolve()}"

    @classmethod
    def load(cls, overrides: dict[str, Any] | None = None, environ: dict[str, str] | None = None) -> Settings:
        """Defaults < environment < explicit overrides (CLI flags that were given)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"RELAYGATE_{f.name.upper()}")
            if raw is not None and raw != "":
                values[f.name] = _coerce(f.type, raw)
        for key, value in (overrides or {}).items():
            if value is not None:
                values[key] = value
        settings = cls(**values)
        settings.data_dir = Path(settings.data_dir)
        return settings

    def to_env(self) -> dict[str, str]:
        """Serialise for worker processes, which re-read settings from the environment."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f"RELAYGATE_{f.name.upper()}"] = ("1" if value else "0") if isinstance(value, bool) else str(value)
        return out


def _coerce(type_name: Any, raw: str) -> Any:
    name = type_name if isinstance(type_name, str) else getattr(type_name, "__name__", "str")
    if name == "bool":
        return _parse_bool(raw)
    if name == "int":
        return int(raw)
    if name == "float":
        return float(raw)
    if name == "Path":
        return Path(raw)
    return raw
