"""Health of a workflow over a window: success rates, recent failures, throughput, alerts."""

from __future__ import annotations

import httpx
import pytest
import sqlalchemy as sa
from tests.support.monitor_env import MonitorEnv

from batch_monitor.store.schema import execution_logs

pytestmark = pytest.mark.e2e


def health(client: httpx.Client, **params: object) -> dict:  # type: ignore[type-arg]
    response = client.get("batch-health", params=params)  # type: ignore[arg-type]
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_seven_days_of_dpdc_runs_give_the_success_rates(viewer: httpx.Client) -> None:
    body = health(viewer, workflow="dpdc_ami", date="2024-03-12")
    assert (body["window_days"], body["window_first_date"], body["business_date"]) == (7, "2024-03-06", "2024-03-12")
    # 2024-03-11: 11 finished runs, one failed; 2024-03-12: 5 finished runs, one failed
    assert (body["runs_finished"], body["runs_failed"]) == (16, 2)
    assert body["success_rate"] == pytest.approx(14 / 16)
    per_step = {s["step_id"]: (s["runs_finished"], s["runs_failed"]) for s in body["per_step"]}
    assert per_step == {
        "CM-DMRU": (2, 0),
        "D1-IMD": (6, 0),
        "C1-PPBTR": (3, 2),
        "F1-FLUSH": (3, 0),
        "CM_BSGGN": (1, 0),
        "BILLRESTSMS": (1, 0),
    }
    prepay = next(s for s in body["per_step"] if s["step_id"] == "C1-PPBTR")
    assert prepay["success_rate"] == pytest.approx(1 / 3)


def test_failures_of_the_last_24_hours_and_recent_failures_with_their_errors(viewer: httpx.Client) -> None:
    body = health(viewer, workflow="dpdc_ami", date="2024-03-12")
    assert body["reference_time"] == "2024-03-12T23:00:00Z"  # end of that business day, long past
    assert body["failed_last_24h"] == 1  # today's C1-PPBTR; yesterday's failed 32 hours earlier
    assert [(f["business_date"], f["error_text"]) for f in body["recent_failures"]] == [
        ("2024-03-12", "ORA-12545 Connection timeout (host <b>ccb-db01</b>)"),
        ("2024-03-11", "ORA-12545 Connection timeout"),
    ]


def test_average_rps_of_the_day_and_active_alerts(monitor: MonitorEnv, viewer: httpx.Client) -> None:
    body = health(viewer, workflow="dpdc_ami", date="2024-03-12")
    with monitor.store.connect() as conn:
        expected = conn.execute(
            sa.select(sa.func.avg(execution_logs.c.rps)).where(
                execution_logs.c.workflow_id == "dpdc_ami",
                execution_logs.c.business_date == "2024-03-12",
                execution_logs.c.records > 0,
            )
        ).scalar_one()
    assert body["avg_rps_today"] == pytest.approx(expected)
    assert body["active_alerts"] == 2
    assert health(viewer, workflow="us_east_settlement", date="2024-03-12")["active_alerts"] == 0


def test_late_starts_and_missed_deadlines_count_once_over(viewer: httpx.Client) -> None:
    # 2024-03-12: first reads started at 05:40; the LATE_START resolved when they started
    assert health(viewer, workflow="dpdc_ami", date="2024-03-12")["breaches"] == 1
    assert health(viewer, workflow="dpdc_ami", date="2024-03-11", days=1)["breaches"] == 0


def test_a_one_day_window_counts_only_that_day(viewer: httpx.Client) -> None:
    body = health(viewer, workflow="dpdc_ami", date="2024-03-12", days=1)
    assert (body["runs_finished"], body["runs_failed"], body["window_first_date"]) == (5, 1, "2024-03-12")


def test_a_day_without_runs_has_no_rates_rather_than_zero(viewer: httpx.Client) -> None:
    body = health(viewer, workflow="dpdc_ami", date="2024-01-01")
    assert (body["success_rate"], body["avg_rps_today"], body["runs_finished"]) == (None, None, 0)
    assert all(s["success_rate"] is None for s in body["per_step"])


@pytest.mark.parametrize(
    ("params", "field"),
    [({"days": 0}, "days"), ({"days": 91}, "days"), ({"date": "soon"}, "date"), ({"workflow": "x"}, "workflow")],
)
def test_bad_parameters_are_422_naming_the_field(viewer: httpx.Client, params: dict[str, object], field: str) -> None:
    response = viewer.get("batch-health", params=params)  # type: ignore[arg-type]
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", field]
