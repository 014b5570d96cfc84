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

import os
import time
from dataclasses import asdict, dataclass
from typing import Any

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


class Sizes:
    """Workload sizes at a scale (1 = the issue's sizes)."""

    def __init__(self, scale: float) -> None:
        def n(value: int, least: int) -> int:
            return max(least, int(value * scale))

        self.scale = scale
        self.long = n(100_000, 200)  # one stream
        self.short = n(1_000, 20)  # one stream, repeated `short_repeat` times
        self.short_repeat = 10
        self.sdk_long = n(10_000, 100)
        self.streams = n(100, 4)
        self.per_stream = n(1_000, 20)
        self.sdk_per_stream = n(200, 10)
        self.client_procs = 2 if self.streams >= 20 else 1
        self.subscribers = n(100, 4)
        self.fanout_events = n(1_000, 20)
        self.sdk_fanout_events = n(200, 10)
        self.fanout_delay = 3.0 if scale >= 0.5 else 1.0
        self.idle = n(10_000, 20)
        self.sdk_idle = n(2_000, 10)
        self.ttfe = n(50, 5)
        self.paced_streams = 10
        self.paced_rate = 100.0
        self.paced_events = n(500, 20)
        self.size = 200
        self.finished_tasks = n(50, 5)  # finished-task memory: tasks of 400 KB each
        # the sse workload (bench/sse.py): our SSE response against sse-starlette's
        self.sse_idle = n(2_000, 50)
        self.sse_long = n(50_000, 500)
        self.sse_streams = n(50, 4)
        self.sse_per_stream = n(1_000, 50)
        self.sse_server = os.environ.get("BENCH_SSE_SERVER", "gateway")  # or "uvicorn"

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}
