"""The A2A protocol bindings, side by side: each one parses its wire shape, calls the one
method table (core/methods.py) and encodes the answer; none holds protocol state."""
