"""`make bench`: the gateway against direct gRPC and the official a2a-sdk, in one run."""
