"""Pure conversions behind the API: CSV export, alert counts, a day the monitor never judged."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

from batch_monitor.api import views
from batch_monitor.api.queries import StepMeta, WorkflowMeta
from batch_monitor.api.schemas import LogOut

UTC = dt.UTC


def step(step_id: str, position: int, *, enabled: bool = True, depends_on: list[str] | None = None) -> StepMeta:
    return StepMeta(
        step_id=step_id,
        batch_code=step_id,
        name=step_id.title(),
        position=position,
        depends_on=depends_on or [],
        expected_start=None,
        expected_duration_s=600.0,
        max_duration_s=None,
        finish_by=None,
        stuck_after_s=3600.0,
        min_rps=None,
        repeat_rule={},
        enabled=enabled,
        runbook="",
    )


DHAKA = WorkflowMeta(
    workflow_id="dpdc_ami",
    name="DPDC",
    timezone="Asia/Dhaka",
    business_day_start="05:00",
    steps=[step("EXTRACT", 0), step("LOAD", 1, depends_on=["EXTRACT"]), step("OPTIONAL", 2, enabled=False)],
)


def log(**values: Any) -> LogOut:
    row: dict[str, Any] = {
        "id": 1,
        "workflow_id": "dpdc_ami",
        "step_id": "EXTRACT",
        "batch_cd": "EXTRACT",
        "batch_nbr": 7,
        "rerun_nbr": 0,
        "business_date": dt.date(2024, 3, 12),
        "status": "error",
        "status_code": "30",
        "start_time": dt.datetime(2024, 3, 11, 23, 30, tzinfo=UTC),
        "end_time": dt.datetime(2024, 3, 12, 0, 15, tzinfo=UTC),
        "duration_s": 2700.0,
        "records": 1200,
        "errors": 3,
        "rps": 0.4444,
        "threads_total": 4,
        "threads_done": 4,
        "error_text": "ORA-00942",
        "observed_at": dt.datetime(2024, 3, 12, 1, 0, tzinfo=UTC),
    }
    return LogOut.model_validate(row | values)


def test_csv_shows_times_in_the_workflows_zone_with_the_zone_named() -> None:
    [row] = list(csv.DictReader(io.StringIO(views.logs_csv([log()], {"dpdc_ami": DHAKA}))))
    assert (row["start_time"], row["end_time"], row["timezone"]) == (
        "2024-03-12T05:30:00+06:00",
        "2024-03-12T06:15:00+06:00",
        "Asia/Dhaka",
    )
    assert (row["rps"], row["duration_s"], row["records"]) == ("0.44", "2700.0", "1200")


def test_csv_keeps_error_text_from_running_as_a_spreadsheet_formula() -> None:
    items = [log(error_text='=HYPERLINK("http://evil","x")'), log(error_text="-1 rows, retry"), log(error_text=None)]
    rows = list(csv.DictReader(io.StringIO(views.logs_csv(items, {"dpdc_ami": DHAKA}))))
    assert [r["error_text"] for r in rows] == ['\'=HYPERLINK("http://evil","x")', "'-1 rows, retry", ""]


def test_active_alert_counts_name_every_severity_and_kind_and_split_acknowledged() -> None:
    base = {
        "workflow_id": "dpdc_ami",
        "business_date": dt.date(2024, 3, 12),
        "batch_cd": "LOAD",
        "title": "t",
        "first_seen_at": dt.datetime(2024, 3, 12, tzinfo=UTC),
        "last_seen_at": dt.datetime(2024, 3, 12, tzinfo=UTC),
        "seen_count": 1,
        "details": None,
    }
    rows = [
        base | {"id": 2, "step_id": "LOAD", "kind": "FAILED", "severity": "CRITICAL", "state": "open"},
        base
        | {"id": 1, "step_id": "_chain", "kind": "MISSED_DEADLINE", "severity": "CRITICAL", "state": "acknowledged"},
    ]
    body = views.active_alerts(rows, {"dpdc_ami": DHAKA})
    assert (body.total, body.unacknowledged, body.acknowledged) == (2, 1, 1)
    assert body.by_severity == {"CRITICAL": 2, "WARNING": 0, "INFO": 0}
    assert body.by_kind["FAILED"] == 1 and body.by_kind["MISSED_DEADLINE"] == 1 and body.by_kind["STUCK"] == 0
    assert [(a.step_name, a.timezone, a.details) for a in body.alerts] == [
        ("Load", "Asia/Dhaka", {}),
        ("Whole chain", "Asia/Dhaka", {}),
    ]


def test_a_day_never_judged_lists_the_configured_steps_and_says_so() -> None:
    day = views.timeline(DHAKA, dt.date(2024, 3, 12), None, [])
    assert day.evaluated is False
    assert (day.as_of, day.chain_status) == (None, None)
    assert [(s.step_id, s.status.value, s.depends_on) for s in day.steps] == [
        ("EXTRACT", "pending", []),
        ("LOAD", "pending", ["EXTRACT"]),
        ("OPTIONAL", "skipped", []),
    ]
    assert (day.window_start, day.window_end) == (
        dt.datetime(2024, 3, 11, 23, 0, tzinfo=UTC),
        dt.datetime(2024, 3, 12, 23, 0, tzinfo=UTC),
    )
