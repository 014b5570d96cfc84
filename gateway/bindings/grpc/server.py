"""The gRPC server's lifecycle: started and stopped by the app's lifespan (http/app.py) when
`Settings.grpc_port` is set, on `Settings.host`.

TLS with `grpc_cert_file` and `grpc_key_file` (PEM), else plaintext. It serves
`lf.a2a.v1.A2AService` and server reflection (so `grpcurl` needs no proto file).
`start()` binds (port 0 picks a free one) and returns the bound port, which the Agent Cards
advertise. Shutdown: when the gateway drains, open streams end at once (service.py); `stop()`
then refuses new calls and gives calls in flight (a blocking SendMessage) `grace` seconds.
With `--workers`, every worker binds the same port (SO_REUSEPORT, only then), so give a fixed
port there; otherwise a port in use is refused, never silently shared.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import grpc
from grpc_reflection.v1alpha import reflection

from gateway.bindings.grpc.service import SERVICE, Service

if TYPE_CHECKING:
    from gateway.http.state import Gateway

# Open streams may sit idle for long: no limit on a connection's age, pings allowed.
OPTIONS = (
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
)


class GrpcServer:
    """`lf.a2a.v1.A2AService` for one gateway."""

    def __init__(self, gateway: Gateway, host: str, port: int) -> None:
        self.service = Service(gateway)
        self.reuse_port = gateway.settings.workers > 1
        self.max_message = gateway.settings.max_body_bytes
        settings = gateway.settings
        self.tls = (settings.grpc_cert_file, settings.grpc_key_file)
        self.host = host
        self.port = port
        self.server: grpc.aio.Server | None = None

    def __repr__(self) -> str:
        return f"<GrpcServer {self.address} {self.service!r}>"

    @property
    def address(self) -> str:
        """`host:port` (IPv6 in brackets), as cards advertise it."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    async def start(self) -> int:
        """Bind and serve; the bound port. Raises OSError when the port cannot be bound."""
        options = (
            *OPTIONS,
            ("grpc.so_reuseport", int(self.reuse_port)),
            # the HTTP bindings' body limit; grpcio refuses more with RESOURCE_EXHAUSTED
            ("grpc.max_receive_message_length", self.max_message),
        )
        server = grpc.aio.server(options=options)
        server.add_generic_rpc_handlers((self.service.handler(),))
        # grpcurl and friends can list and describe the service (a2a_pb2 is in the pool)
        reflection.enable_server_reflection((SERVICE, reflection.SERVICE_NAME), server)
        try:
            credentials = self.credentials()
            if credentials is None:
                bound = server.add_insecure_port(self.address)
            else:
                bound = server.add_secure_port(self.address, credentials)
        except RuntimeError as exc:  # grpcio: "Failed to bind to address ..."
            raise OSError(f"cannot listen for gRPC on {self.address}: {exc}") from None
        if bound == 0:
            raise OSError(f"cannot listen for gRPC on {self.address}")
        self.port = bound
        await server.start()
        self.server = server
        return bound

    def credentials(self) -> grpc.ServerCredentials | None:
        """TLS credentials from the configured PEM files (None: plaintext). OSError."""
        cert_file, key_file = self.tls
        if cert_file is None or key_file is None:
            return None
        with open(key_file, "rb") as key, open(cert_file, "rb") as cert:
            return grpc.ssl_server_credentials([(key.read(), cert.read())])

    @property
    def secure(self) -> bool:
        return self.tls[0] is not None

    def drain(self) -> None:
        self.service.drain()

    async def stop(self, grace: float) -> None:
        self.service.drain()
        if self.server is not None:
            await self.server.stop(grace)
            self.server = None
