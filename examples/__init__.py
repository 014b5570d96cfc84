"""Example agents and demo tooling for the A2A gRPC gateway."""
