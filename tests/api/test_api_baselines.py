"""The timeline carries each step's learned baseline: typical duration, records and start, and how many days."""

from __future__ import annotations

import httpx
import pytest
from tests.api.test_api_timeline import timeline

pytestmark = pytest.mark.e2e


def test_each_step_carries_the_baseline_learned_from_the_days_before(viewer: httpx.Client) -> None:
    # the store holds one earlier day of dpdc_ami (2024-03-11, the failure scenario): its runs are the history
    steps = {s["step_id"]: s["baseline"] for s in timeline(viewer, workflow="dpdc_ami", date="2024-03-12")["steps"]}
    first = steps["CM-DMRU"]
    assert (first["segment"], first["sample_days"], first["runs_per_day"]) == ("all", 1, 1)
    assert (first["duration_p50_s"], first["duration_p90_s"], first["records_p50"]) == (2880, 2880, 240000)
    assert (first["start_p50"], first["start_p50_at"]) == ("05:00", "2024-03-11T23:00:00Z")

    imd = steps["D1-IMD"]  # three runs a day, figures per run; it starts 4 minutes after CM-DMRU ends
    assert (imd["runs_per_day"], imd["records_p50"], imd["start_p50"], imd["gap_p50_s"]) == (3, 90000, "05:52", 240)

    prepay = steps["C1-PPBTR"]  # the failed run is not typical: the rerun's figures, the first run's start
    assert (prepay["duration_p50_s"], prepay["records_p50"], prepay["start_p50"]) == (5400, 110000, "12:00")


def test_a_workflow_without_history_has_no_baselines(viewer: httpx.Client) -> None:
    steps = timeline(viewer, workflow="us_east_settlement", date="2024-03-12")["steps"]
    assert steps and all(s["baseline"] is None for s in steps)
