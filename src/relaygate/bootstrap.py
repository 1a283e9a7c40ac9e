"""Start-up work done once, before any worker serves: folders, migrations, admin key, config."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from relaygate.config import Settings
from relaygate.store.db import migrate

log = logging.getLogger("relaygate")


def generate_secret(prefix: str = "sk-", length: int = 48) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return prefix + "".join(secrets.choice(alphabet) for _ in range(length))


def write_secret(path: Path, value: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    os.chmod(path, 0o600)


def ensure_admin_key(settings: Settings) -> tuple[str, bool]:
    """The admin key from the environment, else the saved one, else a new one (returned as new)."""
    if settings.admin_key:
        return settings.admin_key, False
    path = settings.data_dir / "admin.key"
    if path.exists():
        return path.read_text().strip(), False
    key = generate_secret("rg-admin-")
    write_secret(path, key)
    return key, True


def config_path(settings: Settings) -> Path | None:
    """--config if given, else ./relaygate.yaml when present."""
    if settings.config_file:
        return Path(settings.config_file)
    default = Path("relaygate.yaml")
    return default if default.exists() else None


async def prepare(settings: Settings, config: Path | None) -> None:
    await migrate(settings.effective_database_url)
    if config is not None:
        from relaygate.store.db import make_engine, session_factory
        from relaygate.store.yaml_config import apply_config_file

        engine = make_engine(settings.effective_database_url)
        try:
            counts = await apply_config_file(config, session_factory(engine))
        finally:
            await engine.dispose()
        log.info("applied %s: %s", config, counts)
