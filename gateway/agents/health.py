"""Watching one gRPC target with the standard health protocol (grpc.health.v1).

A `Probe` owns a small channel to one target and a background task that keeps a
`Health.Watch` stream open. Every reply updates `status` (SERVING, NOT_SERVING, ...); a
failed or ended stream sets `UNREACHABLE: <gRPC code>` (or `NO_HEALTH_SERVICE` when the
agent does not implement it) and is retried with exponential backoff (0.2 s doubling to
`max_backoff`). So an agent that goes away is reported within a moment, and one that comes
back is seen within `max_backoff` seconds, without any request from a client.

`status` is `UNKNOWN` until the first answer; `checked` is set from then on.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

SERVING = "SERVING"
UNKNOWN = "UNKNOWN"


class Probe:
    """The health of one target of one agent."""

    def __init__(self, target: str, channel: grpc.aio.Channel, *, max_backoff: float = 2.0) -> None:
        self.target = target
        self.channel = channel
        self.max_backoff = max_backoff
        self.status = UNKNOWN
        self.checked = asyncio.Event()
        self._stub = health_pb2_grpc.HealthStub(channel)
        self._task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"<Probe {self.target} {self.status}>"

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._watch(), name=f"health {self.target}")

    def _set(self, status: str) -> None:
        self.status = status
        self.checked.set()

    async def _watch(self) -> None:
        backoff = 0.2
        request = health_pb2.HealthCheckRequest(service="")
        while True:
            call: Any = self._stub.Watch(request, wait_for_ready=False)
            try:
                async for reply in call:
                    self._set(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))
                    backoff = 0.2
                self._set("UNREACHABLE: the health stream ended")
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
                    self._set("NO_HEALTH_SERVICE")
                    backoff = self.max_backoff
                else:
                    self._set(f"UNREACHABLE: {exc.code().name}")
            finally:
                call.cancel()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.max_backoff)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.channel.close()
