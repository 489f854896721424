"""Run history: filters, sorting, pagination and CSV export."""

from __future__ import annotations

import csv
import io

import httpx
import pytest
import sqlalchemy as sa
from tests.support.monitor_env import MonitorEnv

from batch_monitor.store.schema import execution_logs

pytestmark = pytest.mark.e2e


def logs(client: httpx.Client, **params: object) -> dict:  # type: ignore[type-arg]
    response = client.get("batch-logs", params=params)  # type: ignore[arg-type]
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def stored_runs(monitor: MonitorEnv, *conditions: sa.ColumnElement[bool]) -> int:
    with monitor.store.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(execution_logs).where(*conditions)).scalar_one())


def test_every_run_is_listed_latest_start_first(monitor: MonitorEnv, viewer: httpx.Client) -> None:
    body = logs(viewer, limit=1000)
    assert body["total"] == stored_runs(monitor) == len(body["items"])
    starts = [r["start_time"] for r in body["items"]]
    assert starts == sorted(starts, reverse=True)
    assert {r["workflow_id"] for r in body["items"]} == {"dpdc_ami", "us_east_settlement"}


def test_filters_by_workflow_batch_code_status_and_dates(monitor: MonitorEnv, viewer: httpx.Client) -> None:
    dpdc = logs(viewer, workflow="dpdc_ami")
    assert dpdc["total"] == stored_runs(monitor, execution_logs.c.workflow_id == "dpdc_ami")

    prepay = logs(viewer, batch_code="C1-PPBTR")["items"]
    assert [(r["business_date"], r["rerun_nbr"], r["status"]) for r in prepay] == [
        ("2024-03-12", 0, "error"),
        ("2024-03-11", 1, "complete"),
        ("2024-03-11", 0, "error"),
    ]
    failed = logs(viewer, status="error")["items"]
    assert [(r["batch_cd"], r["business_date"]) for r in failed] == [
        ("C1-PPBTR", "2024-03-12"),
        ("C1-PPBTR", "2024-03-11"),
    ]
    one_day = logs(viewer, workflow="dpdc_ami", date_from="2024-03-12", date_to="2024-03-12")
    assert one_day["total"] == 5  # first reads, three IMD runs, the failed prepay run
    assert logs(viewer, date_to="2024-03-10")["total"] == 0


def test_text_search_finds_runs_by_their_error_literally(viewer: httpx.Client) -> None:
    assert logs(viewer, q="ora-12545")["total"] == 2  # case-insensitive
    assert logs(viewer, q="<b>ccb-db01</b>")["total"] == 1
    assert logs(viewer, q="%")["total"] == 0  # wildcards are plain text
    assert logs(viewer, q="_")["total"] == 0


def test_sorting_by_any_listed_column_both_ways(viewer: httpx.Client) -> None:
    by_records = [r["records"] for r in logs(viewer, sort="records", order="asc", limit=1000)["items"]]
    assert by_records == sorted(by_records)
    by_duration = [r["duration_s"] for r in logs(viewer, sort="duration_s", order="desc", limit=1000)["items"]]
    assert by_duration == sorted(by_duration, reverse=True)
    by_code = [r["batch_cd"] for r in logs(viewer, sort="batch_cd", order="asc", limit=1000)["items"]]
    assert by_code == sorted(by_code)


def test_pages_follow_each_other_without_gaps_or_repeats(viewer: httpx.Client) -> None:
    everything = logs(viewer, limit=1000)
    pages = [logs(viewer, limit=5, offset=offset) for offset in range(0, everything["total"], 5)]
    assert all(p["total"] == everything["total"] and p["limit"] == 5 for p in pages)
    assert [r["id"] for p in pages for r in p["items"]] == [r["id"] for r in everything["items"]]
    beyond = logs(viewer, limit=5, offset=everything["total"])
    assert (beyond["items"], beyond["total"]) == ([], everything["total"])


def test_csv_export_holds_every_matching_run_in_local_time(viewer: httpx.Client) -> None:
    response = viewer.get("batch-logs", params={"format": "csv", "workflow": "dpdc_ami", "limit": 2})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == 'attachment; filename="batch-logs.csv"'
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == logs(viewer, workflow="dpdc_ami")["total"]  # every match, not one page
    failed = next(r for r in rows if r["business_date"] == "2024-03-12" and r["status"] == "error")
    assert (failed["start_time"], failed["end_time"], failed["timezone"]) == (
        "2024-03-12T12:00:00+06:00",
        "2024-03-12T14:30:00+06:00",
        "Asia/Dhaka",
    )
    assert failed["error_text"] == "ORA-12545 Connection timeout (host <b>ccb-db01</b>)"
    assert (failed["records"], failed["errors"]) == ("200000", "1")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "exploded"}, "status"),
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"offset": -1}, "offset"),
        ({"sort": "password"}, "sort"),
        ({"order": "sideways"}, "order"),
        ({"format": "xml"}, "format"),
        ({"date_from": "yesterday"}, "date_from"),
        ({"date_from": "2024-03-12", "date_to": "2024-03-11"}, "date_from"),
        ({"workflow": "nope"}, "workflow"),
    ],
)
def test_bad_parameters_are_422_naming_the_field(viewer: httpx.Client, params: dict[str, object], field: str) -> None:
    response = viewer.get("batch-logs", params=params)  # type: ignore[arg-type]
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", field]


@pytest.mark.parametrize("code", ["=1", "@S", "-2", "+SUM(A1)"])
def test_csv_export_quotes_a_status_code_that_starts_like_a_formula(
    monitor: MonitorEnv, viewer: httpx.Client, code: str
) -> None:
    with monitor.store.connect() as conn:
        run_id, original = conn.execute(
            sa.select(execution_logs.c.id, execution_logs.c.status_code)
            .where(execution_logs.c.workflow_id == "dpdc_ami")
            .order_by(execution_logs.c.id)
            .limit(1)
        ).one()
    with monitor.store.begin() as conn:
        conn.execute(sa.update(execution_logs).where(execution_logs.c.id == run_id).values(status_code=code))
    try:
        response = viewer.get("batch-logs", params={"format": "csv", "workflow": "dpdc_ami"})
    finally:
        with monitor.store.begin() as conn:
            conn.execute(sa.update(execution_logs).where(execution_logs.c.id == run_id).values(status_code=original))
    assert response.status_code == 200
    codes = [r["status_code"] for r in csv.DictReader(io.StringIO(response.text, newline=""))]
    assert f"'{code}" in codes
    assert not [c for c in codes if c.startswith(("=", "+", "-", "@"))]
