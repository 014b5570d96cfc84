"""The Markdown table of a bench run: absolute numbers, ratios, targets."""

from __future__ import annotations

import math
from typing import Any

SYSTEMS = ("direct", "gateway", "sdk")


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
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
        *("| " + " | ".join(row) + " |" for row in rows),
    ]
    lines += [
        "",
        f"Machine: {machine['nproc']} cores ({machine['cpu']}), Python {machine['python']}, "
        f"{machine['platform']}; load average at start {machine['loadavg_at_start'][0]:.2f}. "
        f"Median of {results['runs']} runs; bench took {results['seconds']:.0f} s "
        f"(scale {s['scale']:g}).",
    ]
    return "\n".join(lines) + "\n"
