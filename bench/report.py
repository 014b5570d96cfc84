"""The Markdown tables of a bench run: absolute numbers, ratios, targets; then the cost of
sharing (the gateway on a Redis store, one replica and two, against its memory store)."""

from __future__ import annotations

import math
from typing import Any

from bench import sse, tracing

SYSTEMS = ("direct", "gateway", "sdk")
REDIS_SYSTEMS = (
    "gateway_redis",
    "gateway_redis_x2",
    "gateway_redis_w2",
    "gateway_cluster",
    "gateway_cluster_x2",
)
SHARING = ("gateway", *REDIS_SYSTEMS)  # the columns of the cost-of-sharing table
REST = "gateway_rest"  # the gateway over its REST binding (the bindings table)
GRPC = "gateway_grpc"  # the gateway over its gRPC binding (the bindings table)
BINDINGS = {REST: "REST", GRPC: "gRPC"}


def _num(value: float | None, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if digits == 0:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def _ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def _status(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "NOT met")


def _get(median: dict[str, Any], workload: str, system: str, metric: str) -> float | None:
    value = median.get(workload, {}).get(system, {}).get(metric)
    return None if value is None else float(value)


def _div(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def _cpu(m: dict[str, Any], workload: str, system: str, key: str) -> str:
    """Gateway CPU, plus redis-server's when the system has one: "12 + 7"."""
    gateway = _num(_get(m, workload, system, key), 1)
    redis = _get(m, workload, system, f"redis_{key}")
    return gateway if redis is None else f"{gateway} + {_num(redis, 1)}"


def sharing(results: dict[str, Any]) -> list[str]:
    """The cost-of-sharing table (or why it is missing)."""
    m = results["median"]
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


def failed(results: dict[str, Any]) -> list[str]:
    """The cells that failed (the run went on without them), with their reasons."""
    failures = results.get("failures") or []
    if not failures:
        return []
    lines = ["", "Failed cells (not in the medians above):", ""]
    for f in failures:
        lines.append(f"- run {f.get('run', '?')}, {f['workload']} on {f['system']}: {f['reason']}")
    return lines


def bindings(results: dict[str, Any]) -> list[str]:
    """The gateway over JSON-RPC against the same process over its other bindings (REST,
    gRPC), same workloads in the same run."""
    m = results["median"]
    present = [x for x in BINDINGS if any(x in m.get(w, {}) for w in m)]
    rows: list[tuple[str, ...]] = []
    for workload, metric, label, digits in (
        ("long", "events_per_s", "1 stream: events/s", 0),
        ("long", "cpu_us_per_event", "1 stream: gateway CPU us/event", 1),
        ("many", "events_per_s", "many streams: events/s", 0),
        ("many", "cpu_us_per_event", "many streams: gateway CPU us/event", 1),
        ("fanout", "deliveries_per_s", "fan-out: deliveries/s", 0),
        ("fanout", "cpu_us_per_delivery", "fan-out: gateway CPU us per delivery", 1),
        ("latency", "p50_ms", "latency p50, ms", 2),
        ("latency", "p99_ms", "latency p99, ms", 2),
        ("ttfe", "ttfe_ms_p50", "time to first event, ms (p50)", 2),
    ):
        if workload not in m:
            continue
        jsonrpc = _get(m, workload, "gateway", metric)
        others = [_get(m, workload, x, metric) for x in present]
        rows.append(
            (
                label,
                _num(jsonrpc, digits),
                *(_num(v, digits) for v in others),
                *(_ratio(_div(v, jsonrpc)) for v in others),
            )
        )
    if not rows or not present:
        return []
    names = [BINDINGS[x] for x in present]
    header = (
        "",
        "gateway JSON-RPC",
        *(f"gateway {n}" for n in names),
        *(f"{n} / JSON-RPC" for n in names),
    )
    return [
        "",
        "### The gateway by binding: JSON-RPC, REST and gRPC",
        "",
        *_table(header, rows),
        "",
        "The same gateway process on its memory store: JSON-RPC and REST over SSE, gRPC "
        "through `lf.a2a.v1.A2AService` on its gRPC port (a grpc.aio client). CPU is the "
        "gateway's.",
    ]


def markdown(results: dict[str, Any]) -> str:
    m = results["median"]
    s = results["sizes"]
    machine = results["machine"]
    rows: list[tuple[str, ...]] = []

    def throughput_rows(workload: str, label: str, min_direct: float, min_sdk: float) -> None:
        direct = _get(m, workload, "direct", "events_per_s")
        gateway = _get(m, workload, "gateway", "events_per_s")
        sdk = _get(m, workload, "sdk", "events_per_s")
        vs_direct, vs_sdk = _div(gateway, direct), _div(gateway, sdk)
        rows.append(
            (
                f"{label}: events/s",
                _num(direct),
                _num(gateway),
                _num(sdk),
                f"{_ratio(vs_direct)} of direct; {_ratio(vs_sdk)} the SDK",
                f">= {min_direct}x direct; >= {min_sdk:g}x SDK",
                _status(
                    None
                    if vs_direct is None or vs_sdk is None
                    else vs_direct >= min_direct and vs_sdk >= min_sdk
                ),
            )
        )
        rows.append(
            (
                f"{label}: server CPU us/event",
                *(_num(_get(m, workload, x, "cpu_us_per_event")) for x in SYSTEMS),
                "agent CPU us/event: "
                + " / ".join(
                    _num(_get(m, workload, x, "agent_cpu_us_per_event")) for x in SYSTEMS[:2]
                ),
                "",
                "",
            )
        )

    if "long" in m:
        throughput_rows("long", f"1 stream x {s['long']:,} (SDK {s['sdk_long']:,})", 0.75, 8)
    if "many" in m:
        throughput_rows(
            "many",
            f"{s['streams']} streams x {s['per_stream']:,} (SDK x {s['sdk_per_stream']:,})",
            0.60,
            4,
        )
    if "long" in m and "short" in m:
        short = _get(m, "short", "gateway", "cpu_us_per_event")
        long = _get(m, "long", "gateway", "cpu_us_per_event")
        growth = _div(long, short)
        rows.append(
            (
                f"gateway CPU us/event, 1 stream: {s['short']:,} vs {s['long']:,} events",
                "",
                f"{_num(short)} vs {_num(long)}",
                "",
                _ratio(growth),
                "<= 1.10x",
                _status(None if growth is None else growth <= 1.10),
            )
        )
    if "latency" in m:
        for q, limit in (("p50", 0.5), ("p99", 2.0)):
            values = [_get(m, "latency", x, f"{q}_ms") for x in SYSTEMS]
            direct, gateway = values[0], values[1]
            added = None if direct is None or gateway is None else gateway - direct
            rows.append(
                (
                    f"latency {q}, ms ({s['paced_streams']} streams x {s['paced_rate']:g} ev/s)",
                    *(_num(v, 2) for v in values),
                    f"+{_num(added, 2)} ms added",
                    f"<= +{limit} ms",
                    _status(None if added is None else added <= limit),
                )
            )
    if "ttfe" in m:
        rows.append(
            (
                "time to first event, ms (p50)",
                *(_num(_get(m, "ttfe", x, "ttfe_ms_p50"), 2) for x in SYSTEMS),
                "",
                "",
                "",
            )
        )
    if "idle" in m:
        gateway = _get(m, "idle", "gateway", "kb_per_stream")
        rows.append(
            (
                f"idle open streams: KB each (gateway {s['idle']:,}, SDK {s['sdk_idle']:,})",
                "n/a",
                _num(gateway, 1),
                _num(_get(m, "idle", "sdk", "kb_per_stream"), 1),
                "",
                "<= 32 KB",
                _status(None if gateway is None else gateway <= 32),
            )
        )
        extra = _get(m, "idle", "gateway_shapes", "kb_per_subscriber")
        if extra is not None:
            rows.append(
                (
                    "idle: KB per extra subscriber of one task (gateway)",
                    "n/a",
                    _num(extra, 1),
                    "",
                    "",
                    "<= 16 KB",
                    _status(extra <= 16),
                )
            )
            waiting = _get(m, "idle", "gateway_shapes", "kb_per_waiting_task")
            rows.append(
                (
                    "idle: KB per task waiting for input, no call, no stream (gateway)",
                    "n/a",
                    _num(waiting, 1),
                    "",
                    "",
                    "",
                    "",
                )
            )
    if "finished" in m:
        ratio = _get(m, "finished", "gateway", "ratio")
        rows.append(
            (
                f"finished tasks: RSS / payload ({s['finished_tasks']} tasks x 400 KB, "
                "streamed and replayed in v1.0 and v0.3)",
                "n/a",
                f"{_num(ratio, 2)}x",
                "",
                "",
                "<= 1.5x",
                _status(None if ratio is None else ratio <= 1.5),
            )
        )
    if "fanout" in m:
        fan = _get(m, "fanout", "gateway", "cpu_us_per_delivery")
        tasks = _get(m, "many", "gateway", "cpu_us_per_event")
        share = _div(fan, tasks)
        rows.append(
            (
                f"fan-out: 1 task x {s['fanout_events']:,} events to {s['subscribers']} "
                f"subscribers (SDK {s['sdk_fanout_events']:,}), deliveries/s",
                "n/a",
                _num(_get(m, "fanout", "gateway", "deliveries_per_s")),
                _num(_get(m, "fanout", "sdk", "deliveries_per_s")),
                "",
                "",
                "",
            )
        )
        rows.append(
            (
                "fan-out: gateway CPU us per delivered event, vs 100 separate tasks",
                "",
                f"{_num(fan, 1)} vs {_num(tasks, 1)}",
                "",
                _ratio(share),
                "far less (<= 0.5x)",
                _status(None if share is None else share <= 0.5),
            )
        )
    header = ("", "direct gRPC", "gateway", "a2a-sdk 1.3", "ratio", "target", "status")
    lines = _table(header, rows)
    lines += bindings(results)
    lines += sharing(results)
    lines += failed(results)
    lines += tracing.markdown(results)
    lines += sse.markdown(results)
    lines += [
        "",
        f"Machine: {machine['nproc']} cores ({machine['cpu']}), Python {machine['python']}, "
        f"{machine['platform']}; load average at start {machine['loadavg_at_start'][0]:.2f}. "
        f"Median of {results['runs']} runs; bench took {results['seconds']:.0f} s "
        f"(scale {s['scale']:g}).",
    ]
    return "\n".join(lines) + "\n"
