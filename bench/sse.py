"""The `sse` workload of `make bench`: our SSE response class against sse-starlette's.

The gateway writes its streams with its own `gateway.http.sse.EventStream`, not with
sse-starlette's `EventSourceResponse`; this keeps the numbers behind that choice. Both run in
the same tiny Starlette app (bench/sse_server.py) on the same uvicorn configuration as the
gateway, on two routes that differ only in the response class, fed by the same generator of
pre-encoded SSE events (one event per chunk). The bench's SSE client reads them (client
processes of their own). Measured, for each class:

- memory: KB of server RSS per idle open stream (the stream got one event and holds),
  `sse_idle` streams in a fresh server process per class (RSS never gives back what an
  earlier measurement freed): RSS while they are open minus RSS before, over their number;
- CPU: server CPU (user + system, /proc) per event, and events/s at the client, on one
  stream of `sse_long` events and on `sse_streams` concurrent streams of `sse_per_stream`,
  both classes in one server process, each twice, in the order A B B A.

`BENCH_SSE_SERVER=uvicorn` serves them with uvicorn's own HTTP protocol instead of the
gateway's (under which our response runs a disconnect-watcher task per stream).

    python -m bench.run --only sse [--runs N] [--scale X]
"""

from __future__ import annotations

import functools
import time
from importlib.metadata import version
from typing import Any

from bench.launch import hold_open, run_clients
from bench.procs import Server, start
from bench.shared import measured
from bench.tables import div, get, num, ratio, table
from bench.workload import Sizes, Spec

LINE = "SSE LISTENING"  # printed by bench/sse_server.py, with its URL
PATTERN = LINE + r" (http://\S+)"
ROUTES = {"ours": "ours", "sse_starlette": "sse-starlette"}  # variant: its path
VARIANTS = tuple(ROUTES)


def start_server(server: str) -> Server:
    return start("sse", ["-m", "bench.sse_server", "--server", server], PATTERN)


def url(server: Server, variant: str) -> str:
    return server.address + ROUTES[variant]


def warm_up(server: Server, size: int) -> None:
    """Two streams on each route, from one client process (stream k to URL k mod 2)."""
    urls = ",".join(url(server, variant) for variant in VARIANTS)
    run_clients("sse", "stream", urls, 2 * len(VARIANTS), Spec(events=20, size=size))
    time.sleep(0.3)


def compare(sizes: Sizes) -> dict[str, dict[str, float]]:
    """One run: {variant: {metric: value}} (see the module)."""
    out: dict[str, dict[str, float]] = {variant: {} for variant in VARIANTS}
    for variant in VARIANTS:
        out[variant].update(idle(sizes, variant))
    server = start_server(sizes.sse_server)
    try:
        warm_up(server, sizes.size)
        for shape, streams, events in (
            ("long", 1, sizes.sse_long),
            ("many", sizes.sse_streams, sizes.sse_per_stream),
        ):
            spec = Spec(events=events, size=sizes.size)
            for variant, cells in fast(server, shape, streams, spec).items():
                out[variant].update(cells)
    finally:
        server.stop(timeout=10)
    return out


def fast(server: Server, shape: str, streams: int, spec: Spec) -> dict[str, dict[str, float]]:
    """CPU per event and events/s of each class on `streams` streams of `spec`: each class
    measured twice, in the order A B B A, so that a load that changes during the measurement
    weighs on both alike."""
    cpu = dict.fromkeys(VARIANTS, 0.0)
    seconds = dict.fromkeys(VARIANTS, 0.0)
    events = dict.fromkeys(VARIANTS, 0)
    for variant in (*VARIANTS, *reversed(VARIANTS)):
        work = functools.partial(run_clients, "sse", "stream", url(server, variant), streams, spec)
        result, used = measured([server], work)
        cpu[variant] += used[server.name]
        seconds[variant] += result["end"] - result["start"]
        events[variant] += result["events"]
    return {
        variant: {
            f"{shape}_cpu_us_per_event": cpu[variant] * 1e6 / events[variant],
            f"{shape}_events_per_s": events[variant] / seconds[variant],
            f"{shape}_events": events[variant] / 2,  # per stream set
        }
        for variant in VARIANTS
    }


def idle(sizes: Sizes, variant: str) -> dict[str, float]:
    """KB of RSS per idle open stream of one class, in a fresh server process."""
    server = start_server(sizes.sse_server)
    try:
        warm_up(server, sizes.size)

        def rss() -> tuple[int, int]:
            return server.rss(), 0

        before = rss()
        hold = Spec(hold=600, size=sizes.size)
        opened, seconds, after = hold_open(url(server, variant), sizes.sse_idle, hold, rss)
        return {
            "idle_streams": opened,
            "kb_per_idle_stream": (after[0] - before[0]) / max(1, opened) / 1024,
            "idle_open_seconds": seconds,
        }
    finally:
        server.stop(timeout=10)


def markdown(results: dict[str, Any]) -> list[str]:
    """The table of the `sse` workload (nothing when it did not run)."""
    m = results["median"]
    if not m.get("sse"):
        return []
    s = results["sizes"]
    long, many = (
        f"1 stream x {s['sse_long']:,}",
        f"{s['sse_streams']} streams x {s['sse_per_stream']:,}",
    )
    rows: list[tuple[str, ...]] = []
    for label, key, digits in (
        (f"idle open streams ({s['sse_idle']:,}): server KB each", "kb_per_idle_stream", 1),
        (f"{long}: server CPU us/event", "long_cpu_us_per_event", 1),
        (f"{long}: events/s", "long_events_per_s", 0),
        (f"{many}: server CPU us/event", "many_cpu_us_per_event", 1),
        (f"{many}: events/s", "many_events_per_s", 0),
    ):
        ours, theirs = get(m, "sse", "ours", key), get(m, "sse", "sse_starlette", key)
        rows.append((label, num(ours, digits), num(theirs, digits), ratio(div(theirs, ours))))
    header = (
        "",
        "ours (`EventStream`)",
        f"sse-starlette {version('sse-starlette')} (`EventSourceResponse`)",
        "sse-starlette / ours",
    )
    return [
        "",
        "### SSE response: ours vs sse-starlette",
        "",
        *table(header, rows),
        "",
        "One Starlette app, two routes that differ only in the response class, fed by the same "
        "generator of pre-encoded events (one event per chunk), on uvicorn "
        f"({s['sse_server']} HTTP protocol); sse-starlette with its defaults (a 15 s ping "
        "task). Idle: a fresh server process per class; CPU: the server process's.",
    ]
