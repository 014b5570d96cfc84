"""The sections of the configuration file: one frozen pydantic class per section.

Sections forbid unknown keys (`extra="forbid"`, so typos are caught); field validators check
each value. Relative file paths are relative to the config file's directory (`base_dir` in
the validation context). A section is a field of `GatewayConfig` (config.py), which checks
what a field validator cannot see and builds the `Settings`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    ValidationInfo,
    field_validator,
    model_validator,
)

from gateway.agents import forwarding
from gateway.http.card import check_extended, check_overrides
from gateway.http.signing import Signer
from gateway.ops.settings import (
    NAME_PATTERN,
    STORE_SCHEMES,
    AgentSpec,
    ApiKey,
    AuthSettings,
    KiB,
    Settings,
    TlsSpec,
    TracingSettings,
    split_target,
)
from gateway.push.settings import PushSettings


def _existing_file(value: str, info: ValidationInfo) -> str:
    base = Path((info.context or {}).get("base_dir", "."))
    path = (base / value).resolve()
    if not path.is_file():
        raise ValueError(f"file not found: {path}")
    return str(path)


def _agent_name(value: str) -> str:
    if not NAME_PATTERN.match(value):
        raise ValueError(f"{value!r}: use lower-case letters, digits, '.', '_', '-' (max 63)")
    return value


def _target(value: str) -> str:
    split_target(value)
    return value


def _header(value: str) -> str:
    name = value.strip().lower()
    why = forwarding.refusal(name)
    if why is not None:
        raise ValueError(f"{name!r} {why}")
    return name


ExistingFile = Annotated[str, AfterValidator(_existing_file)]
Target = Annotated[str, AfterValidator(_target)]
Header = Annotated[str, AfterValidator(_header)]  # forwarded to agents (forwarding.py)


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TlsConfig(Section):
    ca_file: ExistingFile | None = None
    cert_file: ExistingFile | None = None
    key_file: ExistingFile | None = None
    server_name: str | None = None

    @model_validator(mode="after")
    def _pair(self) -> TlsConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together (mTLS needs both)")
        return self


class AgentConfig(Section):
    name: Annotated[str, AfterValidator(_agent_name)]
    targets: list[Target] = Field(min_length=1)
    deadline: PositiveFloat | None = None
    connect_timeout: PositiveFloat = 2.0
    tls: TlsConfig | None = None
    card: dict[str, Any] = Field(default_factory=dict)
    extended_card: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _one_target(cls, data: Any) -> Any:
        if isinstance(data, dict) and "target" in data:
            if "targets" in data:
                raise ValueError("give `target` or `targets`, not both")
            data = {**data, "targets": [data["target"]]}
            del data["target"]
        return data

    @field_validator("targets", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        return [t.strip() for t in value.split(",")] if isinstance(value, str) else value

    @field_validator("card")
    @classmethod
    def _overridable(cls, value: dict[str, Any]) -> dict[str, Any]:
        check_overrides(value)
        return value

    @field_validator("extended_card")
    @classmethod
    def _extendable(cls, value: dict[str, Any]) -> dict[str, Any]:
        check_extended(value)
        return value

    def to_spec(self) -> AgentSpec:
        tls = TlsSpec(**self.tls.model_dump()) if self.tls is not None else None
        return AgentSpec(
            name=self.name,
            targets=tuple(self.targets),
            deadline=self.deadline,
            connect_timeout=self.connect_timeout,
            tls=tls,
            card_overrides=self.card,
            extended_card=self.extended_card,
        )


class ListenConfig(Section):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8000
    grpc_port: Annotated[int, Field(ge=0, le=65535)] | None = None
    grpc_cert_file: ExistingFile | None = None
    grpc_key_file: ExistingFile | None = None
    workers: PositiveInt = 1

    @model_validator(mode="after")
    def _grpc_tls(self) -> ListenConfig:
        if (self.grpc_cert_file is None) != (self.grpc_key_file is None):
            raise ValueError("grpc_cert_file and grpc_key_file go together (TLS needs both)")
        return self


class StoreConfig(Section):
    """`store: memory` (default), `store: redis://HOST:PORT/DB`, or this mapping."""

    url: str = "memory"
    prefix: Annotated[str, Field(min_length=1)] = "a2a:"
    lease: PositiveFloat = 10.0
    cluster: bool = False  # the URL names a node of a Redis Cluster

    @model_validator(mode="before")
    @classmethod
    def _url_alone(cls, data: Any) -> Any:
        return {"url": data} if isinstance(data, str) else data

    @field_validator("url")
    @classmethod
    def _known(cls, value: str) -> str:
        if value != "memory" and not value.startswith(STORE_SCHEMES):
            raise ValueError(f"{value!r} is not 'memory' or a redis://HOST:PORT/DB URL")
        return value


_DEFAULTS = Settings()


class LimitsConfig(Section):
    """Flattened into Settings; the defaults are Settings' own."""

    keepalive: PositiveFloat = _DEFAULTS.keepalive
    max_body_bytes: PositiveInt = _DEFAULTS.max_body_bytes
    max_events_per_task: PositiveInt = _DEFAULTS.max_events_per_task
    max_subscribers_per_task: PositiveInt = _DEFAULTS.max_subscribers_per_task
    finished_task_ttl: PositiveFloat = _DEFAULTS.finished_task_ttl
    max_running_tasks: PositiveInt = _DEFAULTS.max_running_tasks
    send_timeout: PositiveFloat = _DEFAULTS.send_timeout
    final_grace: PositiveFloat = _DEFAULTS.final_grace


class HttpConfig(Section):
    public_url: str | None = None
    forwarded_allow_ips: list[str] = Field(default_factory=lambda: ["127.0.0.1", "::1"])
    card_max_age: Annotated[int, Field(ge=0)] = 300

    @field_validator("public_url")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"public URL {value!r} must start with http:// or https://")
        return value

    def flat(self) -> dict[str, Any]:
        values = self.model_dump()
        values["forwarded_allow_ips"] = tuple(values["forwarded_allow_ips"])
        return values


class ApiKeyConfig(Section):
    principal: Annotated[str, Field(min_length=1)]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class AuthConfig(Section):
    jwt_hs256_secret_file: ExistingFile | None = None
    jwt_public_key_file: ExistingFile | None = None
    jwks_file: ExistingFile | None = None
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    principal_claim: str = "sub"
    leeway: Annotated[float, Field(ge=0)] = 30.0
    api_keys: list[ApiKeyConfig] = Field(default_factory=list)
    api_key_header: str = "X-API-Key"
    realm: str = "a2a-gateway"

    @model_validator(mode="after")
    def _audience(self) -> AuthConfig:
        jwt = self.jwt_hs256_secret_file or self.jwt_public_key_file or self.jwks_file
        if jwt and not self.jwt_audience:
            raise ValueError("jwt_audience is required when a JWT key is configured")
        return self

    def to_settings(self) -> AuthSettings:
        values = self.model_dump()
        values["api_keys"] = tuple(ApiKey(**k) for k in values["api_keys"])
        return AuthSettings(**values)


class PrincipalLimitsConfig(Section):
    rate: Annotated[float, Field(ge=0)] = 0.0
    burst: PositiveInt = 20
    streams: Annotated[int, Field(ge=0)] = 0
    tasks: Annotated[int, Field(ge=0)] = 0
    body_timeout: PositiveFloat = 10.0
    header_timeout: PositiveFloat = 10.0
    max_header_bytes: PositiveInt = 64 * KiB


class MetricsConfig(Section):
    mode: Literal["public", "auth", "off"] = "public"
    port: Annotated[int, Field(ge=0, le=65535)] | None = None


class CardSigningConfig(Section):
    key_file: ExistingFile
    kid: Annotated[str, Field(min_length=1)]

    @field_validator("key_file")
    @classmethod
    def _loads(cls, value: str) -> str:
        Signer(value, "check")  # refused here, naming the file, when it does not parse
        return value


class TracingConfig(Section):
    """OpenTelemetry tracing; unset keys fall back to the `OTEL_*` variables (docs/tracing.md)."""

    enabled: bool | None = None
    endpoint: str | None = None
    protocol: Literal["http/protobuf", "grpc"] | None = None
    service_name: Annotated[str, Field(min_length=1)] | None = None
    sampling_ratio: Annotated[float, Field(ge=0, le=1)] | None = None
    headers: dict[str, str] = Field(default_factory=dict)

    @field_validator("endpoint")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"{value!r} must be an http:// or https:// URL")
        return value

    def to_settings(self) -> TracingSettings:
        return TracingSettings(**self.model_dump())


_PUSH = PushSettings()


class PushConfig(Section):
    """Push notifications; the defaults are PushSettings' own (see push/settings.py)."""

    enabled: bool = _PUSH.enabled
    allow_hosts: list[str] = Field(default_factory=lambda: list(_PUSH.allow_hosts))
    allow_http: bool = _PUSH.allow_http
    timeout: PositiveFloat = _PUSH.timeout
    max_attempts: PositiveInt = _PUSH.max_attempts
    max_retry_time: PositiveFloat = _PUSH.max_retry_time
    backoff: PositiveFloat = _PUSH.backoff
    max_backoff: PositiveFloat = _PUSH.max_backoff
    max_configs_per_task: PositiveInt = _PUSH.max_configs_per_task
    signing: bool = _PUSH.signing
    signing_key_file: ExistingFile | None = None
    lease: PositiveFloat = _PUSH.lease

    @field_validator("allow_hosts")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        PushSettings(allow_hosts=tuple(value))  # a CIDR entry must parse
        return value

    def to_settings(self) -> PushSettings:
        values = self.model_dump()
        values["allow_hosts"] = tuple(values["allow_hosts"])
        return PushSettings(**values)
