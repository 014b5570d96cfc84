"""The cost-of-sharing table of a bench run: the gateway on a Redis store (one replica, two,
`--workers 2`) and on Redis Cluster, against its memory store, and issue 16's targets."""

from __future__ import annotations

from typing import Any

from bench.tables import div as _div
from bench.tables import get as _get
from bench.tables import num as _num
from bench.tables import ratio as _ratio
from bench.tables import status as _status
from bench.tables import table as _table

REDIS_SYSTEMS = (
    "gateway_redis",
    "gateway_redis_x2",
    "gateway_redis_w2",
    "gateway_cluster",
    "gateway_cluster_x2",
)
SHARING = ("gateway", *REDIS_SYSTEMS)  # the columns of the cost-of-sharing table


def _cpu(m: dict[str, Any], workload: str, system: str, key: str) -> str:
    """Gateway CPU, plus redis-server's when the system has one: "12 + 7"."""
    gateway = _num(_get(m, workload, system, key), 1)
    redis = _get(m, workload, system, f"redis_{key}")
    return gateway if redis is None else f"{gateway} + {_num(redis, 1)}"


def sharing(results: dict[str, Any]) -> list[str]:
    """The cost-of-sharing table (or why it is missing; nothing when no workload it reads
    ran)."""
    m = results["median"]
    if not set(m) & {"long", "many", "fanout", "latency", "ttfe", "idle"}:
        return []
    s = results["sizes"]
    redis = results.get("redis", {})
    lines = ["", "### Cost of sharing: the gateway on Redis", ""]
    if not redis.get("systems"):
        return [*lines, f"Redis systems skipped: {redis.get('skipped') or 'not run'}."]
    rows: list[tuple[str, ...]] = []

    def ratios(workload: str, metric: str) -> str:
        base = _get(m, workload, "gateway", metric)
        return " / ".join(_ratio(_div(_get(m, workload, x, metric), base)) for x in REDIS_SYSTEMS)

    def added(workload: str, metric: str) -> str:
        base = _get(m, workload, "gateway", metric)
        out = []
        for system in REDIS_SYSTEMS:
            value = _get(m, workload, system, metric)
            out.append("n/a" if value is None or base is None else f"{value - base:+.2f}")
        return " / ".join(out) + " ms"

    for workload, label in (
        ("long", f"1 stream x {s['long']:,}"),
        ("many", f"{s['streams']} streams x {s['per_stream']:,}"),
    ):
        if workload not in m:
            continue
        rows.append(
            (
                f"{label}: events/s",
                *(_num(_get(m, workload, x, "events_per_s")) for x in SHARING),
                ratios(workload, "events_per_s"),
            )
        )
        rows.append(
            (
                f"{label}: CPU us/event, gateway + redis-server",
                *(_cpu(m, workload, x, "cpu_us_per_event") for x in SHARING),
                "",
            )
        )
    if "fanout" in m:
        rows.append(
            (
                f"fan-out: 1 task x {s['fanout_events']:,} events to {s['subscribers']} "
                "subscribers, deliveries/s",
                *(_num(_get(m, "fanout", x, "deliveries_per_s")) for x in SHARING),
                ratios("fanout", "deliveries_per_s"),
            )
        )
        rows.append(
            (
                "fan-out: CPU us per delivered event, gateway + redis-server",
                *(_cpu(m, "fanout", x, "cpu_us_per_delivery") for x in SHARING),
                "",
            )
        )
    if "latency" in m:
        for q in ("p50", "p99"):
            rows.append(
                (
                    f"latency {q}, ms ({s['paced_streams']} streams x {s['paced_rate']:g} ev/s)",
                    *(_num(_get(m, "latency", x, f"{q}_ms"), 2) for x in SHARING),
                    added("latency", f"{q}_ms") + " added",
                )
            )
    if "ttfe" in m:
        rows.append(
            (
                "time to first event, ms (p50)",
                *(_num(_get(m, "ttfe", x, "ttfe_ms_p50"), 2) for x in SHARING),
                added("ttfe", "ttfe_ms_p50") + " added",
            )
        )
    if "idle" in m:
        rows.append(
            (
                f"idle open streams ({s['idle']:,}): KB each, gateway + redis-server",
                _num(_get(m, "idle", "gateway", "kb_per_stream"), 1),
                _cpu(m, "idle", "gateway_redis", "kb_per_stream"),
                "n/a",
                "n/a",
                "n/a",
                "n/a",
                "",
            )
        )
    header = (
        "",
        "gateway (memory)",
        "gateway+redis",
        "gateway+redis x2",
        "gateway+redis --workers 2",
        "gateway+cluster",
        "gateway+cluster x2",
        "each vs memory",
    )
    return [
        *lines,
        *_table(header, rows),
        "",
        *_table(("issue 16 target (gateway+redis, one replica)", "measured", "status"), targets(m)),
        "",
        "gateway+redis: one replica with `--store redis://` on a private redis-server "
        "(no persistence) on this machine. gateway+redis x2: two replicas on that Redis with "
        "one key prefix; concurrent streams alternate between them, the single stream runs on "
        "the first, and a fan-out's task runs on the first while its subscribers alternate "
        "(half read it from the other replica, through Redis). CPU is the gateway processes' "
        "(both replicas summed) + redis-server's. Idle streams are measured for one replica "
        "only (x2 n/a: each replica holds its own streams alike). gateway+redis --workers 2: "
        "one gateway with two worker processes on one port, on that Redis (CPU: both "
        "workers and their supervisor). gateway+cluster (x2): the "
        "same on a private 3-primary Redis Cluster (`--store-cluster`), CPU of its 3 nodes "
        "summed.",
    ]


def targets(m: dict[str, Any]) -> list[tuple[str, ...]]:
    """Where the Redis store stands against issue 16's targets, as ratios of one run."""
    rows: list[tuple[str, ...]] = []
    for workload, least in (("long", 0.5), ("many", 0.6)):
        ratio = _div(
            _get(m, workload, "gateway_redis", "events_per_s"),
            _get(m, workload, "gateway", "events_per_s"),
        )
        rows.append(
            (
                f"{workload}: events/s >= {least}x the memory store's",
                _ratio(ratio),
                _status(None if ratio is None else ratio >= least),
            )
        )
    for workload in ("long", "many"):
        cpu = _get(m, workload, "gateway_redis", "redis_cpu_us_per_event")
        rows.append(
            (
                f"{workload}: redis-server CPU <= 50 us/event",
                _num(cpu, 1),
                _status(None if cpu is None else cpu <= 50),
            )
        )
    base, redis = (
        _get(m, "latency", "gateway", "p99_ms"),
        _get(m, "latency", "gateway_redis", "p99_ms"),
    )
    added = None if base is None or redis is None else redis - base
    rows.append(
        (
            "latency p99 added <= +3 ms",
            "n/a" if added is None else f"{added:+.2f} ms",
            _status(None if added is None else added <= 3),
        )
    )
    ratio = _div(
        _get(m, "many", "gateway_redis_w2", "events_per_s"),
        _get(m, "many", "gateway", "events_per_s"),
    )
    rows.append(
        (
            "many: --workers 2 on Redis > one memory-store process",
            _ratio(ratio),
            _status(None if ratio is None else ratio > 1),
        )
    )
    return rows
