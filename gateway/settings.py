"""Gateway settings: the agents it fronts and the limits it enforces."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.card import check_overrides

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
MiB = 1024 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentSpec:
    """One agent: its route name, its gRPC target (host:port) and Agent Card overrides.

    `card_overrides` replaces top-level card fields (see card.OVERRIDABLE).
    """

    name: str
    target: str
    deadline: float | None = None
    card_overrides: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not NAME_PATTERN.match(self.name):
            raise ValueError(
                f"agent name {self.name!r} must be lower-case letters, digits, '.', '_' or '-'"
            )
        host, sep, port = self.target.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"agent {self.name!r}: target {self.target!r} is not HOST:PORT")
        try:
            check_overrides(self.card_overrides)
        except ValueError as exc:
            raise ValueError(f"agent {self.name!r}: {exc}") from None


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Everything the app needs. The first agent is also served at the root."""

    agents: tuple[AgentSpec, ...] = field(default_factory=tuple)
    keepalive: float = 15.0
    max_body_bytes: int = 1 * MiB
    max_events_per_task: int = 10_000
    final_grace: float = 1.0
    public_url: str | None = None
    forwarded_allow_ips: tuple[str, ...] = ("127.0.0.1", "::1")
    card_max_age: int = 300

    def __post_init__(self) -> None:
        if self.public_url is not None and not re.match(r"^https?://[^/\s]+", self.public_url):
            raise ValueError(f"public URL {self.public_url!r} must start with http:// or https://")
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
