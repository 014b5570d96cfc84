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
    """An entry of a task's event log: sequence number, A2A v1.0 StreamResponse body.

    A body that shares nothing with the task record (`owns_nothing`: a Task snapshot, which
    is a deep copy, or a status update without a message) is kept as a dict only until its
    v1.0 JSON exists (the first subscriber encodes it, or a store presets it): from then on
    the event holds its bytes alone, and `body` decodes them when another wire format or a
    reader needs the dict (other encodings are cached as before). An idle task's first two
    events (its snapshot and WORKING) so cost their JSON, not a tree of small objects
    (`make bench`, idle streams). Other bodies (messages, artifacts) keep their dict: the
    record shares its strings, which a finished task then holds once (see `settle`).
    """

    __slots__ = ("__weakref__", "_body", "_encoded", "_json", "final", "kept", "seq")

    def __init__(self, seq: int, body: dict[str, Any], final: bool) -> None:
        self.seq = seq
        self.final = final
        self.kept = True  # whether encodings are kept for the next subscriber (`settle`)
        self._body: dict[str, Any] | None = body
        self._json: bytes | None = None  # v1.0, unadapted: the common case
        self._encoded: dict[str, bytes] | None = None

    def __repr__(self) -> str:
        kind = next(iter(self.body), "?")
        return f"<Event seq={self.seq} {kind}{' final' if self.final else ''}>"

    @property
    def body(self) -> dict[str, Any]:
        """The v1.0 StreamResponse as a dict (decoded anew when only its JSON is kept)."""
        if self._body is not None:
            return self._body
        assert self._json is not None
        body: dict[str, Any] = orjson.loads(self._json)
        return body

    def settle(self) -> None:
        """The task is finished: drop the encodings and keep none from now on.

        A finished task's events are read rarely (a late replay), while kept encodings
        would double or triple its memory (a copy per wire format beside the body, whose
        strings the task record shares). Live events keep theirs: every subscriber of a
        running task shares one encoding per format. An event kept as JSON alone keeps it."""
        self.kept = False
        if self._body is not None:
            self._json = None
        self._encoded = None

    def preset(self, data: bytes) -> None:
        """Use `data`, the body already encoded (e.g. read from Redis), as its v1.0 JSON."""
        self._json = data
        self._drop_owned_body()

    def encoded(self, version: str = "1.0", adapt: Encoder | None = None) -> bytes:
        """The JSON bytes of the body in `version`, adapted by `adapt` the first time."""
        v1 = adapt is None and version == "1.0"
        if v1 and self._json is not None:
            return self._json
        if not self.kept:
            return orjson.dumps(self.body if adapt is None else adapt(self.body))
        if v1:
            self._json = compact(orjson.dumps(self._body))
            self._drop_owned_body()
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

    def _drop_owned_body(self) -> None:
        if self._body is not None and owns_nothing(self._body):
            self._body = None


def owns_nothing(body: dict[str, Any]) -> bool:
    """Whether a body shares nothing with its task's record: a Task snapshot (a deep copy,
    see task.begin_turn) or a status update without a message (its status is built anew)."""
    if "task" in body:
        return True
    update = body.get("statusUpdate")
    return update is not None and "message" not in update.get("status", {})


def compact(data: bytes) -> bytes:
    """A right-sized copy of orjson's output, for bytes kept as long as the log keeps them.

    orjson writes into a large buffer and shrinks it in place; with glibc's allocator the
    shrunk buffer still holds about 4 KiB of resident memory, whatever its length (measured:
    4,120 B per event kept, against 365 B for a copy). The copy costs well under a
    microsecond per event.
    """
    return bytes(memoryview(data))
