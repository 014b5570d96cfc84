"""The agents behind the gateway: gRPC channels to their targets, health, forwarded headers."""
