"""Start-up work done once, before any worker serves: folders, keys, migrations, sealing, config."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from relaygate.config import Settings
from relaygate.store import secretbox
from relaygate.store.db import migrate

log = logging.getLogger("relaygate")
SECRET_KEY_FILE = "secret.key"


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


def ensure_secret_key(settings: Settings) -> tuple[str, str, bool]:
    """(keys, where they came from, newly generated): RELAYGATE_SECRET_KEY, else the saved file, else a new one.

    The fallback keeps a first start and the tests working without set-up; a production operator
    sets the variable, so that the key lives apart from the data it protects.
    """
    if settings.secret_key:
        return settings.secret_key, "RELAYGATE_SECRET_KEY", False
    path = settings.data_dir / SECRET_KEY_FILE
    if path.exists():
        return path.read_text().strip(), str(path), False
    key = secrets.token_urlsafe(32)
    write_secret(path, key)
    return key, str(path), True


def load_keyring(settings: Settings) -> tuple[secretbox.Keyring, bool]:
    """Resolve, parse and install this process's keyring; SecretKeyError names the source if unusable.

    The resolved keys are kept in ``settings.secret_key`` so that worker processes, which read
    their settings from the environment (``Settings.to_env``), use the same ones.
    """
    keys, source, new = ensure_secret_key(settings)
    try:
        ring = secretbox.Keyring.parse(keys, source)
    except secretbox.SecretKeyError as exc:
        raise secretbox.SecretKeyError(f"{source}: {exc}") from None
    secretbox.install(ring)
    settings.secret_key = keys
    return ring, new


def warn_about_key_file(ring: secretbox.Keyring, new: bool) -> None:
    """Once per start, in the process that prepares storage (not in every worker)."""
    if ring.source == "RELAYGATE_SECRET_KEY":
        return
    where = f"generated now and saved to {ring.source}" if new else f"in {ring.source}"
    log.warning("RELAYGATE_SECRET_KEY is not set: channel keys are sealed with the key %s. In production set "
                "RELAYGATE_SECRET_KEY (to that key, to keep this database readable) and keep it apart from "
                "the database", where)


def _fallback_hint(settings: Settings, ring: secretbox.Keyring) -> str:
    """A database sealed with the generated key, then started with the variable set: say where the old key is."""
    path = settings.data_dir / SECRET_KEY_FILE
    if ring.source != "RELAYGATE_SECRET_KEY" or not path.exists():
        return ""
    try:
        saved = secretbox.Keyring.parse(path.read_text(), str(path))
    except (OSError, secretbox.SecretKeyError):
        return ""
    if set(saved.key_ids) <= set(ring.key_ids):
        return ""
    return f"; {path} holds the key generated before RELAYGATE_SECRET_KEY was set: list it after the new key"


def config_path(settings: Settings) -> Path | None:
    """--config if given, else ./relaygate.yaml when present."""
    if settings.config_file:
        return Path(settings.config_file)
    default = Path("relaygate.yaml")
    return default if default.exists() else None


async def prepare(settings: Settings, config: Path | None) -> None:
    """Migrate, seal channel secrets with the installed keyring, apply the config file.

    Raises SecretsUnreadable, before anything is written, if the keyring does not open them all.
    """
    from relaygate.store.db import make_engine, session_factory
    from relaygate.store.sealing import seal_channel_secrets

    await migrate(settings.effective_database_url)
    ring = secretbox.current()
    engine = make_engine(settings.effective_database_url)
    try:
        report = await seal_channel_secrets(engine, ring, _fallback_hint(settings, ring))
        if report.resealed:
            log.info("sealed the secrets of %d channel(s) with key id %s", len(report.resealed), ring.primary_id)
        if config is not None:
            from relaygate.store.yaml_config import apply_config_file

            counts = await apply_config_file(config, session_factory(engine))
            log.info("applied %s: %s", config, counts)
    finally:
        await engine.dispose()
