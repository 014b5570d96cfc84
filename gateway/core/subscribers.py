"""How many streams follow each task, with a limit per task: in this process, or across every
replica on one Redis when `quotas` (stores/quotas.py) is set.

A slot is taken before a stream's response starts (so a refusal is a plain JSON-RPC error)
and given back exactly once when the response ends, however it ends. The release is a slotted
`Slot`, not a closure: one small object per open stream instead of a function and three cells
(`make bench`, idle streams).
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
        return Slot(self, task_id)

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
        self._counts[task_id] = self._counts.get(task_id, 0) + 1  # this process's count
        return SharedSlot(self, task_id, quotas, key, holder)

    def give_back(self, task_id: str) -> None:
        """One slot of `task_id` is free again (a `Slot` calls it, once)."""
        left = self._counts[task_id] - 1
        if left:
            self._counts[task_id] = left
        else:
            del self._counts[task_id]


class Slot:
    """A taken slot: calling it gives the slot back, the first time only."""

    __slots__ = ("owner", "task_id")

    def __init__(self, owner: Subscribers, task_id: str) -> None:
        self.owner: Subscribers | None = owner
        self.task_id = task_id

    def __repr__(self) -> str:
        return f"<Slot {self.task_id} {'held' if self.owner else 'released'}>"

    def __call__(self) -> None:
        owner, self.owner = self.owner, None
        if owner is not None:
            owner.give_back(self.task_id)


class SharedSlot(Slot):
    """A slot counted across replicas: calling it gives it back here and in Redis, the first
    time only."""

    __slots__ = ("holder", "key", "quotas")

    def __init__(
        self, owner: Subscribers, task_id: str, quotas: Quotas, key: str, holder: str
    ) -> None:
        super().__init__(owner, task_id)
        self.quotas = quotas
        self.key = key
        self.holder = holder

    def __call__(self) -> None:
        if self.owner is not None:
            super().__call__()
            self.quotas.give_back(self.key, self.holder)
