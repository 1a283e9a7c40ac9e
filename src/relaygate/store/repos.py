"""Small rules shared by the management API and the YAML config loader.

Both write the same rows (channels, users, keys, prices), so the checks and conversions that
decide what a valid row is live here once: channel types and defaults, secret masking, key
generation, timestamps, IP networks, and the column size limits the database enforces.
"""

from __future__ import annotations

import ipaddress
import json
import re
import secrets
import string
from datetime import UTC, datetime
from typing import Any

# Column limits (see models.py). PostgreSQL rejects longer values, so check before writing.
NAME_MAX = 128
USER_GROUP_MAX = 64
CHANNEL_GROUP_MAX = 256
CHANNEL_TYPE_MAX = 32
BASE_URL_MAX = 512
MODEL_MAX = 191
INT32_MAX = 2**31 - 1
INT32_MIN = -(2**31)

DEFAULT_AZURE_API_VERSION = "2024-10-21"
FALLBACK_CHANNEL_TYPES: frozenset[str] = frozenset({"openai", "azure"})

KEY_ALPHABET = string.ascii_letters + string.digits
KEY_RANDOM_CHARS = 48
MASK = "********"
_SECRET_CONFIG_KEY = re.compile(r"secret|password|passwd|token|credential|private|api_?key|access_?key",
                                re.IGNORECASE)


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes (stored as UTC); make every datetime aware UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def channel_types() -> frozenset[str]:
    """The protocols an adapter exists for; imported lazily so the store layer stays light."""
    try:
        from relaygate.providers.registry import CHANNEL_TYPES  # type: ignore[import-not-found]
    except ImportError:
        return FALLBACK_CHANNEL_TYPES
    return frozenset(CHANNEL_TYPES)


def check_channel_type(value: str) -> str:
    value = value.strip()
    types = channel_types()
    if value not in types:
        raise ValueError(f"unknown channel type {value!r}; expected one of: {', '.join(sorted(types))}")
    return value


def check_base_url(value: str) -> str:
    from urllib.parse import urlsplit

    value = value.strip()
    try:
        parts = urlsplit(value)
    except ValueError as exc:
        raise ValueError(f"not a valid URL: {value!r}") from exc
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"must be an http(s) URL such as https://host/v1, got {value!r}")
    return value.rstrip("/")


def channel_config_defaults(channel_type: str, config: dict[str, Any] | None) -> dict[str, Any]:
    """Fill adapter options an operator would otherwise have to know about."""
    out = dict(config or {})
    if channel_type == "azure" and not out.get("api_version"):
        out["api_version"] = DEFAULT_AZURE_API_VERSION
    return out


def channel_preset_defaults(channel_type: str, base_url: str | None,
                            models: list[str] | None) -> tuple[str | None, list[str]]:
    """A preset type's default base URL and model list, for what the operator left out (None).

    Presets (``relaygate.providers.presets``) let an operator create e.g. a ``deepseek`` channel
    from a key alone; an explicit value, an empty model list included, always wins.
    """
    try:
        from relaygate.providers.presets import preset_for  # type: ignore[import-not-found]
    except ImportError:
        preset = None
    else:
        preset = preset_for(channel_type)
    if preset is not None:
        base_url = base_url or preset.base_url
        if models is None:
            models = list(preset.models)
    return base_url, list(models or [])


def check_json_value(value: Any) -> Any:
    """PostgreSQL's json type rejects NaN/Infinity, which Python's JSON parser lets through."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError("must be plain JSON (no NaN or Infinity)") from exc
    return value


def check_text(value: str) -> str:
    """NUL cannot be stored in PostgreSQL text columns."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def check_network(value: str) -> str:
    value = value.strip()
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a valid IP address or CIDR network") from exc
    return value


def money(value: object, allow_negative: bool = False) -> int:
    """parse_money, with huge amounts (decimal.InvalidOperation on quantize) reported as bad input."""
    from relaygate.billing.money import parse_money

    try:
        return parse_money(value, allow_negative=allow_negative)
    except ArithmeticError as exc:
        raise ValueError("amount too large") from exc


def signed_money(value: object) -> int:
    return money(value, allow_negative=True)


def parse_timestamp(value: object) -> datetime:
    """ISO-8601 (naive means UTC) or unix seconds, as a number or a numeric string."""
    if isinstance(value, datetime):
        return as_utc(value)  # type: ignore[return-value]
    if isinstance(value, bool) or value is None:
        raise ValueError("expected an ISO-8601 time or unix seconds")
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise ValueError(f"unix time out of range: {value!r}") from exc
    if isinstance(value, str):
        text = value.strip()
        try:
            return parse_timestamp(float(text))
        except ValueError:
            pass
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError as exc:
            raise ValueError(f"not an ISO-8601 time or unix seconds: {value!r}") from exc
        return as_utc(parsed)  # type: ignore[return-value]
    raise ValueError("expected an ISO-8601 time or unix seconds")


def generate_api_key() -> str:
    return "sk-" + "".join(secrets.choice(KEY_ALPHABET) for _ in range(KEY_RANDOM_CHARS))


def key_hint(secret: str) -> str:
    """What the console shows to tell keys apart; reveals too little to be useful to an attacker."""
    if len(secret) >= 20:
        return f"{secret[:7]}...{secret[-4:]}"
    if len(secret) >= 10:
        return f"{secret[:3]}...{secret[-2:]}"
    return "..."


def mask_secret(secret: str) -> str:
    """Channel keys in API responses: enough to recognise one, never enough to use it."""
    if len(secret) >= 16:
        return f"{secret[:4]}...{secret[-4:]}"
    return MASK


def restore_masked_keys(new_keys: list[str], old_keys: list[str]) -> list[str]:
    """A client that echoes a masked key back (GET, edit, PATCH) keeps the stored key."""
    unused = list(old_keys)
    out: list[str] = []
    for key in new_keys:
        match = next((old for old in unused if mask_secret(old) == key), None)
        if match is not None and key not in old_keys:
            unused.remove(match)
            out.append(match)
        else:
            out.append(key)
    return out


def is_secret_config_key(name: str) -> bool:
    return bool(_SECRET_CONFIG_KEY.search(name)) and name != "api_version"


def mask_config(config: dict[str, Any]) -> dict[str, Any]:
    """Adapter options may hold credentials (cloud secrets); hide the values that look like one."""
    out: dict[str, Any] = {}
    for name, value in config.items():
        if is_secret_config_key(name) and value not in (None, ""):
            out[name] = mask_secret(value) if isinstance(value, str) else MASK
        else:
            out[name] = value
    return out


def restore_masked_config(new: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
    out = dict(new)
    for name, value in new.items():
        if name in old and is_secret_config_key(name) and value != old[name]:
            masked = mask_config({name: old[name]})[name]
            if value == masked:
                out[name] = old[name]
    return out
