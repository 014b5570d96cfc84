"""Push notification settings (the `push:` section of the configuration)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class PushSettings:
    """Push notifications: on by default, with the SSRF guard on (guard.py).

    - `allow_hosts`: trusted webhook hosts the guard lets through whatever they resolve to:
      host names (exact, lower case), IP addresses or networks in CIDR notation (an address
      resolved from any host is allowed when it falls in one of them).
    - `allow_http`: plain `http://` webhooks (default: `https://` only).
    - `timeout`: seconds per attempt; `max_attempts` and `max_retry_time` (seconds since an
      event's first attempt) bound the retries of one event; `backoff` is the first delay,
      doubled per attempt up to `max_backoff`, with equal jitter; a longer `Retry-After` is
      honoured (within `max_retry_time`).
    - `max_configs_per_task`: configs one task may have.
    - `signing`: sign every request with a JWT (`X-A2A-Notification-Signature`), the key from
      `signing_key_file` (PEM, RSA or EC) or generated at start; the JWKS is served at
      `/.well-known/jwks.json`.
    - `lease`: seconds a replica's hold on a config's delivery lasts without renewal (Redis).
    """

    enabled: bool = True
    allow_hosts: tuple[str, ...] = ()
    allow_http: bool = False
    timeout: float = 10.0
    max_attempts: int = 8
    max_retry_time: float = 900.0
    backoff: float = 1.0
    max_backoff: float = 60.0
    max_configs_per_task: int = 10
    signing: bool = False
    signing_key_file: str | None = None
    lease: float = 10.0

    def __post_init__(self) -> None:
        for entry in self.allow_hosts:
            if "/" in entry:
                try:
                    ipaddress.ip_network(entry, strict=False)
                except ValueError:
                    raise ValueError(f"push allow_hosts: {entry!r} is not a network") from None
        for name in ("timeout", "max_retry_time", "backoff", "max_backoff", "lease"):
            if getattr(self, name) <= 0:
                raise ValueError(f"push {name} must be positive")
        for name in ("max_attempts", "max_configs_per_task"):
            if getattr(self, name) < 1:
                raise ValueError(f"push {name} must be at least 1")
