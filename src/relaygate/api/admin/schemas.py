"""Request and response bodies of the management API.

Requests are validated here, so handlers only see clean values: money already in micro-units,
times as aware UTC datetimes, IP networks checked, strings within the database column sizes.
Unknown fields are refused, so a typo ("balanse") is an error instead of a silent no-op.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Generic, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from relaygate.store import repos

T = TypeVar("T")


def _strings(max_length: int, min_length: int = 1) -> Any:
    return Annotated[str, StringConstraints(strip_whitespace=True, min_length=min_length,
                                            max_length=max_length), AfterValidator(repos.check_text)]


_MONEY_SCHEMA = WithJsonSchema({"type": "string", "example": "10.00",
                                "description": "decimal amount in the configured currency"})
Money = Annotated[int, BeforeValidator(repos.money), _MONEY_SCHEMA]
SignedMoney = Annotated[int, BeforeValidator(repos.signed_money), _MONEY_SCHEMA]
Timestamp = Annotated[datetime, BeforeValidator(repos.parse_timestamp),
                      WithJsonSchema({"anyOf": [{"type": "string", "format": "date-time"},
                                                {"type": "number"}],
                                      "description": "ISO-8601 time or unix seconds"})]
Name = _strings(repos.NAME_MAX)
KeyName = _strings(repos.NAME_MAX, min_length=0)
UserGroup = _strings(repos.USER_GROUP_MAX)
ChannelGroup = _strings(repos.CHANNEL_GROUP_MAX)
ModelName = _strings(repos.MODEL_MAX)
ChannelType = Annotated[_strings(repos.CHANNEL_TYPE_MAX), AfterValidator(repos.check_channel_type)]
BaseUrl = Annotated[_strings(repos.BASE_URL_MAX), AfterValidator(repos.check_base_url)]
Secret = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4096)]
Network = Annotated[str, AfterValidator(repos.check_network)]
JsonObject = Annotated[dict[str, Any], AfterValidator(repos.check_json_value)]
Priority = Annotated[int, Field(ge=repos.INT32_MIN, le=repos.INT32_MAX)]
Weight = Annotated[int, Field(ge=0, le=repos.INT32_MAX)]
Timeout = Annotated[float, Field(gt=0, le=86_400)]
Id = Annotated[int, Field(ge=1, le=repos.INT32_MAX)]
Tokens = Annotated[int, Field(ge=1, le=repos.INT32_MAX)]
RateLimit = Annotated[StrictInt, Field(ge=0, le=repos.INT32_MAX,
                                       description="per rate-limit window (RELAYGATE_RATE_LIMIT_WINDOW_S, "
                                       "default 60 s); null: unlimited, 0: refuse every request")]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Patch(Request):
    """Partial update: absent fields stay; null is allowed only where it means "clear"."""

    nullable: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="after")
    @classmethod
    def _no_null(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name not in cls.nullable:
            raise ValueError("cannot be null")
        return value

    def changes(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.model_fields_set}


class DataList(BaseModel, Generic[T]):
    data: list[T]


# --- channels -------------------------------------------------------------------------------

class ChannelCreate(Request):
    name: Name
    type: ChannelType = "openai"
    base_url: BaseUrl | None = Field(default=None, description="required unless the type is a preset "
                                     "(deepseek, qwen, baidu, ...), which fills its default")
    keys: list[Secret] = Field(default_factory=list)
    models: list[ModelName] = Field(default_factory=list, description="a preset type fills its model list "
                                    "when this is left out")
    model_mapping: dict[ModelName, ModelName] = Field(default_factory=dict)
    group: ChannelGroup = "default"
    priority: Priority = 0
    weight: Weight = 1
    config: JsonObject = Field(default_factory=dict)
    timeout_s: Timeout | None = None
    enabled: bool = True
    status: Literal["enabled", "disabled"] | None = None


class ChannelPatch(Patch):
    nullable = frozenset({"timeout_s", "disabled_reason"})

    name: Name | None = None
    type: ChannelType | None = None
    base_url: BaseUrl | None = None
    keys: list[Secret] | None = None
    models: list[ModelName] | None = None
    model_mapping: dict[ModelName, ModelName] | None = None
    group: ChannelGroup | None = None
    priority: Priority | None = None
    weight: Weight | None = None
    config: JsonObject | None = None
    timeout_s: Timeout | None = None
    enabled: bool | None = None
    status: Literal["enabled", "disabled"] | None = None
    disabled_reason: Annotated[str, AfterValidator(repos.check_text)] | None = None


class ChannelHealthOut(BaseModel):
    """This process's in-memory counters since it started (not shared across workers)."""

    consecutive_failures: int = 0
    successes: int = 0


class ChannelOut(BaseModel):
    id: int
    name: str
    type: str
    base_url: str
    keys: list[str] = Field(description="masked; the full keys are never returned")
    key_count: int
    models: list[str]
    model_mapping: dict[str, str]
    group: str
    priority: int
    weight: int
    config: dict[str, Any]
    timeout_s: float | None
    status: str = Field(description="enabled | disabled | auto_disabled")
    enabled: bool
    disabled_reason: str | None
    health: ChannelHealthOut = Field(default_factory=ChannelHealthOut)
    created_at: datetime


class ChannelTestResult(BaseModel):
    ok: bool
    status_code: int | None = None
    latency_ms: int | None = None
    model: str | None = None
    error: str | None = None


# --- users ----------------------------------------------------------------------------------

class UserCreate(Request):
    name: Name
    group: UserGroup = "default"
    balance: Money = 0
    enabled: bool = True
    rpm_limit: RateLimit | None = Field(default=None, description="requests per window over all the user's keys")
    tpm_limit: RateLimit | None = Field(default=None, description="tokens per window over all the user's keys")


class UserPatch(Patch):
    nullable = frozenset({"rpm_limit", "tpm_limit"})

    name: Name | None = None
    group: UserGroup | None = None
    enabled: bool | None = None
    balance: Money | None = Field(default=None, description="new absolute balance")
    add_balance: SignedMoney | None = Field(default=None, description="top-up (negative: correction)")
    rpm_limit: RateLimit | None = Field(default=None, description="null clears it")
    tpm_limit: RateLimit | None = Field(default=None, description="null clears it")

    @model_validator(mode="after")
    def _one_balance(self) -> UserPatch:
        if self.balance is not None and self.add_balance is not None:
            raise ValueError("give either balance or add_balance, not both")
        return self


class UserOut(BaseModel):
    id: int
    name: str
    group: str
    enabled: bool
    balance: str
    used: str
    rpm_limit: int | None = None
    tpm_limit: int | None = None
    created_at: datetime


# --- keys -----------------------------------------------------------------------------------

class KeyCreate(Request):
    user_id: Id
    name: KeyName = ""
    models: list[ModelName] | None = None
    budget: Money | None = None
    expires_at: Timestamp | None = None
    allowed_ips: list[Network] | None = None
    enabled: bool = True
    rpm_limit: RateLimit | None = Field(default=None, description="requests per window on this key")
    tpm_limit: RateLimit | None = Field(default=None, description="tokens per window on this key")


class KeyPatch(Patch):
    nullable = frozenset({"models", "budget", "expires_at", "allowed_ips", "rpm_limit", "tpm_limit"})

    name: KeyName | None = None
    enabled: bool | None = None
    models: list[ModelName] | None = None
    budget: Money | None = None
    expires_at: Timestamp | None = None
    allowed_ips: list[Network] | None = None
    rpm_limit: RateLimit | None = None
    tpm_limit: RateLimit | None = None


class KeyOut(BaseModel):
    id: int
    user_id: int
    name: str
    key_hint: str
    models: list[str] | None
    budget: str | None
    used: str
    expires_at: datetime | None
    allowed_ips: list[str] | None
    enabled: bool
    rpm_limit: int | None = None
    tpm_limit: int | None = None
    created_at: datetime


class KeyCreated(KeyOut):
    key: str = Field(description="the secret; shown only in this response")


# --- prices ---------------------------------------------------------------------------------

class PriceIn(Request):
    input: Money = Field(default=0, description="per 1M prompt tokens")
    output: Money = Field(default=0, description="per 1M completion tokens")
    per_request: Money = Field(default=0, description="per call")
    cache_read: Money | None = Field(default=None, description="per 1M cached prompt tokens")
    cache_write: Money | None = Field(default=None, description="per 1M cache-write tokens")
    max_output_tokens: Tokens | None = None
    per_character: Money | None = Field(default=None, description="per 1M characters of translated text "
                                        "(translation models) and of speech input (/v1/audio/speech); when unset, "
                                        "characters are billed as prompt tokens")
    per_image: Money | None = Field(default=None, description="per image (images endpoints)")
    image_prices: dict[Annotated[str, StringConstraints(min_length=1, max_length=64)], Money] | None = Field(
        default=None, description='per image by size and quality, e.g. {"1024x1024/hd": "0.08", "1024x1024": '
        '"0.04"}: "<size>/<quality>" first, then "<size>", then per_image')
    per_second: Money | None = Field(default=None, description="per second of audio in (transcriptions, "
                                     "translations)")


class PriceOut(BaseModel):
    model: str
    input: str
    output: str
    per_request: str
    cache_read: str | None
    cache_write: str | None
    max_output_tokens: int | None
    per_character: str | None = None
    per_image: str | None = None
    image_prices: dict[str, str] | None = None
    per_second: str | None = None
    updated_at: datetime


# --- logs and usage -------------------------------------------------------------------------

class LogOut(BaseModel):
    id: int
    request_id: str
    created_at: datetime
    user_id: int | None
    key_id: int | None
    channel_id: int | None
    endpoint: str
    model: str
    upstream_model: str
    stream: bool
    prompt_tokens: int
    completion_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost: str
    status_code: int
    outcome: str
    usage_source: str
    latency_ms: int
    ttft_ms: int | None
    tries: int
    error: str | None


class UsageRow(BaseModel):
    day: str | None = None
    model: str | None = None
    user_id: int | None = None
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cost: str


class ErrorDetail(BaseModel):
    message: str
    type: str
    code: str | None = None
    param: str | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail
