"""The configuration: a YAML file, the environment and CLI flags, validated into `Settings`.

Precedence, highest first: CLI flags, environment variables, the file, defaults.

Environment: `A2A_GATEWAY__` then the key path joined with `__` (keys case-insensitive); a
number indexes a list (`A2A_GATEWAY__LISTEN__PORT=9000`, `A2A_GATEWAY__AGENTS__0__DEADLINE=30`).
A value starting with `[` or `{` is read as YAML/JSON (`A2A_GATEWAY__FORWARD_HEADERS=[x-tenant]`);
`targets` also takes a comma-separated string.

Every problem is reported at once as `key.path[i].name: what is wrong` in a `ConfigError`,
before anything listens. Relative file paths are relative to the config file's directory.

Adding a section is one class: a `Section` subclass, a field on `GatewayConfig`, and its fields
passed on in `GatewayConfig.to_settings()` (sections in `FLAT_SECTIONS` are passed on as they
are, so a field named like its `Settings` field needs no further code).
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, get_args

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from gateway.agents import forwarding
from gateway.http.card import check_extended, check_overrides
from gateway.http.signing import Signer
from gateway.ops.settings import (
    EXTENDED_CARD_NEEDS_AUTH,
    NAME_PATTERN,
    STORE_SCHEMES,
    WORKERS_NEED_A_STORE,
    AgentSpec,
    ApiKey,
    AuthSettings,
    KiB,
    PrincipalLimits,
    Settings,
    TlsSpec,
    TracingSettings,
    split_target,
)
from gateway.push.settings import PushSettings

ENV_PREFIX = "A2A_GATEWAY__"
Problem = tuple[str, str]


class ConfigError(Exception):
    """The configuration is invalid; `problems` are (key path, what is wrong)."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(f"{path}: {text}" if path else text for path, text in problems))
        self.problems = problems


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


class PushConfig(Section):
    """Push notifications; the defaults are PushSettings' own (see push/settings.py)."""

    enabled: bool = True
    allow_hosts: list[str] = Field(default_factory=list)
    allow_http: bool = False
    timeout: PositiveFloat = 10.0
    max_attempts: PositiveInt = 8
    max_retry_time: PositiveFloat = 900.0
    backoff: PositiveFloat = 1.0
    max_backoff: PositiveFloat = 60.0
    max_configs_per_task: PositiveInt = 10
    signing: bool = False
    signing_key_file: ExistingFile | None = None
    lease: PositiveFloat = 10.0

    @field_validator("allow_hosts")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        PushSettings(allow_hosts=tuple(value))  # a CIDR entry must parse
        return value

    def to_settings(self) -> PushSettings:
        values = self.model_dump()
        values["allow_hosts"] = tuple(values["allow_hosts"])
        return PushSettings(**values)


class GatewayConfig(Section):
    agents: list[AgentConfig] = Field(min_length=1)
    default_agent: str | None = None
    forward_headers: list[Annotated[str, AfterValidator(_header)]] = Field(default_factory=list)
    listen: ListenConfig = ListenConfig()
    limits: LimitsConfig = LimitsConfig()
    http: HttpConfig = HttpConfig()
    auth: AuthConfig = AuthConfig()
    per_principal: PrincipalLimitsConfig = PrincipalLimitsConfig()
    metrics: MetricsConfig = MetricsConfig()
    cors_origins: list[str] = Field(default_factory=list)
    allowed_hosts: list[str] = Field(default_factory=list)
    shutdown_grace: Annotated[float, Field(ge=0)] = 10.0
    store: StoreConfig = StoreConfig()
    card_signing: CardSigningConfig | None = None
    tracing: TracingConfig = TracingConfig()
    push: PushConfig = PushConfig()
    rest: bool = True

    FLAT_SECTIONS: ClassVar[tuple[str, ...]] = ("limits", "http")

    def problems(self) -> list[Problem]:
        """What a field validator cannot see: relations between agents."""
        found: list[Problem] = []
        seen: dict[str, int] = {}
        for index, agent in enumerate(self.agents):
            if agent.name in seen:
                found.append(
                    (
                        f"agents[{index}].name",
                        f"duplicate agent name {agent.name!r} (also agents[{seen[agent.name]}])",
                    )
                )
            seen.setdefault(agent.name, index)
        if self.default_agent is not None and self.default_agent not in seen:
            found.append(
                ("default_agent", f"{self.default_agent!r} is not one of {', '.join(seen)}")
            )
        if self.listen.workers > 1 and self.store.url == "memory":
            found.append(("listen.workers", WORKERS_NEED_A_STORE))
        auth = self.auth.to_settings().enabled
        for index, agent in enumerate(self.agents):
            if agent.extended_card and not auth:
                found.append((f"agents[{index}].extended_card", EXTENDED_CARD_NEEDS_AUTH))
        if self.listen.workers > 1 and self.listen.grpc_port == 0:
            found.append(
                (
                    "listen.grpc_port",
                    "with several workers, give a fixed port (every worker binds it)",
                )
            )
        return found

    def to_settings(self) -> Settings:
        flat: dict[str, Any] = {}
        for section in self.FLAT_SECTIONS:
            value = getattr(self, section)
            flat.update(value.flat() if isinstance(value, HttpConfig) else value.model_dump())
        return Settings(
            agents=tuple(a.to_spec() for a in self.agents),
            default_agent=self.default_agent,
            forward_headers=tuple(dict.fromkeys(self.forward_headers)),
            host=self.listen.host,
            port=self.listen.port,
            grpc_port=self.listen.grpc_port,
            grpc_cert_file=self.listen.grpc_cert_file,
            grpc_key_file=self.listen.grpc_key_file,
            auth=self.auth.to_settings(),
            per_principal=PrincipalLimits(**self.per_principal.model_dump()),
            metrics=self.metrics.mode,
            metrics_port=self.metrics.port,
            cors_origins=tuple(self.cors_origins),
            allowed_hosts=tuple(self.allowed_hosts),
            shutdown_grace=self.shutdown_grace,
            rest=self.rest,
            workers=self.listen.workers,
            store=self.store.url,
            store_prefix=self.store.prefix,
            lease=self.store.lease,
            card_signing_key_file=self.card_signing.key_file if self.card_signing else None,
            card_signing_kid=self.card_signing.kid if self.card_signing else "",
            store_cluster=self.store.cluster,
            tracing=self.tracing.to_settings(),
            push=self.push.to_settings(),
            **flat,
        )


def load(
    path: str | Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Callable[[dict[str, Any]], None] | None = None,
) -> Settings:
    """Read `path` (optional), apply the environment then `overrides`, validate.

    `overrides` edits the raw data in place (the CLI's flags). Raises ConfigError.
    """
    data = read_file(Path(path)) if path is not None else {}
    apply_environ(data, os.environ if environ is None else environ)
    if overrides is not None:
        overrides(data)
    base_dir = Path(path).resolve().parent if path is not None else Path.cwd()
    try:
        config = GatewayConfig.model_validate(data, context={"base_dir": str(base_dir)})
    except ValidationError as exc:
        raise ConfigError([_problem(e) for e in exc.errors()]) from None
    problems = config.problems()
    if problems:
        raise ConfigError(problems)
    return config.to_settings()


def read_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([(str(path), f"cannot read the file: {exc.strerror}")]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([(str(path), f"not valid YAML: {where}{problem}")]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError([(str(path), "the file must be a mapping (agents:, listen:, ...)")])
    return data


def apply_environ(data: dict[str, Any], environ: Mapping[str, str]) -> None:
    """Set each `A2A_GATEWAY__...` variable's value at its key path in `data`."""
    problems: list[Problem] = []
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX):
            continue
        keys = name[len(ENV_PREFIX) :].lower().split("__")
        value: Any = environ[name]
        if value.lstrip().startswith(("[", "{")):
            try:
                value = yaml.safe_load(value)
            except yaml.YAMLError:
                problems.append((name, "not valid YAML/JSON"))
                continue
        try:
            _set(data, keys, value)
        except (KeyError, IndexError, TypeError) as exc:
            problems.append((name, str(exc.args[0]) if exc.args else "cannot be applied"))
    if problems:
        raise ConfigError(problems)


_ALTERNATIVES = {"target": "targets", "targets": "target"}


def _set(data: Any, keys: list[str], value: Any) -> None:
    if not all(keys):
        raise KeyError("an empty key in the variable name")
    node = data
    for depth, key in enumerate(keys):
        last = depth == len(keys) - 1
        fresh: Any = value if last else ([] if keys[depth + 1].isdigit() else {})
        if isinstance(node, list) and key.isdigit():
            index = int(key)
            if index > len(node):
                raise IndexError(f"index {index}, but the list has {len(node)} items")
            if index == len(node):
                node.append(fresh)
            elif last:
                node[index] = fresh
            node = node[index]
        elif isinstance(node, dict):
            if last or not isinstance(node.get(key), dict | list):
                node[key] = fresh
            if last and key in _ALTERNATIVES:
                node.pop(_ALTERNATIVES[key], None)  # `target` replaces `targets`, and back
            node = node[key]
        else:
            raise TypeError(f"{'.'.join(keys[:depth])} is not a mapping or a list")


def _problem(error: Any) -> Problem:
    loc = tuple(error["loc"])
    path = _path(loc)
    kind = error["type"]
    if kind == "extra_forbidden":
        return path, "unknown key" + _suggestion(loc)
    if kind == "missing":
        return path, "required"
    if loc == ("agents",) and kind == "too_short":
        return path, "at least one agent is required (agents: in --config FILE, or --agent)"
    text = str(error["msg"]).removeprefix("Value error, ")
    value = error.get("input")
    if kind != "value_error" and isinstance(value, str | int | float | bool):
        text += f" (got {value!r})"
    return path, text


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _suggestion(loc: tuple[Any, ...]) -> str:
    model: type[BaseModel] | None = GatewayConfig
    for part in loc[:-1]:
        if model is None or isinstance(part, int):
            continue
        field = model.model_fields.get(str(part))
        model = _model_in(field.annotation) if field else None
    if model is None:
        return ""
    known = list(model.model_fields)
    close = difflib.get_close_matches(str(loc[-1]), known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(known)})"


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None
