"""`make bench` keeps working: its smoke run (tiny sizes, same code paths) prints every figure.

The smoke run is `python benchmarks/run_all.py --smoke` in a process of its own, against the
test session's PostgreSQL: the real pipeline, a real api-server with the plugin, headless
Chromium. It writes no RESULTS.md.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

FIGURES = [
    # 1. tick cost
    "Time and statements per tick",
    "DPDC AMI (failure day)",
    "Where a tick's time goes",
    "Slowest statements of",
    "Growth between sizes",
    # 2. API latency, next to Airflow's own endpoints in the same server
    "Latency at concurrency 1",
    "Latency at concurrency 2",
    "GET /api/v2/dags",
    "GET /api/v2/monitor/health",
    "Statements behind batch-logs and batch-health",
    # 3. page
    "Navigation → timeline rendered",
    "Bytes transferred",
    # 4. store
    "Store size (bytes on disk",
    "Purge (at revision 0002)",
    "Purge statements",
    # 5. baselines
    "Baseline recompute (once per business day",
    "What a tick adds",
]
ENDPOINTS = ["workflows", "active-alerts", "batch-timeline", "batch-health", "batch-logs", "alerts/{id}"]
TARGETS = [
    r"DPDC day ≤ 2 s per tick",
    r"\d+ steps / [\d,]+ thread rows ≤ 10 s per tick",
    r"p95 ≤ GET /api/v2/dags's p95 \(same server, same run\): DPDC's endpoints",
    r"p95 ≤ GET /api/v2/dags's p95 \(same server, same run\): every endpoint",
    r"p99 < 200 ms for the DPDC data",
    r"timeline rendered ≤ 1 s after navigation",
    r"baseline recompute, \d+ days × \d+ steps ≤ 2 s",
]


@pytest.mark.e2e
@pytest.mark.browser
def test_the_smoke_run_prints_every_figure_with_its_ratio(pg_admin_url: str) -> None:
    env = {**os.environ, "BATCH_MONITOR_BENCH_PG": pg_admin_url}
    done = subprocess.run(
        [sys.executable, "benchmarks/run_all.py", "--smoke"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = done.stdout
    assert done.returncode == 0, f"{output[-4000:]}\n{done.stderr[-4000:]}"
    missing = [f for f in FIGURES + ENDPOINTS if f not in output]
    assert missing == [], missing
    for target in TARGETS:
        assert re.search(rf"target: {target}.*: (met|MISSED) — ", output), target
    ratios = re.findall(r"\d+\.\d\d×", output)
    assert len(ratios) > 50, "the latency tables give each endpoint's ratio to GET /api/v2/dags"
    exponents = re.findall(r"(?m)^.*× (?:steps|thread rows)\s+[\d.]+×\s+(-?\d+\.\d\d)", output)
    assert len(exponents) == 2, "one growth exponent per pair of sizes"
    assert "written to" not in output
