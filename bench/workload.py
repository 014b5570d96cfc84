"""The workload every server in the bench runs, and how clients read it.

A stream is asked for with a user message whose text is a spec, e.g.
``events=1000;size=200;rate=0;delay=0;hold=0``. Every agent (ours over gRPC, the
a2a-sdk executor) then emits the same events: WORKING, then `delay` seconds of
nothing, then `events` artifact chunks of `size` bytes of text (appended to one
artifact), paced at `rate` events/s (0: as fast as possible), then COMPLETED.
With `hold` > 0 the agent sends WORKING and then stays silent for `hold` seconds
(an idle stream) before completing. With `ask` = 1 it asks for input at once (a task waiting
for input: no open call, no stream).

Each chunk's text starts with ``@T<send time, ns, CLOCK_MONOTONIC>|``, which every
process on the machine shares, so a client computes receive - send.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

ARTIFACT_ID = "bench"
STAMP = b"@T"


@dataclass(frozen=True, slots=True)
class Spec:
    events: int = 1000
    size: int = 200
    rate: float = 0.0
    delay: float = 0.0
    hold: float = 0.0
    ask: int = 0  # 1: the agent asks for input at once (INPUT_REQUIRED), no other event

    def text(self) -> str:
        return ";".join(f"{key}={value}" for key, value in asdict(self).items())

    @classmethod
    def parse(cls, text: str) -> Spec:
        fields = dict(item.split("=", 1) for item in text.split(";") if "=" in item)
        return cls(
            events=int(fields.get("events", 1000)),
            size=int(fields.get("size", 200)),
            rate=float(fields.get("rate", 0)),
            delay=float(fields.get("delay", 0)),
            hold=float(fields.get("hold", 0)),
            ask=int(fields.get("ask", 0)),
        )


def chunk_text(size: int) -> str:
    """A chunk of `size` characters stamped with the current time."""
    head = f"@T{time.monotonic_ns()}|"
    return head + "x" * max(0, size - len(head))


def stamp_of(text: str) -> int:
    return int(text[2 : text.index("|")])


def pace(start: float, index: int, rate: float) -> float:
    """Seconds to wait before event `index` at `rate` events/s (0 when late or unpaced)."""
    if rate <= 0:
        return 0.0
    return max(0.0, start + index / rate - time.monotonic())
