"""The Markdown tables of a bench run: absolute numbers, ratios, targets; the gateway by
binding; then the cost of sharing (sharing.py), of tracing (tracing.py) and our SSE response
against sse-starlette's (sse.py)."""

from __future__ import annotations

from typing import Any

from bench import sse, tracing
from bench.sharing import REDIS_SYSTEMS as REDIS_SYSTEMS
from bench.sharing import sharing
from bench.tables import div as _div
from bench.tables import get as _get
from bench.tables import num as _num
from bench.tables import ratio as _ratio
from bench.tables import status as _status
from bench.tables import table as _table

SYSTEMS = ("direct", "gateway", "sdk")
REST = "gateway_rest"  # the gateway over its REST binding (the bindings table)
GRPC = "gateway_grpc"  # the gateway over its gRPC binding (the bindings table)
BINDINGS = {REST: "REST", GRPC: "gRPC"}


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
    lines = _table(header, rows) if rows else []  # e.g. `--only sse`: its table alone
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
