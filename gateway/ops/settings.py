"""Gateway settings: the agents it fronts and the limits it enforces.

Plain frozen dataclasses: what the app reads. `gateway.ops.config` builds them from a YAML file,
the environment and CLI flags; tests and embedders may build them directly.

Everything is off or permissive by default (local runs); turning a feature on is configuration.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.http.card import check_extended, check_overrides
from gateway.push.settings import PushSettings

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
HOSTNAME_PATTERN = re.compile(
    r"^[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*$"
)
MiB = 1024 * 1024
KiB = 1024
METRICS_MODES = ("public", "auth", "off")
STORE_SCHEMES = ("redis://", "rediss://", "unix://")
WORKERS_NEED_A_STORE = (
    "more than one worker needs a shared store (store: redis://HOST:PORT/DB): with the memory "
    "store each worker would see only its own tasks"
)
EXTENDED_CARD_NEEDS_AUTH = (
    "an extended card is served only to authenticated callers: configure auth (a JWT key or "
    "API keys)"
)


def split_target(target: str) -> tuple[str, int]:
    """`HOST:PORT` or `[IPV6]:PORT` -> (host, port); ValueError when it does not parse."""
    host, sep, port = target.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        valid_host = _is_ip(host, 6)
    else:
        valid_host = bool(HOSTNAME_PATTERN.match(host)) or _is_ip(host, 4)
    if not sep or not valid_host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{target!r} is not HOST:PORT (IPv6 as [ADDR]:PORT)")
    return host, int(port)


def _is_ip(host: str, version: int) -> bool:
    try:
        return ipaddress.ip_address(host).version == version
    except ValueError:
        return False


@dataclass(frozen=True, slots=True, kw_only=True)
class TlsSpec:
    """TLS to an agent. No `ca_file`: the system roots; `cert_file` + `key_file`: mTLS."""

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    server_name: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentSpec:
    """One agent: its route name and its gRPC targets (HOST:PORT), balanced round robin.

    `target` is shorthand for one target; after construction `targets` is never empty and
    `target` is its first element. `tls` None is plaintext. `card_overrides` replaces
    top-level Agent Card fields (see card.OVERRIDABLE).
    """

    name: str
    target: str = ""
    targets: tuple[str, ...] = ()
    deadline: float | None = None
    connect_timeout: float = 2.0
    tls: TlsSpec | None = None
    card_overrides: Mapping[str, Any] = field(default_factory=dict)
    extended_card: Mapping[str, Any] = field(default_factory=dict)  # card.EXTENDABLE fields

    def __post_init__(self) -> None:
        if not NAME_PATTERN.match(self.name):
            raise ValueError(
                f"agent name {self.name!r} must be lower-case letters, digits, '.', '_' or '-'"
            )
        targets = self.targets or ((self.target,) if self.target else ())
        if not targets:
            raise ValueError(f"agent {self.name!r} has no target")
        for target in targets:
            try:
                split_target(target)
            except ValueError as exc:
                raise ValueError(f"agent {self.name!r}: target {exc}") from None
        object.__setattr__(self, "targets", tuple(targets))
        object.__setattr__(self, "target", targets[0])
        try:
            check_overrides(self.card_overrides)
            check_extended(self.extended_card)
        except ValueError as exc:
            raise ValueError(f"agent {self.name!r}: {exc}") from None


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiKey:
    """A static API key: only its SHA-256 (hex) is configured, never the key."""

    principal: str
    sha256: str

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[0-9a-f]{64}", self.sha256):
            raise ValueError(f"API key of {self.principal!r}: sha256 must be 64 lower-case hex")


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthSettings:
    """Credentials the gateway accepts. No key source configured = auth off."""

    jwt_hs256_secret_file: str | None = None
    jwt_public_key_file: str | None = None  # PEM: RSA -> RS256, EC -> ES256
    jwks_file: str | None = None  # a JWKS document on disk (never fetched)
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    principal_claim: str = "sub"
    leeway: float = 30.0
    api_keys: tuple[ApiKey, ...] = ()
    api_key_header: str = "X-API-Key"
    realm: str = "a2a-gateway"

    @property
    def jwt(self) -> bool:
        return bool(self.jwt_hs256_secret_file or self.jwt_public_key_file or self.jwks_file)

    @property
    def enabled(self) -> bool:
        return self.jwt or bool(self.api_keys)


@dataclass(frozen=True, slots=True, kw_only=True)
class PrincipalLimits:
    """Per-principal limits (0 = unlimited) and request hygiene."""

    rate: float = 0.0  # requests per second, token bucket
    burst: int = 20
    streams: int = 0  # concurrent open SSE streams
    tasks: int = 0  # concurrent running task turns
    body_timeout: float = 10.0  # seconds to receive a whole request body
    header_timeout: float = 10.0  # seconds to receive a request's headers
    max_header_bytes: int = 64 * KiB


TRACE_PROTOCOLS = ("http/protobuf", "grpc")


@dataclass(frozen=True, slots=True, kw_only=True)
class TracingSettings:
    """OpenTelemetry tracing (docs/tracing.md). Each None means "as the standard `OTEL_*`
    environment variables say, else the default": `enabled` None is on when an `endpoint` is
    set or `OTEL_TRACES_EXPORTER` names `otlp`; `endpoint` None is `OTEL_EXPORTER_OTLP_(TRACES_)
    ENDPOINT`; `service_name` None is `OTEL_SERVICE_NAME`, else `a2a-gateway`;
    `sampling_ratio` None is `OTEL_TRACES_SAMPLER(_ARG)`, else every trace (parent-based)."""

    enabled: bool | None = None
    endpoint: str | None = None
    protocol: str | None = None  # http/protobuf | grpc
    service_name: str | None = None
    sampling_ratio: float | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.protocol is not None and self.protocol not in TRACE_PROTOCOLS:
            raise ValueError(f"tracing protocol must be one of {', '.join(TRACE_PROTOCOLS)}")
        if self.sampling_ratio is not None and not 0 <= self.sampling_ratio <= 1:
            raise ValueError("tracing sampling_ratio must be between 0 and 1")


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Everything the app needs. `default_agent` (else the first agent) is served at the root.

    `forward_headers`: lower-case HTTP header names forwarded to agents (see gateway.ops.config).

    Limits (each has a `serve` flag of the same name):

    - `keepalive`: seconds between SSE keep-alive comments on every open stream.
    - `max_events_per_task`: events retained per task log (resume and slow readers).
    - `max_subscribers_per_task`: open streams per task (-32603 TOO_MANY_SUBSCRIBERS).
    - `finished_task_ttl`: seconds a terminal task is kept, then GetTask is -32001.
    - `max_running_tasks`: task turns running at once (-32603 TOO_MANY_TASKS).
    - `send_timeout`: seconds one SSE send may block before the stream is closed.
    - `AgentSpec.deadline`: the gRPC deadline of one task turn (the task FAILS past it).

    Bindings: JSON-RPC is always served; `rest` (default on) adds HTTP+JSON/REST under every
    agent prefix (bindings/rest/) and its entry in the Agent Cards.

    State (see DESIGN.md "State backends"):

    - `store`: "memory" (this process only, the default) or a `redis://` / `rediss://` /
      `unix://` URL shared by every replica; `store_prefix` starts every key it writes;
      `store_cluster`: the URL is a node of a Redis Cluster (stores/cluster.py).
    - `lease`: seconds a replica's turn lease lasts without renewal; a task whose replica died
      is FAILED (REPLICA_LOST) about this long after, by a surviving replica.
    - `workers`: server processes on this host (more than one needs a shared store).
    """

    agents: tuple[AgentSpec, ...] = field(default_factory=tuple)
    default_agent: str | None = None
    forward_headers: tuple[str, ...] = ()
    host: str = "127.0.0.1"
    port: int = 8000
    grpc_port: int | None = None  # the gRPC binding: off unless set (0 picks a free port)
    grpc_cert_file: str | None = None  # PEM certificate chain: the gRPC port speaks TLS
    grpc_key_file: str | None = None  # its PEM private key
    keepalive: float = 15.0
    max_body_bytes: int = 16 * MiB  # a 12 MiB file in base64 (docs/use-cases.md)
    max_events_per_task: int = 10_000
    max_subscribers_per_task: int = 100
    finished_task_ttl: float = 3600.0
    max_running_tasks: int = 1000
    send_timeout: float = 30.0
    final_grace: float = 1.0
    public_url: str | None = None
    forwarded_allow_ips: tuple[str, ...] = ("127.0.0.1", "::1")
    card_max_age: int = 300
    auth: AuthSettings = field(default_factory=AuthSettings)
    per_principal: PrincipalLimits = field(default_factory=PrincipalLimits)
    metrics: str = "public"  # public | auth | off (with metrics_port: only there, public)
    metrics_port: int | None = None
    cors_origins: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] = ()  # Host names served besides loopback (http/guard.py)
    shutdown_grace: float = 10.0  # seconds running turns get to finish at shutdown
    rest: bool = True  # the HTTP+JSON/REST binding (bindings/rest/)
    store: str = "memory"
    store_prefix: str = "a2a:"
    lease: float = 10.0
    store_cluster: bool = False  # `store` names a node of a Redis Cluster
    workers: int = 1
    card_signing_key_file: str | None = None  # PEM EC or RSA private key: signed cards
    card_signing_kid: str = ""  # the key's `kid` (protected header and JWKS)
    tracing: TracingSettings = field(default_factory=TracingSettings)
    push: PushSettings = field(default_factory=PushSettings)  # push notifications (push/)

    @property
    def shared_store(self) -> bool:
        return self.store != "memory"

    def __post_init__(self) -> None:
        if self.public_url is not None and not re.match(r"^https?://[^/\s]+", self.public_url):
            raise ValueError(f"public URL {self.public_url!r} must start with http:// or https://")
        if self.metrics not in METRICS_MODES:
            raise ValueError(f"metrics must be one of {', '.join(METRICS_MODES)}")
        names = [a.name for a in self.agents]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"agent names must be unique: {', '.join(duplicates)} repeated")
        if self.default_agent is not None and self.default_agent not in names:
            raise ValueError(f"default_agent {self.default_agent!r} is not a configured agent")
        if self.store != "memory" and not self.store.startswith(STORE_SCHEMES):
            raise ValueError(f"store {self.store!r} is not 'memory' or a redis:// URL")
        if self.store_cluster and not self.shared_store:
            raise ValueError("store_cluster needs a redis:// store URL (a node of the cluster)")
        if self.workers > 1 and not self.shared_store:
            raise ValueError(WORKERS_NEED_A_STORE)
        for agent in self.agents:
            if agent.extended_card and not self.auth.enabled:
                raise ValueError(f"agent {agent.name!r}: {EXTENDED_CARD_NEEDS_AUTH}")
        if self.card_signing_key_file is not None and not self.card_signing_kid:
            raise ValueError("card_signing_kid is required with a card signing key")
        for name in ("max_events_per_task", "max_subscribers_per_task", "max_running_tasks"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        for name in ("keepalive", "finished_task_ttl", "send_timeout", "lease", "workers"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")


def parse_api_key(value: str) -> ApiKey:
    """Parse PRINCIPAL=SHA256HEX."""
    name, sep, digest = value.partition("=")
    if not sep or not name.strip():
        raise ValueError(f"{value!r} is not PRINCIPAL=SHA256HEX")
    return ApiKey(principal=name.strip(), sha256=digest.strip().lower())
