"""How many streams follow each task in this process, with a limit per task.

A slot is taken before a stream's response starts (so a refusal is a plain JSON-RPC error)
and given back exactly once when the response ends, however it ends. The release is a slotted
`Slot`, not a closure: one small object per open stream instead of a function and three cells
(`make bench`, idle streams).
"""

from __future__ import annotations

from collections.abc import Callable

from gateway.core import errors


class Subscribers:
    def __init__(self, *, limit_per_task: int = 100) -> None:
        self.limit_per_task = limit_per_task
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
