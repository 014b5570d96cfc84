"""Gateway settings: the agents it fronts and the limits it enforces.

Everything is off or permissive by default (local runs); turning a feature on is configuration.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
MiB = 1024 * 1024
KiB = 1024
METRICS_MODES = ("public", "auth", "off")


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentSpec:
    """One agent: its route name and its gRPC target (host:port)."""

    name: str
    target: str
    deadline: float | None = None

    def __post_init__(self) -> None:
        if not NAME_PATTERN.match(self.name):
            raise ValueError(
                f"agent name {self.name!r} must be lower-case letters, digits, '.', '_' or '-'"
            )
        host, sep, port = self.target.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"agent {self.name!r}: target {self.target!r} is not HOST:PORT")


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
class Limits:
    """Per-principal limits (0 = unlimited) and request hygiene."""

    rate: float = 0.0  # requests per second, token bucket
    burst: int = 20
    streams: int = 0  # concurrent open SSE streams
    tasks: int = 0  # concurrent running task turns
    body_timeout: float = 10.0  # seconds to receive a whole request body
    header_timeout: float = 10.0  # seconds to receive a request's headers
    max_header_bytes: int = 64 * KiB


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Everything the app needs. The first agent is also served at the root."""

    agents: tuple[AgentSpec, ...] = field(default_factory=tuple)
    keepalive: float = 15.0
    max_body_bytes: int = 1 * MiB
    max_events_per_task: int = 10_000
    final_grace: float = 1.0
    auth: AuthSettings = field(default_factory=AuthSettings)
    limits: Limits = field(default_factory=Limits)
    metrics: str = "public"  # public | auth | off (with metrics_port: only there, public)
    metrics_port: int | None = None
    cors_origins: tuple[str, ...] = ()
    shutdown_grace: float = 10.0  # seconds running turns get to finish at shutdown

    def __post_init__(self) -> None:
        if self.metrics not in METRICS_MODES:
            raise ValueError(f"metrics must be one of {', '.join(METRICS_MODES)}")
        names = [a.name for a in self.agents]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"agent names must be unique: {', '.join(duplicates)} repeated")


def parse_agent(value: str) -> AgentSpec:
    """Parse NAME=HOST:PORT."""
    name, sep, target = value.partition("=")
    if not sep:
        raise ValueError(f"{value!r} is not NAME=HOST:PORT")
    return AgentSpec(name=name.strip(), target=target.strip())


def parse_api_key(value: str) -> ApiKey:
    """Parse PRINCIPAL=SHA256HEX."""
    name, sep, digest = value.partition("=")
    if not sep or not name.strip():
        raise ValueError(f"{value!r} is not PRINCIPAL=SHA256HEX")
    return ApiKey(principal=name.strip(), sha256=digest.strip().lower())
