"""The core: the A2A methods (one table for every binding), the bridge that runs turns as gRPC
calls, the task model, events and the stream model, and the one error table."""
