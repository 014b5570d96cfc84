"""JSON-RPC 2.0 (A2A v1.0 section 9), with the v0.3 and early-A2A shapes beside it."""
