"""Gateway settings: the agents it fronts and the limits it enforces."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
MiB = 1024 * 1024


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
class Settings:
    """Everything the app needs. The first agent is also served at the root.

    Limits (each has a `serve` flag of the same name):

    - `keepalive`: seconds between SSE keep-alive comments on every open stream.
    - `max_events_per_task`: events retained per task log (resume and slow readers).
    - `max_subscribers_per_task`: open streams per task (-32603 TOO_MANY_SUBSCRIBERS).
    - `finished_task_ttl`: seconds a terminal task is kept, then GetTask is -32001.
    - `max_running_tasks`: task turns running at once (-32603 TOO_MANY_TASKS).
    - `send_timeout`: seconds one SSE send may block before the stream is closed.
    - `AgentSpec.deadline`: the gRPC deadline of one task turn (the task FAILS past it).
    """

    agents: tuple[AgentSpec, ...] = field(default_factory=tuple)
    keepalive: float = 15.0
    max_body_bytes: int = 1 * MiB
    max_events_per_task: int = 10_000
    max_subscribers_per_task: int = 100
    finished_task_ttl: float = 3600.0
    max_running_tasks: int = 1000
    send_timeout: float = 30.0
    final_grace: float = 1.0

    def __post_init__(self) -> None:
        names = [a.name for a in self.agents]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"agent names must be unique: {', '.join(duplicates)} repeated")
        for name in ("max_events_per_task", "max_subscribers_per_task", "max_running_tasks"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        for name in ("keepalive", "finished_task_ttl", "send_timeout"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")


def parse_agent(value: str) -> AgentSpec:
    """Parse NAME=HOST:PORT."""
    name, sep, target = value.partition("=")
    if not sep:
        raise ValueError(f"{value!r} is not NAME=HOST:PORT")
    return AgentSpec(name=name.strip(), target=target.strip())
