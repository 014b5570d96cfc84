"""Where push configs and their delivery cursors live: the contract and the memory backend.

Contract (`PushState`; memory here, Redis in redis.py):

- `put(config, cursor, limit)` creates a config with `cursor`, or replaces one of the same id
  (keeping its cursor; a failing one becomes active again, a done one stays done). A new
  config beyond `limit` per task raises `TooMany`. Returns the cursor in effect. Every put
  bumps the config's version.
- `claim(task_id, config_id)` takes the right to deliver the config (a lease, on Redis; the
  memory backend has one process and always says yes unless the config is gone or inactive).
  Exactly one holder at a time.
- `current(task_id, config_id)` is checked by the holder before every attempt: the config's
  version, or `LOST` / `GONE` (so a holder whose claim lapsed sends nothing more).
- `advance(config, cursor)` records a cursor, only for the holder: returns the config's
  version (a worker whose config was replaced reloads it), `LOST` when the claim is gone,
  `GONE` when the config was deleted. The write is the acknowledgement that survives the
  holder: whoever claims next starts after `cursor.acked`.
- `due()` lists configs whose holder lapsed (Redis: a replica died), to be claimed again.
- `forget(task_id, ttl)` lets a task's configs expire `ttl` seconds from now.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Protocol

from gateway.push.configs import ACTIVE, FAILING, Cursor, PushConfig

LOST = -1
GONE = -2


class TooMany(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"at most {limit} push notification configs per task")
        self.limit = limit


class PushState(Protocol):
    async def put(self, config: PushConfig, cursor: Cursor, *, limit: int) -> Cursor: ...

    async def get(self, task_id: str, config_id: str) -> tuple[PushConfig, Cursor] | None: ...

    async def configs(self, task_id: str) -> list[tuple[PushConfig, Cursor]]: ...

    async def count(self, task_id: str) -> int: ...

    async def delete(self, task_id: str, config_id: str) -> bool: ...

    async def current(self, task_id: str, config_id: str) -> int:
        """For the holder, before each attempt: the config's version (and the claim renewed),
        `LOST` when the claim is gone, `GONE` when the config was deleted."""
        ...

    async def claim(self, task_id: str, config_id: str) -> bool: ...

    async def advance(self, config: PushConfig, cursor: Cursor) -> int: ...

    async def release(self, task_id: str, config_id: str) -> None: ...

    async def renew(self, held: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """Renew the claims of `held`; returns those lost."""
        ...

    async def due(self) -> list[tuple[str, str]]: ...

    async def forget(self, task_id: str, ttl: float) -> None: ...

    async def tasks(self) -> list[str]:
        """Every task with configs (memory only: the gateway prunes tasks that are gone)."""
        ...

    async def close(self) -> None: ...


class MemoryPushState:
    """Configs in this process (lost on restart, like the memory task store)."""

    def __init__(self) -> None:
        self._configs: dict[str, dict[str, tuple[PushConfig, Cursor, int]]] = {}
        self._expiry: deque[tuple[float, str]] = deque()

    def __repr__(self) -> str:
        total = sum(len(c) for c in self._configs.values())
        return f"<MemoryPushState tasks={len(self._configs)} configs={total}>"

    def _sweep(self) -> None:
        now = time.monotonic()
        while self._expiry and self._expiry[0][0] <= now:
            _, task_id = self._expiry.popleft()
            self._configs.pop(task_id, None)

    async def put(self, config: PushConfig, cursor: Cursor, *, limit: int) -> Cursor:
        self._sweep()
        configs = self._configs.setdefault(config.task_id, {})
        known = configs.get(config.id)
        if known is None:
            if len(configs) >= limit:
                raise TooMany(limit)
            configs[config.id] = (config, cursor, 1)
            return cursor
        _, old, version = known
        if old.state == FAILING:
            old = Cursor(old.acked, old.snapshot)  # a failing config is delivered again
        configs[config.id] = (config, old, version + 1)
        return old

    async def get(self, task_id: str, config_id: str) -> tuple[PushConfig, Cursor] | None:
        self._sweep()
        found = self._configs.get(task_id, {}).get(config_id)
        return None if found is None else (found[0], found[1])

    async def configs(self, task_id: str) -> list[tuple[PushConfig, Cursor]]:
        self._sweep()
        return [(c, k) for c, k, _ in self._configs.get(task_id, {}).values()]

    async def count(self, task_id: str) -> int:
        return len(self._configs.get(task_id, {}))

    async def delete(self, task_id: str, config_id: str) -> bool:
        configs = self._configs.get(task_id, {})
        found = configs.pop(config_id, None) is not None
        if not configs:
            self._configs.pop(task_id, None)
        return found

    async def current(self, task_id: str, config_id: str) -> int:
        found = self._configs.get(task_id, {}).get(config_id)
        return GONE if found is None else found[2]

    async def claim(self, task_id: str, config_id: str) -> bool:
        found = self._configs.get(task_id, {}).get(config_id)
        return found is not None and found[1].state == ACTIVE

    async def advance(self, config: PushConfig, cursor: Cursor) -> int:
        configs = self._configs.get(config.task_id, {})
        found = configs.get(config.id)
        if found is None:
            return GONE
        configs[config.id] = (found[0], cursor, found[2])
        return found[2]

    async def release(self, task_id: str, config_id: str) -> None:
        return None

    async def renew(self, held: list[tuple[str, str]]) -> list[tuple[str, str]]:
        return []

    async def due(self) -> list[tuple[str, str]]:
        return []

    async def forget(self, task_id: str, ttl: float) -> None:
        self._expiry.append((time.monotonic() + ttl, task_id))

    async def tasks(self) -> list[str]:
        self._sweep()
        return list(self._configs)

    async def close(self) -> None:
        return None
