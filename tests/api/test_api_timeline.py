"""The business day's timeline: six steps in order with their state, runs, times and alerts."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from tests.support.monitor_env import AS_OF, MonitorEnv
from tests.support.workflows import workflow_path

from batch_monitor import business_day as bd
from batch_monitor.config import parse_workflow
from batch_monitor.evaluate import evaluate
from batch_monitor.models import Observations
from batch_monitor.store import repository

pytestmark = pytest.mark.e2e

DHAKA_DAY_START = dt.time(5, 0)


def timeline(client: httpx.Client, **params: str) -> dict:  # type: ignore[type-arg]
    response = client.get("batch-timeline", params=params)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_the_day_shows_six_steps_in_chain_order_with_the_scenario_states(viewer: httpx.Client) -> None:
    day = timeline(viewer, workflow="dpdc_ami", date="2024-03-12")
    assert (day["evaluated"], day["timezone"], day["business_date"]) == (True, "Asia/Dhaka", "2024-03-12")
    assert day["as_of"] == AS_OF.isoformat().replace("+00:00", "Z")
    assert (day["window_start"], day["window_end"]) == ("2024-03-11T23:00:00Z", "2024-03-12T23:00:00Z")
    assert [(s["step_id"], s["status"]) for s in day["steps"]] == [
        ("CM-DMRU", "complete"),
        ("D1-IMD", "complete"),
        ("C1-PPBTR", "failed"),
        ("F1-FLUSH", "waiting"),
        ("CM_BSGGN", "waiting"),
        ("BILLRESTSMS", "waiting"),
    ]
    assert [s["position"] for s in day["steps"]] == [0, 1, 2, 3, 4, 5]
    assert day["chain_status"] == "failed"


def test_each_step_carries_times_metrics_and_its_runs(viewer: httpx.Client) -> None:
    steps = {s["step_id"]: s for s in timeline(viewer, workflow="dpdc_ami", date="2024-03-12")["steps"]}
    first = steps["CM-DMRU"]
    assert (first["expected_start"], first["start"], first["end"]) == (
        "2024-03-11T23:00:00Z",  # 05:00 Dhaka
        "2024-03-11T23:40:00Z",  # started 40 minutes late
        "2024-03-12T00:28:00Z",
    )
    assert (first["records"], first["threads_total"], first["threads_done"], first["duration_s"]) == (
        240000,
        8,
        8,
        2880.0,
    )
    assert first["rps"] == pytest.approx(240000 / 2880)

    imd = steps["D1-IMD"]
    assert [(r["batch_nbr"] % 100, r["records"], r["status"]) for r in imd["runs"]] == [
        (1, 180000, "complete"),
        (2, 0, "complete"),
        (3, 60000, "complete"),
    ]
    assert imd["runs_done"] == 3

    prepay = steps["C1-PPBTR"]
    [run] = prepay["runs"]
    assert (run["status"], run["start"], run["end"]) == ("error", "2024-03-12T06:00:00Z", "2024-03-12T08:30:00Z")
    assert run["error_text"] == "ORA-12545 Connection timeout (host <b>ccb-db01</b>)"
    assert (run["records"], run["errors"], run["threads_total"]) == (200000, 1, 6)
    assert prepay["expected_start"] == "2024-03-12T06:00:00Z"  # 12:00 Dhaka
    assert prepay["finish_by"] == "2024-03-12T11:00:00Z"  # 17:00 Dhaka

    flush = steps["F1-FLUSH"]
    assert (flush["runs"], flush["runs_required"], flush["start"]) == ([], 3, None)
    assert flush["depends_on"] == ["C1-PPBTR"]


def test_each_step_lists_its_alerts_of_the_day_whatever_their_state(viewer: httpx.Client) -> None:
    day = timeline(viewer, workflow="dpdc_ami", date="2024-03-12")
    alerts = {s["step_id"]: [(a["kind"], a["state"]) for a in s["alerts"]] for s in day["steps"]}
    assert alerts == {
        "CM-DMRU": [("LATE_START", "resolved")],
        "D1-IMD": [("LOW_THROUGHPUT", "resolved"), ("EMPTY_RUN", "open")],  # the empty run processed nothing
        "C1-PPBTR": [("FAILED", "open")],
        "F1-FLUSH": [],
        "CM_BSGGN": [],
        "BILLRESTSMS": [],
    }
    assert day["chain_alerts"] == []
    # the late start of first reads is over (they started at 05:40) but stays on record, closed,
    # and marks the step's row late
    found = sorted((f["kind"], f["ended_at"] is not None) for f in day["findings"])
    assert found == [("EMPTY_RUN", False), ("FAILED", False), ("LATE_START", True)]
    assert {s["step_id"]: s["late"] for s in day["steps"]}["CM-DMRU"] is True


def test_a_running_step_shows_its_progress_and_predicted_end(viewer: httpx.Client) -> None:
    day = timeline(viewer, workflow="us_east_settlement", date="2024-03-12")
    assert day["timezone"] == "America/New_York"
    extract, posting = day["steps"]
    assert (extract["status"], posting["status"]) == ("complete", "running")
    assert 0 < posting["progress"] < 1
    assert posting["predicted_end"] is not None and posting["predicted_end"] > day["as_of"]
    assert posting["runs"][0]["threads_running"] > 0
    assert posting["rps"] > 0


def test_the_day_carries_the_forecast_predicted_times_the_chains_finish_and_its_critical_path(
    viewer: httpx.Client,
) -> None:
    day = timeline(viewer, workflow="us_east_settlement", date="2024-03-12")
    extract, posting = day["steps"]
    assert posting["predicted_start"] == posting["start"] and posting["progress_basis"] in {"threads", "elapsed"}
    assert day["predicted_finish"] == day["predicted_chain_end"] == posting["predicted_end"]
    assert day["critical_path"] == ["SETL-POST"]  # it has started: nothing before it moves the finish
    assert posting["on_critical_path"] and not extract["on_critical_path"]
    # a failed step has no prediction, nor has what waits for it, nor the chain
    failed_day = timeline(viewer, workflow="dpdc_ami", date="2024-03-12")
    waiting = next(s for s in failed_day["steps"] if s["step_id"] == "F1-FLUSH")
    assert waiting["predicted_end"] is None
    assert (failed_day["predicted_finish"], failed_day["critical_path"]) == (None, [])


def test_a_past_day_shows_its_rerun_and_its_resolved_alert(viewer: httpx.Client) -> None:
    day = timeline(viewer, workflow="dpdc_ami", date="2024-03-11")
    assert {s["status"] for s in day["steps"]} == {"complete"}
    prepay = next(s for s in day["steps"] if s["step_id"] == "C1-PPBTR")
    assert [(r["rerun_nbr"], r["status"]) for r in prepay["runs"]] == [(0, "error"), (1, "complete")]
    assert [(a["kind"], a["state"], a["resolved_by"]) for a in prepay["alerts"]] == [("FAILED", "resolved", "monitor")]


def test_without_a_date_the_current_business_day_in_the_workflows_zone_is_shown(viewer: httpx.Client) -> None:
    before = bd.business_date(dt.datetime.now(dt.UTC), "Asia/Dhaka", DHAKA_DAY_START)
    day = timeline(viewer, workflow="dpdc_ami")
    after = bd.business_date(dt.datetime.now(dt.UTC), "Asia/Dhaka", DHAKA_DAY_START)
    assert day["business_date"] in {before.isoformat(), after.isoformat()}
    assert day["evaluated"] is False  # the simulator never played today
    assert [s["step_id"] for s in day["steps"]][:2] == ["CM-DMRU", "D1-IMD"]
    assert {s["status"] for s in day["steps"]} == {"pending"}
    assert len(day["steps"]) == 6


def test_without_a_workflow_the_first_one_is_shown(viewer: httpx.Client) -> None:
    assert timeline(viewer, date="2024-03-12")["workflow_id"] == "dpdc_ami"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"workflow": "dpdc_ami", "date": "12/03/2024"}, "date"),
        ({"workflow": "dpdc_ami", "date": "2024-02-30"}, "date"),
        ({"workflow": "no_such_chain"}, "workflow"),
    ],
)
def test_bad_parameters_are_422_naming_the_field(viewer: httpx.Client, params: dict[str, str], field: str) -> None:
    response = viewer.get("batch-timeline", params=params)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", field]


def test_after_a_rerun_the_row_takes_the_rerun_s_duration_and_the_whole_span_is_the_total(
    viewer: httpx.Client,
) -> None:
    # include/scenarios/failure.yaml: C1-PPBTR fails 12:00-14:30; the rerun runs 15:00-16:30
    steps = {s["step_id"]: s for s in timeline(viewer, workflow="dpdc_ami", date="2024-03-11")["steps"]}
    prepay = steps["C1-PPBTR"]
    assert prepay["status"] == "complete"
    assert [r["status"] for r in prepay["runs"]] == ["error", "complete"]
    assert prepay["duration_s"] == 90 * 60  # the rerun's 1h 30m, within max_duration 4h
    assert prepay["total_duration_s"] == 270 * 60  # 2 runs, 4h 30m in all
    flush = steps["F1-FLUSH"]  # three runs, none failed: its span is its duration
    assert flush["total_duration_s"] is None
    assert flush["duration_s"] is not None


def test_a_day_the_calendar_expects_no_run_on_says_so_and_a_run_day_says_nothing(
    monitor: MonitorEnv, viewer: httpx.Client
) -> None:
    """The evaluation's run_expected and its reason reach the page through batch-timeline."""
    path = workflow_path("dpdc_ami")
    holiday = dt.date(2024, 3, 26)  # Independence Day in Bangladesh
    calendar = "\ncalendar: {country: BD, skip_on_holidays: true}\n"
    dpdc = parse_workflow(path.read_text(encoding="utf-8") + calendar, path)
    start, end = bd.window(holiday, dpdc.timezone, dpdc.business_day_start)
    obs = Observations(
        workflow_id=dpdc.workflow_id, business_date=holiday, as_of=end, window_start=start, window_end=end
    )
    with monitor.store.begin() as conn:
        repository.save_evaluation(conn, evaluate(dpdc, obs, end))
    day = timeline(viewer, workflow="dpdc_ami", date=holiday.isoformat())
    assert (day["evaluated"], day["run_expected"], day["no_run_reason"]) == (True, False, "holiday: Independence Day")
    assert day["findings"] == [] and day["chain_status"] == "pending"  # nothing ran, nothing is late
    usual = timeline(viewer, workflow="dpdc_ami", date="2024-03-12")
    assert (usual["run_expected"], usual["no_run_reason"]) == (True, None)
