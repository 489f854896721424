"""The configured workflows, the page's refresh interval, and the OpenAPI description."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
import sqlalchemy as sa
from tests.support.monitor_env import MonitorEnv

from batch_monitor import business_day as bd
from batch_monitor.constants import FindingKind, StepStatus
from batch_monitor.store.schema import monitoring_config

pytestmark = pytest.mark.e2e


def test_workflows_list_their_steps_in_order_with_zone_and_dag(viewer: httpx.Client) -> None:
    body = viewer.get("workflows").json()
    dpdc, us_east = body["workflows"]
    assert (dpdc["workflow_id"], dpdc["name"], dpdc["dag_id"]) == (
        "dpdc_ami",
        "DPDC AMI daily billing",
        "batch_monitor_dpdc_ami",
    )
    assert (dpdc["timezone"], dpdc["business_day_start"], dpdc["latest_business_date"]) == (
        "Asia/Dhaka",
        "05:00",
        "2024-03-12",
    )
    assert [s["batch_code"] for s in dpdc["steps"]] == [
        "CM-DMRU",
        "D1-IMD",
        "C1-PPBTR",
        "F1-FLUSH",
        "CM_BSGGN",
        "BILLRESTSMS",
    ]
    prepay = dpdc["steps"][2]
    assert (prepay["expected_start"], prepay["finish_by"], prepay["min_rps"]) == ("12:00", "17:00", 10.0)
    assert (prepay["expected_duration_s"], prepay["max_duration_s"]) == (2 * 3600 + 45 * 60, 4 * 3600)
    assert prepay["runbook"].startswith("FAILED: On ORA- errors")  # given for failed runs only
    assert dpdc["steps"][3]["repeat_rule"]["runs"] == 3
    assert (us_east["workflow_id"], us_east["timezone"], us_east["business_day_start"]) == (
        "us_east_settlement",
        "America/New_York",
        "02:30",
    )


def test_the_page_gets_its_words_for_every_alert_kind_and_step_status_from_the_api(viewer: httpx.Client) -> None:
    labels = viewer.get("workflows").json()["labels"]
    # every kind, in the enum's order (the banner counts them in this order), and every status
    assert list(labels["alert_kinds"]) == [kind.value for kind in FindingKind]
    assert set(labels["step_statuses"]) == {status.value for status in StepStatus}
    assert (labels["alert_kinds"]["LONG_RUNNING"], labels["alert_kinds"]["SOURCE_UNAVAILABLE"]) == (
        "long running",
        "source unavailable",
    )
    assert (labels["step_statuses"]["repeating"], labels["step_statuses"]["waiting"]) == ("Repeating", "Waiting")


def test_each_workflow_names_its_current_business_day_from_the_wall_clock(viewer: httpx.Client) -> None:
    before = dt.datetime.now(dt.UTC)
    body = viewer.get("workflows").json()
    after = dt.datetime.now(dt.UTC)
    for wf in body["workflows"]:
        start = dt.time.fromisoformat(wf["business_day_start"])
        candidates = {bd.business_date(m, wf["timezone"], start).isoformat() for m in (before, after)}
        assert wf["current_business_date"] in candidates


def test_the_refresh_interval_comes_from_the_monitoring_config(monitor: MonitorEnv, viewer: httpx.Client) -> None:
    assert viewer.get("workflows").json()["refresh_interval_seconds"] == 1800
    with monitor.store.begin() as conn:
        conn.execute(
            sa.update(monitoring_config)
            .where(monitoring_config.c.scope == "global", monitoring_config.c.key == "refresh_interval_seconds")
            .values(value=300)
        )
    assert viewer.get("workflows").json()["refresh_interval_seconds"] == 300


def test_the_api_is_described_by_openapi(monitor: MonitorEnv) -> None:
    spec = httpx.get(f"{monitor.server.base_url}/batch-monitor/api/v1/openapi.json", timeout=30).json()
    paths = set(spec["paths"])
    assert {
        "/api/v1/workflows",
        "/api/v1/active-alerts",
        "/api/v1/alerts/{alert_id}",
        "/api/v1/acknowledge-alert/{alert_id}",
        "/api/v1/alerts/{alert_id}/resolve",
        "/api/v1/batch-timeline",
        "/api/v1/batch-logs",
        "/api/v1/batch-health",
    } <= paths
    assert spec["paths"]["/api/v1/batch-timeline"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert "TimelineResponse" in spec["components"]["schemas"]
    workflows = spec["components"]["schemas"]["WorkflowsResponse"]
    assert workflows["properties"]["labels"] == {"$ref": "#/components/schemas/Labels"}
