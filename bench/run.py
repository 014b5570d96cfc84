"""`make bench`: direct gRPC, the gateway and the a2a-sdk server on the same workload.

The gateway runs as three systems: `gateway` (JSON-RPC), `gateway_rest` (the same process
over its HTTP+JSON/REST binding) and `gateway_grpc` (the same process over its gRPC binding,
`lf.a2a.v1.A2AService`): same workloads in the same run, but `short` and `idle`.

Starts its own processes on 127.0.0.1 (the load agent, the gateway in front of it, the
a2a-sdk server, and client processes), runs every workload `BENCH_RUNS` times (default 3),
the three systems side by side within each run, and writes the medians to
bench/results/latest.json and latest.md (printed too).

When redis-server is installed (or `BENCH_REDIS_SERVER` names one; `--no-redis` or
`BENCH_NO_REDIS=1` leaves them out) two more systems run in every workload but `short`, on a
private redis-server of the bench (free port, no persistence) and the same agent:
`gateway_redis`, one gateway replica with `--store` on it, and `gateway_redis_x2`, two
replicas on one key prefix with the streams of a workload spread over both (stream k to
replica k mod 2; a fan-out's sender on the first replica and its subscribers on both, so half
of them read the task through Redis from the other one). Their CPU is the gateway processes'
and, separately, redis-server's.

Sizes scale with `BENCH_SCALE` (default 1; e.g. 0.01 for a smoke run of seconds).
The a2a-sdk server is bounded: its cost per event grows with stream length, so it
streams `SDK_LONG` events on the long stream and `SDK_PER_STREAM` per stream under
concurrency; its rates are events/s on exactly that (see the table's notes).

Modules: launch.py starts the systems and the client processes (client.py), shared.py runs
the workloads on systems started once per run, idle.py the memory workloads that need fresh
processes, tracing.py the cost of tracing; workload.py says what every agent streams and at
which sizes; sse.py compares our SSE response class with sse-starlette's; report.py
writes the tables.

    python -m bench.run [--runs N] [--scale X] [--out DIR] [--only long,many,...] [--no-redis]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from bench import report, sse
from bench.idle import finished, idle
from bench.procs import ROOT, raise_nofile, redis_binary, start_redis
from bench.shared import Bench
from bench.tracing import tracing_cost
from bench.workload import Sizes

ALONE = ("idle", "finished", "tracing", "sse")  # in fresh processes, after the others
WORKLOADS = ("long", "short", "many", "fanout", "ttfe", "latency", *ALONE)


def machine() -> dict[str, Any]:
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {
        "nproc": os.cpu_count(),
        "cpu": model or platform.processor(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg_at_start": os.getloadavg(),
    }


def medians(runs: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Per system and metric, the median over the runs that measured it (a failed cell is
    missing from its run)."""
    out: dict[str, dict[str, float]] = {}
    for system in dict.fromkeys(s for run in runs for s in run):
        cells = [run[system] for run in runs if system in run]
        out[system] = {
            metric: statistics.median(cell[metric] for cell in cells if metric in cell)
            for metric in cells[0]
        }
    return out


def usable_redis() -> tuple[str | None, str]:
    """(redis-server binary, "") when a private one starts here, else (None, why not)."""
    binary, why = redis_binary()
    if binary is None:
        return None, why
    try:
        start_redis(binary).stop()
    except (OSError, RuntimeError) as exc:
        return None, f"redis-server would not start ({str(exc).strip()[:200]})"
    return binary, ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the bench.")
    parser.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", "3")))
    parser.add_argument("--scale", type=float, default=float(os.environ.get("BENCH_SCALE", "1")))
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--only", default=",".join(WORKLOADS), help="workloads to run")
    parser.add_argument(
        "--no-redis",
        action="store_true",
        default=os.environ.get("BENCH_NO_REDIS", "") not in ("", "0"),
        help="without the gateway-over-Redis systems (also BENCH_NO_REDIS=1)",
    )
    args = parser.parse_args(argv)
    raise_nofile()
    only = [w for w in args.only.split(",") if w]
    unknown = set(only) - set(WORKLOADS)
    if unknown:
        parser.error(f"unknown workloads: {sorted(unknown)}")
    sizes = Sizes(args.scale)
    redis, skipped = (None, "--no-redis") if args.no_redis else usable_redis()
    if skipped:
        print(f"Redis systems skipped: {skipped}", file=sys.stderr, flush=True)
    started = time.monotonic()
    runs: dict[str, list[dict[str, dict[str, float]]]] = {w: [] for w in only}
    failures: list[dict[str, str]] = []
    systems: list[str] = []
    for index in range(args.runs):
        print(f"run {index + 1}/{args.runs}", file=sys.stderr, flush=True)
        shared = [w for w in only if w not in ALONE]
        bench = Bench(sizes, redis) if shared else None
        try:
            for workload in shared:
                began = time.monotonic()
                runs[workload].append(getattr(bench, workload)())
                print(f"  {workload}: {time.monotonic() - began:.1f}s", file=sys.stderr, flush=True)
        finally:
            if bench is not None:
                failures += [{**f, "run": str(index + 1)} for f in bench.failures]
                systems = [s for s in bench.targets if s in report.REDIS_SYSTEMS]
                skipped = "; ".join(filter(None, [skipped, *bench.skipped]))
                bench.close()
        alone: dict[str, Callable[[], dict[str, dict[str, float]]]] = {
            "idle": lambda: idle(sizes, redis),
            "finished": lambda: finished(sizes),
            "tracing": lambda: tracing_cost(sizes),
            "sse": lambda: sse.compare(sizes),
        }
        for workload in (w for w in ALONE if w in only):
            began = time.monotonic()
            runs[workload].append(alone[workload]())
            print(f"  {workload}: {time.monotonic() - began:.1f}s", file=sys.stderr, flush=True)
    results = {
        "machine": machine(),
        "sizes": sizes.as_dict(),
        "runs": args.runs,
        "redis": {"systems": systems if redis else [], "skipped": skipped},
        "failures": failures,
        "seconds": time.monotonic() - started,
        "median": {w: medians(r) for w, r in runs.items()},
        "all_runs": runs,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    table = report.markdown(results)
    (args.out / "latest.json").write_bytes(
        orjson.dumps(results, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    )
    (args.out / "latest.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
