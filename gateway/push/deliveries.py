"""This process's push workers: one asyncio task per config it delivers.

`begin(config, cursor)` claims the config (PushState.claim: one holder across replicas) and
starts its worker (delivery.py); `stop` ends a local worker at once (a Delete here). In the
background, every `lease/3` seconds: renew the claims of the local workers (stop those lost),
and claim the configs whose holder lapsed (`due`: a replica died; its successor continues
from the last acknowledged event). With the memory backend the same loop prunes the configs
of tasks the store no longer has.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from gateway.core import errors
from gateway.push.configs import ACTIVE, Cursor, PushConfig
from gateway.push.delivery import Delivery, Sender
from gateway.push.state import PushState
from gateway.stores.contract import Store

log = logging.getLogger("a2a_gateway")

Key = tuple[str, str]


class Deliveries:
    def __init__(self, store: Store, state: PushState, sender: Sender, *, lease: float) -> None:
        self.store = store
        self.state = state
        self.sender = sender
        self.lease = lease
        self.workers: dict[Key, asyncio.Task[None]] = {}
        self._loop: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"<Deliveries workers={len(self.workers)} {self.state!r}>"

    def start(self) -> None:
        """Start the background loop (needs the running loop)."""
        if self._loop is None:
            self._loop = asyncio.create_task(self._background())

    async def begin(self, config: PushConfig, cursor: Cursor) -> bool:
        """Claim and start delivering `config` from `cursor`; False when it is not ours."""
        key = (config.task_id, config.id)
        running = self.workers.get(key)
        if running is not None and not running.done():
            return True  # the running worker reloads a replaced config by its version
        if cursor.state != ACTIVE or not await self.state.claim(*key):
            return False
        delivery = Delivery(config, cursor, store=self.store, state=self.state, sender=self.sender)
        worker = asyncio.create_task(delivery.run(), name=f"push {config.task_id}/{config.id}")
        self.workers[key] = worker
        self.sender.metrics.workers.set(len(self.workers))

        def ended(task: asyncio.Task[None]) -> None:
            if self.workers.get(key) is task:
                del self.workers[key]
                self.sender.metrics.workers.set(len(self.workers))
            if not task.cancelled() and task.exception() is not None:
                log.error("push worker %s/%s crashed", *key, exc_info=task.exception())

        worker.add_done_callback(ended)
        return True

    async def stop(self, task_id: str, config_id: str) -> None:
        worker = self.workers.pop((task_id, config_id), None)
        if worker is not None:
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
            self.sender.metrics.workers.set(len(self.workers))

    async def take_over(self) -> int:
        """Claim and start the configs whose holder lapsed; returns how many started here."""
        started = 0
        for task_id, config_id in await self.state.due():
            if (task_id, config_id) in self.workers:
                continue
            found = await self.state.get(task_id, config_id)
            if found is None:
                continue
            config, cursor = found
            if await self.begin(config, cursor):
                log.info("push config %s of task %s: delivering from here", config_id, task_id)
                started += 1
        return started

    async def prune(self) -> None:
        """Memory backend: forget the configs of tasks the store no longer has."""
        for task_id in await self.state.tasks():
            if await self.store.get(task_id) is None:
                for config, _ in await self.state.configs(task_id):
                    await self.stop(task_id, config.id)
                    await self.state.delete(task_id, config.id)

    async def _background(self) -> None:
        rounds = 0
        while True:
            await asyncio.sleep(self.lease / 3)
            rounds += 1
            try:
                for key in await self.state.renew(list(self.workers)):
                    log.warning(
                        "push config %s of task %s: lost its claim; stopping", key[1], key[0]
                    )
                    await self.stop(*key)
                await self.take_over()
                if rounds % 30 == 0:
                    await self.prune()
            except (errors.A2AError, OSError) as exc:
                log.warning("push background round failed: %s", exc)

    async def close(self) -> None:
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
            self._loop = None
        workers = list(self.workers.values())
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        self.workers.clear()
        await self.sender.close()
