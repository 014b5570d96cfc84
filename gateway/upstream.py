"""One agent behind the gateway: its gRPC channel, its description and its health.

The channel is created once and reused by every call; grpc reconnects by itself after the
agent restarts. `describe()` caches the agent's AgentDescription; a failure is not cached,
so an agent that starts after the gateway is described on first use.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gateway import errors
from generated import task_service_pb2 as pb
from generated import task_service_pb2_grpc as pb_grpc

_CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", 16 * 1024 * 1024),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.http2.max_pings_without_data", 0),
]


class Upstream:
    """A named agent reachable at a gRPC target."""

    def __init__(
        self,
        name: str,
        target: str,
        *,
        deadline: float | None = None,
        card_overrides: Mapping[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.target = target
        self.deadline = deadline
        self.card_overrides = dict(card_overrides or {})
        self.channel = grpc.aio.insecure_channel(target, options=_CHANNEL_OPTIONS)
        self.stub = pb_grpc.TaskServiceStub(self.channel)
        self._health = health_pb2_grpc.HealthStub(self.channel)
        self._description: pb.AgentDescription | None = None
        self._describing: asyncio.Lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"<Upstream {self.name} target={self.target}>"

    async def describe(self, timeout: float = 5.0) -> pb.AgentDescription:
        """The agent's description, fetched once. Raises A2AError when it cannot be reached."""
        if self._description is not None:
            return self._description
        async with self._describing:
            if self._description is None:
                try:
                    self._description = await self.stub.Describe(
                        pb.DescribeRequest(), timeout=timeout
                    )
                except grpc.aio.AioRpcError as exc:
                    raise errors.from_grpc(exc, self.name) from None
            return self._description

    async def health(self, timeout: float = 1.0) -> str:
        """The agent's gRPC health status name, or "UNREACHABLE: <reason>"."""
        try:
            reply = await self._health.Check(
                health_pb2.HealthCheckRequest(service=""), timeout=timeout
            )
        except grpc.aio.AioRpcError as exc:
            return f"UNREACHABLE: {exc.code().name}"
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))

    async def close(self) -> None:
        await self.channel.close()
