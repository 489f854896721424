"""`make time-to-alert` keeps working: a short run (one failure, a 5 s watch interval) through a real
api-server, scheduler, dag-processor and triggerer mails the failure within the 60 s target.

The script runs in a process of its own, against the test session's PostgreSQL, and writes no
RESULTS.md. It takes two to three minutes (Airflow's processes start and parse first).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.e2e
def test_a_short_time_to_alert_run_mails_the_failure_from_an_event_tick(pg_admin_url: str, tmp_path: Path) -> None:
    figures = tmp_path / "time_to_alert.json"
    env = {**os.environ, "BATCH_MONITOR_BENCH_PG": pg_admin_url}
    done = subprocess.run(
        [
            sys.executable,
            "benchmarks/time_to_alert.py",
            "--failures",
            "1",
            "--watch-interval",
            "5",
            "--json",
            str(figures),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    result = json.loads(figures.read_text())
    assert result["failures"] == 1 and result["event_ticks"] == 1  # the mail came from the event's tick
    assert 0 < result["max"] <= 60 and result["mails_per_failure"] == [1]
    assert {"trigger poll", "extract", "persist"} <= set(result["median_parts"])
    assert "| time to alert ≤ 60 s" in done.stdout
