"""The bench runs end to end at a tiny scale, so it cannot rot. No timing is asserted.

With redis-server installed the run includes the gateway-over-Redis systems (one replica and
two) and their cost-of-sharing table; without it they are skipped with a note, which the
second test checks on every machine (from the report alone).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.procs import redis_binary
from bench.report import GRPC, REDIS_SYSTEMS, REST, SYSTEMS, failed, markdown
from bench.run import WORKLOADS

ROOT = Path(__file__).resolve().parent.parent


def run_bench(out: Path) -> tuple[dict[str, Any], str, str]:
    """(latest.json, latest.md, stdout) of a run at scale 0.01."""
    command = [sys.executable, "-m", "bench.run", "--scale", "0.01", "--runs", "1"]
    done = subprocess.run(
        [*command, "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,  # about a minute alone; five systems, and the suite loads the machine
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return (
        json.loads((out / "latest.json").read_text()),
        (out / "latest.md").read_text(),
        done.stdout,
    )


def test_bench_runs_at_tiny_scale(tmp_path: Path) -> None:
    binary, why = redis_binary()
    results, table, stdout = run_bench(tmp_path)
    assert set(results["median"]) == set(WORKLOADS)
    redis = set(REDIS_SYSTEMS) if binary else set()
    for workload in ("long", "many", "ttfe", "latency"):
        assert set(results["median"][workload]) == set(SYSTEMS) | {REST, GRPC} | redis
    assert set(results["median"]["fanout"]) == {"gateway", REST, GRPC, "sdk"} | redis
    assert set(results["median"]["short"]) == set(SYSTEMS)
    assert results["median"]["long"]["gateway"]["events"] >= results["sizes"]["long"]
    assert results["median"]["idle"]["gateway"]["streams"] == results["sizes"]["idle"]
    assert "| direct gRPC | gateway | a2a-sdk 1.3 |" in table
    traced = results["median"]["tracing"]
    assert set(traced) == {"gateway", "gateway_traced"}
    assert traced["gateway_traced"]["events"] == traced["gateway"]["events"]
    assert traced["gateway_traced"]["exports"] >= 1  # spans reached the sink
    assert "### Cost of tracing" in table
    sizes = results["sizes"]
    compared = results["median"]["sse"]  # our SSE response against sse-starlette's
    assert set(compared) == {"ours", "sse_starlette"}
    for cell in compared.values():
        assert cell["idle_streams"] == sizes["sse_idle"]
        assert cell["long_events"] == sizes["sse_long"] + 2  # WORKING, the chunks, COMPLETED
        assert cell["many_events"] == sizes["sse_streams"] * (sizes["sse_per_stream"] + 2)
        for metric in ("kb_per_idle_stream", "long_cpu_us_per_event", "many_cpu_us_per_event"):
            assert math.isfinite(cell[metric])
        assert cell["long_events_per_s"] > 0
        assert cell["many_events_per_s"] > 0
    assert "### SSE response: ours vs sse-starlette" in table
    assert "| gateway JSON-RPC | gateway REST | gateway gRPC | REST / JSON-RPC |" in table
    assert results["median"]["long"][REST]["events"] >= results["sizes"]["long"]
    assert table in stdout
    if not binary:
        assert results["redis"] == {"systems": [], "skipped": why}
        assert f"Redis systems skipped: {why}." in table
        pytest.skip(f"the Redis systems were not run: {why}")
    assert results["redis"] == {"systems": list(REDIS_SYSTEMS), "skipped": ""}
    assert results["failures"] == []
    median = results["median"]
    for system in REDIS_SYSTEMS:
        for workload in ("long", "many"):
            assert median[workload][system]["events"] >= median[workload]["gateway"]["events"]
            assert median[workload][system]["redis_cpu_us_per_event"] >= 0
        fanout = median["fanout"][system]
        # The sender sees Task, WORKING, the chunks and COMPLETED; a subscriber sees a snapshot,
        # WORKING only if it joined before the agent sent it (timing), the chunks, COMPLETED.
        n, subscribers = results["sizes"]["fanout_events"], results["sizes"]["subscribers"]
        least = (n + 3) + (subscribers - 1) * (n + 2)
        assert least <= fanout["events"] <= subscribers * (n + 3), (system, fanout)
        assert fanout["redis_cpu_us_per_delivery"] >= 0
        assert median["latency"][system]["samples"] == median["latency"]["gateway"]["samples"]
    assert median["idle"]["gateway_redis"]["streams"] == results["sizes"]["idle"]
    assert "redis_kb_per_stream" in median["idle"]["gateway_redis"]
    assert "| gateway (memory) | gateway+redis | gateway+redis x2 |" in table


def test_table_without_redis() -> None:
    """The report of a run without redis-server: the first table only, and why."""
    sizes = {"scale": 0.01, "long": 200, "sdk_long": 100}
    stats = {"events_per_s": 1.0, "cpu_us_per_event": 1.0, "agent_cpu_us_per_event": 1.0}
    results = {
        "median": {"long": {system: stats for system in SYSTEMS}},
        "sizes": sizes,
        "machine": {
            "nproc": 2,
            "cpu": "x",
            "python": "3",
            "platform": "p",
            "loadavg_at_start": [0],
        },
        "runs": 1,
        "seconds": 1.0,
        "redis": {"systems": [], "skipped": "redis-server is not installed"},
    }
    table = markdown(results)
    assert "Redis systems skipped: redis-server is not installed." in table
    assert "gateway+redis" not in table


def test_a_failed_cell_is_listed_with_its_system_and_reason() -> None:
    failure = {"run": "1", "workload": "many", "system": "gateway_redis", "reason": "2 incomplete"}
    lines = failed({"failures": [failure]})
    assert "- run 1, many on gateway_redis: 2 incomplete" in lines
    assert failed({"failures": []}) == []
