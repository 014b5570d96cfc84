"""A2A gRPC-to-SSE bridge gateway: serves gRPC agents as A2A JSON-RPC endpoints."""

__version__ = "0.1.0"
