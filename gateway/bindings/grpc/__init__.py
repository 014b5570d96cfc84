"""The gRPC binding (A2A v1.0 section 10): `lf.a2a.v1.A2AService` on its own port."""
