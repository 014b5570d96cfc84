"""One logged event and its wire encodings.

Each event is encoded at most once per wire format and the bytes are shared by every
subscriber; the JSON-RPC request id is spliced in when the SSE frame is built (see sse.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

Encoder = Callable[[dict[str, Any]], dict[str, Any]]


class Event:
    """An entry of a task's event log: sequence number, A2A v1.0 StreamResponse body."""

    __slots__ = ("__weakref__", "_encoded", "_json", "body", "final", "kept", "seq")

    def __init__(self, seq: int, body: dict[str, Any], final: bool) -> None:
        self.seq = seq
        self.body = body
        self.final = final
        self.kept = True  # whether encodings are kept for the next subscriber (`settle`)
        self._json: bytes | None = None  # v1.0, unadapted: the common case, no dict
        self._encoded: dict[str, bytes] | None = None

    def __repr__(self) -> str:
        kind = next(iter(self.body), "?")
        return f"<Event seq={self.seq} {kind}{' final' if self.final else ''}>"

    def settle(self) -> None:
        """The task is finished: drop the encodings and keep none from now on.

        A finished task's events are read rarely (a late replay), while kept encodings
        would double or triple its memory (a copy per wire format beside the body, whose
        strings the task record shares). Live events keep theirs: every subscriber of a
        running task shares one encoding per format."""
        self.kept = False
        self._json = None
        self._encoded = None

    def preset(self, data: bytes) -> None:
        """Use `data`, the body already encoded (e.g. read from Redis), as its v1.0 JSON."""
        self._json = data

    def encoded(self, version: str = "1.0", adapt: Encoder | None = None) -> bytes:
        """The JSON bytes of the body in `version`, adapted by `adapt` the first time."""
        if not self.kept and self._json is None and self._encoded is None:
            return orjson.dumps(self.body if adapt is None else adapt(self.body))
        if adapt is None and version == "1.0":
            if self._json is None:
                self._json = compact(orjson.dumps(self.body))
            return self._json
        if self._encoded is None:
            self._encoded = {}
        cached = self._encoded.get(version)
        if cached is None:
            body = self.body if adapt is None else adapt(self.body)
            cached = compact(orjson.dumps(body))
            self._encoded[version] = cached
        return cached

    def encoded_as(self, wire: str, encode: Callable[[dict[str, Any]], bytes]) -> bytes:
        """The body encoded by `encode` (a binding's own format, e.g. protobuf for gRPC),
        computed the first time and cached under `wire`."""
        if self._encoded is None:
            self._encoded = {}
        cached = self._encoded.get(wire)
        if cached is None:
            cached = self._encoded[wire] = encode(self.body)
        return cached


def compact(data: bytes) -> bytes:
    """A right-sized copy of orjson's output, for bytes kept as long as the log keeps them.

    orjson writes into a large buffer and shrinks it in place; with glibc's allocator the
    shrunk buffer still holds about 4 KiB of resident memory, whatever its length (measured:
    4,120 B per event kept, against 365 B for a copy). The copy costs well under a
    microsecond per event.
    """
    return bytes(memoryview(data))
