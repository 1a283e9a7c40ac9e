"""Apply a YAML configuration file at start-up, for operators who keep configuration in git.

Format (every section optional)::

    prices:                       # per 1M tokens, in the configured currency
      gpt-4o-mini: {input: "0.15", output: "0.60"}
      meta/llama-3: {input: "0.10", output: "0.10", per_request: "0.001",
                     cache_read: "0.05", cache_write: "0.20", max_output_tokens: 4096}
    channels:
      - name: openai-main         # the identity: an existing channel of that name is updated
        type: openai              # one of relaygate.providers.registry.CHANNEL_TYPES
        base_url: https://api.openai.com/v1
        keys: ["${OPENAI_KEY}"]   # ${VAR} and ${VAR:-default} expand from the environment
        models: [gpt-4o-mini]
        model_mapping: {gpt-4o: gpt-4o-2024-08-06}
        group: default
        priority: 0
        weight: 1
        config: {}                # azure: api_version defaults to 2024-10-21
        timeout_s: 60
        enabled: true
    users:
      - name: alice               # the identity: an existing user of that name is updated
        group: default
        balance: "10.00"          # applied only when the user is created, never on restart
        enabled: true
        rpm_limit: 600            # requests / tokens per rate-limit window over all the user's keys;
        tpm_limit: 200000         # absent or null: unlimited
        keys:                     # the literal secret; stored hashed; the hash is its identity
          - {name: laptop, key: "${ALICE_KEY}", models: [gpt-4o-mini], budget: "1.00",
             expires_at: "2030-01-01T00:00:00Z", allowed_ips: ["10.0.0.0/8"], enabled: true,
             rpm_limit: 60, tpm_limit: 50000}

Rules: applying the same file twice changes nothing. A price entry replaces the stored price.
For channels, users and keys only the fields written in the file are applied to an existing
row, so changes made through the API to other fields survive a restart; a new row gets the
defaults. ``enabled: true`` does not re-enable a channel the health checker disabled. Nothing is
ever deleted. ``$${`` writes a literal ``${``. The whole file is checked before anything is
written and applied in one transaction; a bad file raises ``ValueError`` naming the file, the
place in the document (``channels[1].base_url``) and the problem.

It runs before the ledger is loaded, so it writes the database only.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from relaygate.state.snapshot import hash_key
from relaygate.store import repos
from relaygate.store.models import ApiKey, Channel, Price, User

_ENV_REF = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _text(max_length: int, min_length: int = 1) -> Any:
    return Annotated[str, StringConstraints(strict=True, strip_whitespace=True, min_length=min_length,
                                            max_length=max_length), AfterValidator(repos.check_text)]


Money = Annotated[int, BeforeValidator(repos.money)]
Name = _text(repos.NAME_MAX)
KeyName = _text(repos.NAME_MAX, min_length=0)
Model = _text(repos.MODEL_MAX)
Secret = _text(4096)
UserGroup = _text(repos.USER_GROUP_MAX)
ChannelGroup = _text(repos.CHANNEL_GROUP_MAX)
ChannelType = Annotated[_text(repos.CHANNEL_TYPE_MAX), AfterValidator(repos.check_channel_type)]
BaseUrl = Annotated[_text(repos.BASE_URL_MAX), AfterValidator(repos.check_base_url)]
RateLimit = Annotated[StrictInt, Field(ge=0, le=repos.INT32_MAX)]  # per window; None: unlimited


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PriceSpec(_Strict):
    input: Money = 0
    output: Money = 0
    per_request: Money = 0
    cache_read: Money | None = None
    cache_write: Money | None = None
    max_output_tokens: Annotated[int, Field(ge=1, le=repos.INT32_MAX)] | None = None
    per_character: Money | None = None
    per_image: Money | None = None
    image_prices: dict[Annotated[str, Field(min_length=1, max_length=64)], Money] | None = None
    per_second: Money | None = None


class ChannelSpec(_Strict):
    name: Name
    type: ChannelType
    base_url: BaseUrl | None = Field(default=None, validate_default=True)  # preset types fill it
    keys: list[Secret] = Field(default_factory=list)
    models: list[Model] | None = None  # None: the preset's list, or none
    model_mapping: dict[Model, Model] = Field(default_factory=dict)
    group: ChannelGroup = "default"
    priority: Annotated[int, Field(ge=repos.INT32_MIN, le=repos.INT32_MAX)] = 0
    weight: Annotated[int, Field(ge=0, le=repos.INT32_MAX)] = 1
    config: Annotated[dict[str, Any], AfterValidator(repos.check_json_value)] = Field(default_factory=dict)
    timeout_s: Annotated[float, Field(gt=0, le=86_400)] | None = None
    enabled: StrictBool = True

    @field_validator("base_url")
    @classmethod
    def _required_unless_preset(cls, value: str | None, info: ValidationInfo) -> str | None:
        kind = info.data.get("type")
        if value is None and kind is not None and repos.channel_preset_defaults(kind, None, None)[0] is None:
            raise ValueError(f"required for type {kind!r} (only preset types have a default base URL)")
        return value


class KeySpec(_Strict):
    key: Secret
    name: KeyName = ""
    models: list[Model] | None = None
    budget: Money | None = None
    expires_at: Annotated[datetime, BeforeValidator(repos.parse_timestamp)] | None = None
    allowed_ips: list[Annotated[str, AfterValidator(repos.check_network)]] | None = None
    enabled: StrictBool = True
    rpm_limit: RateLimit | None = None
    tpm_limit: RateLimit | None = None


class UserSpec(_Strict):
    name: Name
    group: UserGroup = "default"
    balance: Money = 0
    enabled: StrictBool = True
    rpm_limit: RateLimit | None = None
    tpm_limit: RateLimit | None = None
    keys: list[KeySpec] = Field(default_factory=list)


class ConfigFile(_Strict):
    prices: dict[Model, PriceSpec] = Field(default_factory=dict)
    channels: list[ChannelSpec] = Field(default_factory=list)
    users: list[UserSpec] = Field(default_factory=list)


def _where(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + str(part)
    return out or "(top level)"


def expand_env(value: Any, environ: Mapping[str, str], loc: tuple[Any, ...] = ()) -> Any:
    """Expand ${VAR} in every string value (not in mapping keys), recursively."""
    if isinstance(value, str):
        def sub(m: re.Match[str]) -> str:
            if m.group(0) == "$$":
                return "$"
            name, default = m.group(1), m.group(2)
            if name in environ:
                return environ[name]
            if default is not None:
                return default
            raise ValueError(f"{_where(loc)}: environment variable {name} is not set")
        return _ENV_REF.sub(sub, value)
    if isinstance(value, dict):
        return {k: expand_env(v, environ, (*loc, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v, environ, (*loc, i)) for i, v in enumerate(value)]
    return value


def parse_config(text: str, source: str = "<config>", environ: Mapping[str, str] | None = None) -> ConfigFile:
    """Parse and check a whole document; every problem becomes one ValueError naming its place."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"{source}: not valid YAML: {exc}") from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ValueError(f"{source}: the document must be a mapping with prices/channels/users sections")
    try:
        raw = expand_env(raw, os.environ if environ is None else environ)
    except ValueError as exc:
        raise ValueError(f"{source}: {exc}") from exc
    try:
        parsed = ConfigFile.model_validate(raw)
    except ValidationError as exc:
        problems = [f"{_where(e['loc'])}: {e['msg'].removeprefix('Value error, ')}" for e in exc.errors()]
        raise ValueError(f"{source}: " + "; ".join(problems[:10])
                         + (f" (and {len(problems) - 10} more)" if len(problems) > 10 else "")) from None
    _check_unique(parsed, source)
    return parsed


def _check_unique(cfg: ConfigFile, source: str) -> None:
    seen: dict[str, str] = {}
    for i, ch in enumerate(cfg.channels):
        if ch.name in seen:
            raise ValueError(f"{source}: channels[{i}].name: channel {ch.name!r} already defined at {seen[ch.name]}")
        seen[ch.name] = f"channels[{i}]"
    users: dict[str, str] = {}
    keys: dict[str, str] = {}
    for i, user in enumerate(cfg.users):
        if user.name in users:
            raise ValueError(f"{source}: users[{i}].name: user {user.name!r} already defined at {users[user.name]}")
        users[user.name] = f"users[{i}]"
        for j, key in enumerate(user.keys):
            where = f"users[{i}].keys[{j}]"
            if key.key in keys:
                raise ValueError(f"{source}: {where}.key: the same key is already given at {keys[key.key]}")
            keys[key.key] = where


class _Counts:
    def __init__(self) -> None:
        self.data: dict[str, dict[str, int]] = {
            kind: {"created": 0, "updated": 0, "unchanged": 0} for kind in ("prices", "channels", "users", "keys")
        }

    def add(self, kind: str, outcome: str) -> None:
        self.data[kind][outcome] += 1


def _assign(row: Any, values: dict[str, Any]) -> bool:
    """Set the attributes that differ; True if anything changed."""
    changed = False
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    return changed


async def _apply_prices(s: AsyncSession, cfg: ConfigFile, counts: _Counts) -> None:
    for model, spec in cfg.prices.items():
        values = spec.model_dump()
        price = await s.get(Price, model)
        if price is None:
            s.add(Price(model=model, updated_at=repos.utcnow(), **values))
            counts.add("prices", "created")
        elif _assign(price, values):
            price.updated_at = repos.utcnow()
            counts.add("prices", "updated")
        else:
            counts.add("prices", "unchanged")


def _channel_values(spec: ChannelSpec, existing: Channel | None) -> dict[str, Any]:
    values = spec.model_dump(exclude_unset=existing is not None, exclude={"enabled"})
    channel_type = values.get("type", existing.type if existing else spec.type)
    if existing is None:
        base_url, models = repos.channel_preset_defaults(channel_type, spec.base_url, spec.models)
        if not base_url:
            raise ValueError(f"channel {spec.name!r}: base_url is required for type {channel_type!r}")
        values["base_url"], values["models"] = base_url, models
    if "config" in values or existing is None or "type" in values:
        base = values.get("config", existing.config if existing else {})
        values["config"] = repos.channel_config_defaults(channel_type, base)
    if "enabled" in spec.model_fields_set or existing is None:
        if not spec.enabled:
            values["status"] = "disabled"
        elif existing is None or existing.status == "disabled":
            values["status"] = "enabled"
            values["disabled_reason"] = None
    return values


async def _apply_channels(s: AsyncSession, cfg: ConfigFile, counts: _Counts) -> None:
    for spec in cfg.channels:
        existing = (await s.scalars(select(Channel).where(Channel.name == spec.name)
                                    .order_by(Channel.id).limit(1))).first()
        values = _channel_values(spec, existing)
        if existing is None:
            s.add(Channel(created_at=repos.utcnow(), **values))
            counts.add("channels", "created")
        else:
            counts.add("channels", "updated" if _assign(existing, values) else "unchanged")


async def _apply_users(s: AsyncSession, cfg: ConfigFile, counts: _Counts) -> None:
    for spec in cfg.users:
        user = (await s.scalars(select(User).where(User.name == spec.name)
                                .order_by(User.id).limit(1))).first()
        if user is None:
            user = User(name=spec.name, group=spec.group, balance=spec.balance, used=0,
                        enabled=spec.enabled, rpm_limit=spec.rpm_limit, tpm_limit=spec.tpm_limit,
                        created_at=repos.utcnow())
            s.add(user)
            await s.flush()
            counts.add("users", "created")
        else:
            values = spec.model_dump(include={"group", "enabled", "rpm_limit", "tpm_limit"} & spec.model_fields_set)
            counts.add("users", "updated" if _assign(user, values) else "unchanged")
        for key_spec in spec.keys:
            await _apply_key(s, user.id, key_spec, counts)


async def _apply_key(s: AsyncSession, user_id: int, spec: KeySpec, counts: _Counts) -> None:
    digest = hash_key(spec.key)
    key = (await s.scalars(select(ApiKey).where(ApiKey.key_hash == digest))).first()
    if key is None:
        s.add(ApiKey(user_id=user_id, key_hash=digest, key_hint=repos.key_hint(spec.key), used=0,
                     created_at=repos.utcnow(), **spec.model_dump(exclude={"key"})))
        counts.add("keys", "created")
        return
    values = spec.model_dump(include=spec.model_fields_set - {"key"})
    values["user_id"] = user_id  # the file says whose key it is
    if "expires_at" in values:
        values["expires_at"] = repos.as_utc(values["expires_at"])
        if repos.as_utc(key.expires_at) == values["expires_at"]:
            del values["expires_at"]  # SQLite returns it naive; equal times are no change
    counts.add("keys", "updated" if _assign(key, values) else "unchanged")


async def apply_config_file(path: Path, sessions: async_sessionmaker) -> dict[str, dict[str, int]]:
    """Check the whole file, then upsert its prices, channels, users and keys in one transaction.

    Returns counts per kind, e.g. ``{"channels": {"created": 1, "updated": 0, "unchanged": 2}, ...}``.
    """
    path = Path(path)
    try:
        text = await asyncio.to_thread(path.read_text, encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the config file: {exc}") from exc
    cfg = parse_config(text, str(path))
    counts = _Counts()
    async with sessions() as s, s.begin():
        await _apply_prices(s, cfg, counts)
        await _apply_channels(s, cfg, counts)
        await _apply_users(s, cfg, counts)
    return counts.data
