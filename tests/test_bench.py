"""The bench runs end to end at a tiny scale, so it cannot rot. No timing is asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.report import SYSTEMS
from bench.run import WORKLOADS

ROOT = Path(__file__).resolve().parent.parent


def test_bench_runs_at_tiny_scale(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.run",
            "--scale",
            "0.01",
            "--runs",
            "1",
            "--out",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "latest.json").read_text())
    assert set(results["median"]) == set(WORKLOADS)
    for workload in ("long", "many", "short", "ttfe", "latency"):
        assert set(results["median"][workload]) == set(SYSTEMS)
    assert results["median"]["long"]["gateway"]["events"] >= results["sizes"]["long"]
    assert results["median"]["idle"]["gateway"]["streams"] == results["sizes"]["idle"]
    table = (tmp_path / "latest.md").read_text()
    assert "| direct gRPC | gateway | a2a-sdk 1.3 |" in table
    assert table in done.stdout
