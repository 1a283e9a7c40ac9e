"""Database tables. Money columns are integer micro-units; never floats."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Float, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from relaygate.store.secretbox import SealedConfig, SealedKeys


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128))
    group: Mapped[str] = mapped_column("group_name", String(64), default="default")
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    used: Mapped[int] = mapped_column(BigInteger, default=0)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # requests / tokens per rate-limit window, shared by all the user's keys; None: unlimited
    rpm_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    tpm_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(Integer, index=True)
    name: Mapped[str] = mapped_column(String(128), default="")
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_hint: Mapped[str] = mapped_column(String(32))  # "sk-abcd...wxyz", safe to show
    models: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    budget: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    used: Mapped[int] = mapped_column(BigInteger, default=0)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    allowed_ips: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    rpm_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: unlimited
    tpm_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)


class Channel(Base):
    __tablename__ = "channels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128))
    type: Mapped[str] = mapped_column(String(32))
    base_url: Mapped[str] = mapped_column(String(512), default="")
    keys: Mapped[list[str]] = mapped_column(SealedKeys, default=list)  # sealed at rest (secretbox)
    models: Mapped[list[str]] = mapped_column(JSON, default=list)
    model_mapping: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    group: Mapped[str] = mapped_column("group_name", String(256), default="default")
    priority: Mapped[int] = mapped_column(Integer, default=0)
    weight: Mapped[int] = mapped_column(Integer, default=1)
    # enabled | disabled (by an operator) | auto_disabled (by failures; health checks re-enable)
    status: Mapped[str] = mapped_column(String(16), default="enabled")
    # adapter options; credential-like entries are sealed at rest (secretbox)
    config: Mapped[dict[str, Any]] = mapped_column(SealedConfig, default=dict)
    timeout_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    disabled_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Price(Base):
    __tablename__ = "prices"

    model: Mapped[str] = mapped_column(String(191), primary_key=True)
    # micro-units per 1M tokens
    input: Mapped[int] = mapped_column(BigInteger, default=0)
    output: Mapped[int] = mapped_column(BigInteger, default=0)
    cache_read: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    cache_write: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    per_request: Mapped[int] = mapped_column(BigInteger, default=0)  # micro-units per call
    # micro-units per 1M characters of translated text (translation models); None: not priced so
    per_character: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    max_output_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # images: micro-units per image, optionally by size/quality ({"1024x1024/hd": ..., "1024x1024": ...})
    per_image: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    image_prices: Mapped[dict[str, int] | None] = mapped_column(JSON, nullable=True)
    per_second: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # audio in: micro-units per second
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class UsageLog(Base):
    __tablename__ = "usage_logs"
    __table_args__ = (
        Index("ix_usage_user_created", "user_id", "created_at"),
        Index("ix_usage_key_created", "key_id", "created_at"),
        Index("ix_usage_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    request_id: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    user_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    key_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    channel_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    endpoint: Mapped[str] = mapped_column(String(64), default="")
    model: Mapped[str] = mapped_column(String(191), default="")
    upstream_model: Mapped[str] = mapped_column(String(191), default="")
    stream: Mapped[bool] = mapped_column(Boolean, default=False)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cache_read_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cache_write_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost: Mapped[int] = mapped_column(BigInteger, default=0)
    status_code: Mapped[int] = mapped_column(Integer, default=200)
    # ok | upstream_error | client_cancelled | gateway_error | rejected | rate_limited
    outcome: Mapped[str] = mapped_column(String(32), default="ok")
    usage_source: Mapped[str] = mapped_column(String(16), default="upstream")  # upstream | local | none
    latency_ms: Mapped[int] = mapped_column(Integer, default=0)
    ttft_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    tries: Mapped[int] = mapped_column(Integer, default=1)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class UpstreamObject(Base):
    """Who owns an object that lives on one upstream channel: a file, a fine-tuning job, a fine-tuned model.

    Later calls about the object go to that channel, and only its owner sees or touches it. ``data`` is
    the last upstream answer describing it (listing files answers from here).
    """

    __tablename__ = "upstream_objects"
    __table_args__ = (Index("ix_upstream_objects_owner", "user_id", "kind", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))  # file | fine_tuning_job | fine_tuned_model
    object_id: Mapped[str] = mapped_column(String(191), unique=True)
    user_id: Mapped[int] = mapped_column(Integer)
    key_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    channel_id: Mapped[int] = mapped_column(Integer)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Meta(Base):
    """Small key/value table: the state version counter other processes poll."""

    __tablename__ = "meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
