"""How many streams follow each task, with a limit per task: in this process, or across every
replica on one Redis when `quotas` (stores/quotas.py) is set.

A slot is taken before a stream's response starts (so a refusal is a plain JSON-RPC error)
and given back exactly once when the response ends, however it ends.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from gateway.core import errors

if TYPE_CHECKING:
    from gateway.stores.quotas import Quotas


class Subscribers:
    def __init__(self, *, limit_per_task: int = 100, quotas: Quotas | None = None) -> None:
        self.limit_per_task = limit_per_task
        self.quotas = quotas
        self._counts: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"<Subscribers tasks={len(self._counts)} streams={sum(self._counts.values())}>"

    def count(self, task_id: str) -> int:
        return self._counts.get(task_id, 0)

    def acquire(self, task_id: str, *, force: bool = False) -> Callable[[], None]:
        """Take a slot on `task_id`; returns its release (idempotent).

        Raises TOO_MANY_SUBSCRIBERS when full, unless `force` (the stream of the request
        that started the turn is never refused: its turn is already running).
        """
        held = self._counts.get(task_id, 0)
        if held >= self.limit_per_task and not force:
            raise errors.too_many_subscribers(task_id, self.limit_per_task)
        self._counts[task_id] = held + 1
        released = False

        def release() -> None:
            nonlocal released
            if released:
                return
            released = True
            left = self._counts[task_id] - 1
            if left:
                self._counts[task_id] = left
            else:
                del self._counts[task_id]

        return release

    async def join(self, task_id: str, *, force: bool = False) -> Callable[[], None]:
        """`acquire`, with the limit counted across replicas when `quotas` is set (one round
        trip to Redis, none with `force`; the release gives the place back there too)."""
        quotas = self.quotas
        if quotas is None:
            return self.acquire(task_id, force=force)
        key, holder = quotas.subscribers_key(task_id), quotas.stream_holder()
        if force:
            quotas.hold(key, holder)  # never refused: no need to wait for Redis
        elif not await quotas.take(key, holder, self.limit_per_task):
            raise errors.too_many_subscribers(task_id, self.limit_per_task)
        local = self.acquire(task_id, force=True)  # this process's count

        def release() -> None:
            local()
            quotas.give_back(key, holder)  # once: it forgets the holder

        return release
