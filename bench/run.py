"""`make bench`: direct gRPC, the gateway and the a2a-sdk server on the same workload.

Starts its own processes on 127.0.0.1 (the load agent, the gateway in front of it, the
a2a-sdk server, and client processes), runs every workload `BENCH_RUNS` times (default 3),
the three systems side by side within each run, and writes the medians to
bench/results/latest.json and latest.md (printed too).

Sizes scale with `BENCH_SCALE` (default 1; e.g. 0.01 for a smoke run of seconds).
The a2a-sdk server is bounded: its cost per event grows with stream length, so it
streams `SDK_LONG` events on the long stream and `SDK_PER_STREAM` per stream under
concurrency; its rates are events/s on exactly that (see the table's notes).

    python -m bench.run [--runs N] [--scale X] [--out DIR] [--only long,many,...]
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import select
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from bench import report
from bench.procs import ROOT, Server, raise_nofile, start
from bench.workload import Spec

AGENT_LINE = r"AGENT \S+ LISTENING (\S+)"
GATEWAY_LINE = r"a2a-gateway listening on (http://\S+)"
SDK_LINE = r"SDK LISTENING (http://\S+)"


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

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}


# --- processes -------------------------------------------------------------------------


def start_agent() -> Server:
    return start("agent", ["-m", "bench.agent"], AGENT_LINE)


def start_gateway(agent: Server, max_events: int) -> Server:
    args = ["-m", "gateway", "serve", "--port", "0", "--log-level", "warning"]
    args += ["--agent", f"load={agent.address}", "--max-events-per-task", str(max_events)]
    server = start("gateway", args, GATEWAY_LINE)
    server.address += "/"
    return server


def start_sdk() -> Server:
    server = start("sdk", ["-m", "bench.sdk_server"], SDK_LINE)
    server.address += "/"
    return server


def client_command(
    kind: str, mode: str, url: str, streams: int, spec: Spec, **flags: Any
) -> list[str]:
    args = [sys.executable, "-m", "bench.client", kind, mode, "--url", url]
    args += ["--streams", str(streams), "--spec", spec.text()]
    if flags.get("latency"):
        args.append("--latency")
    args += ["--timeout", str(flags.get("timeout", 300))]
    return args


def run_clients(
    kind: str,
    mode: str,
    url: str,
    streams: int,
    spec: Spec,
    *,
    procs: int = 1,
    latency: bool = False,
    timeout: float = 300,
) -> dict[str, Any]:
    """Run `procs` client processes sharing `streams`; merge their summaries."""
    shares = [streams // procs + (1 if i < streams % procs else 0) for i in range(procs)]
    popens = [
        subprocess.Popen(
            client_command(kind, mode, url, share, spec, latency=latency, timeout=timeout),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for share in shares
        if share
    ]
    outs = []
    for popen in popens:
        stdout, stderr = popen.communicate(timeout=timeout + 30)
        if popen.returncode != 0:
            raise RuntimeError(f"client failed ({popen.returncode}): {stderr.decode()[-2000:]}")
        outs.append(orjson.loads(stdout.strip().splitlines()[-1]))
    merged: dict[str, Any] = {
        "streams": sum(o["streams"] for o in outs),
        "events": sum(o["events"] for o in outs),
        "start": min(o["start"] for o in outs),
        "end": max(o["end"] for o in outs),
        "first_chunk": min((o["first_chunk"] for o in outs if o["first_chunk"]), default=0.0),
        "ttfe": [t for o in outs for t in o["ttfe"]],
        "incomplete": sum(o["incomplete"] for o in outs),
        "errors": sorted({e for o in outs for e in o["errors"]}),
        "late": sum(o.get("late", 0) for o in outs),
    }
    if latency:
        merged["latencies_ns"] = [n for o in outs for n in o["latencies_ns"]]
    if merged["incomplete"] or merged["errors"]:
        raise RuntimeError(
            f"{kind} {mode} on {url}: {merged['incomplete']} incomplete, errors {merged['errors']}"
        )
    return merged


def cpu_of(servers: list[Server]) -> dict[str, float]:
    return {s.name: s.cpu() for s in servers}


def measured(
    servers: list[Server], work: Callable[[], dict[str, Any]]
) -> tuple[dict[str, Any], dict[str, float]]:
    before = cpu_of(servers)
    result = work()
    after = cpu_of(servers)
    return result, {name: after[name] - before[name] for name in before}


def rate(result: dict[str, Any]) -> float:
    return float(result["events"] / (result["end"] - result["start"]))


# --- workloads: each returns {system: {metric: value}} for one run ----------------------


class Bench:
    def __init__(self, sizes: Sizes) -> None:
        self.sizes = sizes
        self.agent = start_agent()
        try:
            self.gateway = start_gateway(self.agent, max(sizes.long, 10_000) + 10)
        except BaseException:
            self.agent.stop()
            raise
        try:
            self.sdk = start_sdk()
        except BaseException:
            self.agent.stop()
            self.gateway.stop()
            raise
        self.servers = [self.agent, self.gateway, self.sdk]
        warm = Spec(events=20, size=sizes.size)
        try:
            for kind, url in self.targets():
                run_clients(kind, "stream", url, 2, warm)
        except BaseException:
            self.close()
            raise

    def targets(self) -> list[tuple[str, str]]:
        return [
            ("grpc", self.agent.address),
            ("sse", self.gateway.address),
            ("sse", self.sdk.address),
        ]

    def close(self) -> None:
        for server in self.servers:
            server.stop()

    def throughput(
        self, mode: str, streams: int, events: dict[str, int], procs: int = 1
    ) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for system, (kind, url) in zip(report.SYSTEMS, self.targets(), strict=True):
            spec = Spec(events=events[system], size=self.sizes.size)
            result, cpu = measured(
                self.servers,
                functools.partial(run_clients, kind, mode, url, streams, spec, procs=procs),
            )
            server = {"direct": "agent", "gateway": "gateway", "sdk": "sdk"}[system]
            out[system] = {
                "events_per_s": rate(result),
                "events": result["events"],
                "cpu_us_per_event": cpu[server] * 1e6 / result["events"],
                "agent_cpu_us_per_event": cpu["agent"] * 1e6 / result["events"],
            }
        return out

    def long(self) -> dict[str, dict[str, float]]:
        s = self.sizes
        return self.throughput(
            "stream", 1, {"direct": s.long, "gateway": s.long, "sdk": s.sdk_long}
        )

    def short(self) -> dict[str, dict[str, float]]:
        s = self.sizes
        events = {"direct": s.short, "gateway": s.short, "sdk": s.short}
        return self.throughput("serial", s.short_repeat, events)

    def many(self) -> dict[str, dict[str, float]]:
        s = self.sizes
        events = {"direct": s.per_stream, "gateway": s.per_stream, "sdk": s.sdk_per_stream}
        return self.throughput("stream", s.streams, events, procs=s.client_procs)

    def fanout(self) -> dict[str, dict[str, float]]:
        s = self.sizes
        out: dict[str, dict[str, float]] = {}
        for system, server, events in (
            ("gateway", self.gateway, s.fanout_events),
            ("sdk", self.sdk, s.sdk_fanout_events),
        ):
            spec = Spec(events=events, size=s.size, delay=s.fanout_delay)
            result, cpu = measured(
                self.servers,
                functools.partial(
                    run_clients, "sse", "fanout", server.address, s.subscribers, spec
                ),
            )
            window = result["end"] - result["first_chunk"]
            out[system] = {
                "deliveries_per_s": events * s.subscribers / window,
                "events": result["events"],
                "late_subscribers": result["late"],
                "cpu_us_per_delivery": cpu[server.name] * 1e6 / result["events"],
            }
        return out

    def ttfe(self) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        spec = Spec(events=1, size=self.sizes.size)
        for system, (kind, url) in zip(report.SYSTEMS, self.targets(), strict=True):
            result = run_clients(kind, "serial", url, self.sizes.ttfe, spec)
            times = sorted(result["ttfe"])
            out[system] = {"ttfe_ms_p50": statistics.median(times) * 1e3}
        return out

    def latency(self) -> dict[str, dict[str, float]]:
        s = self.sizes
        spec = Spec(events=s.paced_events, size=s.size, rate=s.paced_rate)
        out: dict[str, dict[str, float]] = {}
        for system, (kind, url) in zip(report.SYSTEMS, self.targets(), strict=True):
            result = run_clients(kind, "stream", url, s.paced_streams, spec, latency=True)
            values = sorted(result["latencies_ns"])
            out[system] = {
                "p50_ms": percentile(values, 50) / 1e6,
                "p99_ms": percentile(values, 99) / 1e6,
                "samples": len(values),
            }
        return out


def percentile(values: list[int], p: float) -> float:
    if not values:
        return float("nan")
    index = min(len(values) - 1, max(0, round(p / 100 * len(values)) - 1))
    return float(values[index])


def idle(sizes: Sizes) -> dict[str, dict[str, float]]:
    """Memory per idle open stream (each its own running task), in fresh server processes."""
    out: dict[str, dict[str, float]] = {}
    hold = Spec(hold=600, size=sizes.size)
    for system, count in (("gateway", sizes.idle), ("sdk", sizes.sdk_idle)):
        agent = start_agent() if system == "gateway" else None
        server = start_gateway(agent, 10_000) if agent else start_sdk()
        try:
            run_clients("sse", "stream", server.address, 2, Spec(events=20, size=sizes.size))
            time.sleep(0.5)
            before = server.rss()
            opened, seconds, after = hold_open(server.address, count, hold, server.rss)
            out[system] = {
                "streams": opened,
                "kb_per_stream": (after - before) / max(1, opened) / 1024,
                "open_seconds": seconds,
            }
        finally:
            server.stop(timeout=5)
            if agent:
                agent.stop(timeout=5)
    return out


def hold_open(
    url: str, count: int, spec: Spec, rss: Callable[[], int], timeout: float = 180
) -> tuple[int, float, int]:
    """Open `count` idle streams in a client process; (opened, seconds, RSS while open)."""
    popen = subprocess.Popen(
        client_command("sse", "idle", url, count, spec, timeout=timeout),
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert popen.stdout is not None
    assert popen.stdin is not None
    assert popen.stderr is not None
    try:
        ready, _, _ = select.select([popen.stdout], [], [], timeout)
        if not ready:
            raise TimeoutError(f"{count} idle streams did not open within {timeout}s")
        line = popen.stdout.readline()
        if not line:
            raise RuntimeError(f"idle client failed: {popen.stderr.read().decode()[-2000:]}")
        status = orjson.loads(line)
        time.sleep(0.5)
        return int(status["open"]), float(status["seconds"]), rss()
    finally:
        popen.stdin.write(b"close\n")
        popen.stdin.flush()
        try:
            popen.wait(30)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait(5)


WORKLOADS = ("long", "short", "many", "fanout", "ttfe", "latency", "idle")


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
    out: dict[str, dict[str, float]] = {}
    for system in runs[0]:
        out[system] = {
            metric: statistics.median(run[system][metric] for run in runs)
            for metric in runs[0][system]
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the bench.")
    parser.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", "3")))
    parser.add_argument("--scale", type=float, default=float(os.environ.get("BENCH_SCALE", "1")))
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--only", default=",".join(WORKLOADS), help="workloads to run")
    args = parser.parse_args(argv)
    raise_nofile()
    only = [w for w in args.only.split(",") if w]
    unknown = set(only) - set(WORKLOADS)
    if unknown:
        parser.error(f"unknown workloads: {sorted(unknown)}")
    sizes = Sizes(args.scale)
    started = time.monotonic()
    runs: dict[str, list[dict[str, dict[str, float]]]] = {w: [] for w in only}
    for index in range(args.runs):
        print(f"run {index + 1}/{args.runs}", file=sys.stderr, flush=True)
        bench = Bench(sizes)
        try:
            for workload in only:
                if workload == "idle":
                    continue
                began = time.monotonic()
                runs[workload].append(getattr(bench, workload)())
                print(f"  {workload}: {time.monotonic() - began:.1f}s", file=sys.stderr, flush=True)
        finally:
            bench.close()
        if "idle" in only:
            began = time.monotonic()
            runs["idle"].append(idle(sizes))
            print(f"  idle: {time.monotonic() - began:.1f}s", file=sys.stderr, flush=True)
    results = {
        "machine": machine(),
        "sizes": sizes.as_dict(),
        "runs": args.runs,
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
