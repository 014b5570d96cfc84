"""Where tasks and their event logs live: the contract (contract.py) and its backends side by
side (memory.py, redis.py), with what replicas sharing a store need (replicas.py)."""
