"""Demo agents, each runnable with `python -m examples.agents.<name>`."""
