"""Active alerts, one alert's details and history, acknowledging and resolving."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
import sqlalchemy as sa
from tests.support.monitor_env import AS_OF, US_EAST_AS_OF, MonitorEnv
from tests.support.workflows import load_test_workflow

from batch_monitor.constants import FindingKind, Severity, StepStatus
from batch_monitor.models import Evaluation, Finding
from batch_monitor.notify.alert_mail import renderer
from batch_monitor.store import alerts as store_alerts
from batch_monitor.store.schema import alerts

pytestmark = pytest.mark.e2e


def alert_id(monitor: MonitorEnv, kind: str, date: str = "2024-03-12") -> int:
    with monitor.store.connect() as conn:
        query = sa.select(alerts.c.id).where(alerts.c.kind == kind, alerts.c.business_date == date)
        return int(conn.execute(query).scalar_one())


def test_active_alerts_are_the_open_ones_critical_first_with_counts(viewer: httpx.Client) -> None:
    body = viewer.get("active-alerts").json()
    assert [(a["step_id"], a["kind"], a["state"]) for a in body["alerts"]] == [
        ("C1-PPBTR", "FAILED", "open"),  # 14:30
        ("D1-IMD", "EMPTY_RUN", "open"),  # 08:35; the LATE_START of 05:30 resolved at 05:45
    ]
    assert (body["total"], body["unacknowledged"], body["acknowledged"]) == (2, 2, 0)
    assert body["by_severity"] == {"CRITICAL": 1, "WARNING": 1, "INFO": 0}
    assert {k: n for k, n in body["by_kind"].items() if n} == {"FAILED": 1, "EMPTY_RUN": 1}
    failed = body["alerts"][0]
    assert failed["title"] == "C1-PPBTR failed at 14:30 — ORA-12545 Connection timeout (host <b>ccb-db01</b>)"
    assert failed["severity"] == "CRITICAL"
    assert failed["step_name"] == "Prepay Biller"
    assert failed["timezone"] == "Asia/Dhaka"
    assert failed["error_text"] == "ORA-12545 Connection timeout (host <b>ccb-db01</b>)"


def test_active_alerts_of_one_workflow_and_an_unknown_workflow(viewer: httpx.Client) -> None:
    assert viewer.get("active-alerts", params={"workflow": "us_east_settlement"}).json()["total"] == 0
    assert viewer.get("active-alerts", params={"workflow": "dpdc_ami"}).json()["total"] == 2
    response = viewer.get("active-alerts", params={"workflow": "nope"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "workflow"]


def test_an_operator_acknowledges_with_a_comment_and_the_store_records_who_and_when(
    monitor: MonitorEnv, op: httpx.Client
) -> None:
    failed = alert_id(monitor, "FAILED")
    response = op.post(f"acknowledge-alert/{failed}", json={"comment": "DBA restarting the listener"})
    assert response.status_code == 200
    body = response.json()
    assert body["changed"] is True
    assert body["message"] == f"alert {failed} acknowledged by op1"
    assert body["alert"]["state"] == "acknowledged"
    assert body["alert"]["acknowledged_by"] == "op1"
    assert body["alert"]["ack_comment"] == "DBA restarting the listener"
    assert body["alert"]["acknowledged_at"] is not None

    active = op.get("active-alerts").json()
    assert (active["total"], active["unacknowledged"], active["acknowledged"]) == (2, 1, 1)
    events = op.get(f"alerts/{failed}").json()["events"]
    assert (events[-1]["event"], events[-1]["actor"], events[-1]["comment"]) == (
        "acknowledged",
        "op1",
        "DBA restarting the listener",
    )


def test_acknowledging_twice_is_harmless_and_says_so(
    monitor: MonitorEnv, op: httpx.Client, admin: httpx.Client
) -> None:
    failed = alert_id(monitor, "FAILED")
    first = op.post(f"acknowledge-alert/{failed}", json={})
    again = op.post(f"acknowledge-alert/{failed}", json={"comment": "again"})
    other = admin.post(f"acknowledge-alert/{failed}", json={})
    assert first.json()["changed"] is True
    for response in (again, other):
        assert response.status_code == 200
        assert response.json()["changed"] is False
        assert "already acknowledged by op1" in response.json()["message"]
        assert response.json()["alert"]["acknowledged_by"] == "op1"
    events = [e["event"] for e in op.get(f"alerts/{failed}").json()["events"]]
    assert events[-3:] == ["acknowledged", "ack_repeated", "ack_rejected"]


def test_an_acknowledgement_without_a_body_is_fine(monitor: MonitorEnv, op: httpx.Client) -> None:
    failed = alert_id(monitor, "FAILED")
    response = op.post(f"acknowledge-alert/{failed}", headers={"Content-Type": "application/json"})
    assert response.status_code == 200
    assert response.json()["alert"]["ack_comment"] is None


def test_a_resolved_alert_cannot_be_acknowledged(monitor: MonitorEnv, op: httpx.Client) -> None:
    late = alert_id(monitor, "LATE_START")  # resolved by the monitor when the run started
    response = op.post(f"acknowledge-alert/{late}", json={})
    assert response.status_code == 409
    assert "resolved" in response.json()["detail"]


def test_an_admin_resolves_an_alert_by_hand_and_it_leaves_the_active_list(
    monitor: MonitorEnv, admin: httpx.Client
) -> None:
    empty = alert_id(monitor, "EMPTY_RUN")
    response = admin.post(f"alerts/{empty}/resolve", json={"comment": "the IMD upload was empty on purpose"})
    assert response.status_code == 200
    body = response.json()
    assert body["changed"] is True
    assert (body["alert"]["state"], body["alert"]["resolved_by"], body["alert"]["resolution"]) == (
        "resolved",
        "admin1",
        "manual",
    )
    assert [a["kind"] for a in admin.get("active-alerts").json()["alerts"]] == ["FAILED"]
    again = admin.post(f"alerts/{empty}/resolve", json={})
    assert again.status_code == 200
    assert again.json()["changed"] is False
    assert "already resolved by admin1" in again.json()["message"]


def test_alert_details_carry_the_history_the_monitor_recorded(monitor: MonitorEnv, viewer: httpx.Client) -> None:
    yesterday = alert_id(monitor, "FAILED", "2024-03-11")
    body = viewer.get(f"alerts/{yesterday}").json()
    alert = body["alert"]
    assert (alert["state"], alert["resolved_by"], alert["resolution"]) == ("resolved", "monitor", "cleared")
    assert alert["expected"] and alert["actual"] and alert["action"]
    events = body["events"]
    assert [e["event"] for e in events] == ["opened", "resolved"]
    assert all(e["actor"] == "monitor" for e in events)
    assert events[0]["details"]["email"]["queued"] is True  # CRITICAL: the on-call mail was queued
    assert events[0]["as_of"] < events[1]["as_of"]
    assert body["can_acknowledge"] is False  # viewer


def test_unknown_alerts_are_404_and_malformed_ids_are_422(op: httpx.Client) -> None:
    for response in (
        op.get("alerts/999999"),
        op.post("acknowledge-alert/999999", json={}),
        op.post("alerts/999999/resolve", json={}),
    ):
        assert response.status_code == 404
        assert "999999" in response.json()["detail"]
    malformed = op.get("alerts/abc")
    assert malformed.status_code == 422
    assert malformed.json()["detail"][0]["loc"] == ["path", "alert_id"]
    too_long = op.post("acknowledge-alert/1", json={"comment": "x" * 2001})
    assert too_long.status_code == 422
    assert too_long.json()["detail"][0]["loc"] == ["body", "comment"]


def test_active_alerts_put_critical_first_then_the_newest(monitor: MonitorEnv, viewer: httpx.Client) -> None:
    # a WARNING newer than the CRITICAL failure: the failure (the root cause) must stay on top
    workflow = load_test_workflow("us_east_settlement")
    as_of = US_EAST_AS_OF + dt.timedelta(hours=3)
    slow = Finding(
        kind=FindingKind.LONG_RUNNING,
        severity=Severity.WARNING,
        step_id="SETL-POST",
        batch_code="SETL-POST",
        title="SETL-POST running 4h 0m, expected 1h 0m",
    )
    evaluation = Evaluation(
        workflow_id=workflow.workflow_id,
        business_date=dt.date(2024, 3, 12),
        as_of=as_of,
        timezone=workflow.timezone,
        chain_status=StepStatus.RUNNING,
        steps=[],
        findings=[slow],
    )
    with monitor.store.begin() as conn:
        store_alerts.sync_alerts(conn, workflow, evaluation, recipients=[], render=renderer("http://x"), now=as_of)

    body = viewer.get("active-alerts").json()
    assert [(a["severity"], a["kind"]) for a in body["alerts"]] == [
        ("CRITICAL", "FAILED"),
        ("WARNING", "LONG_RUNNING"),  # newest of the warnings
        ("WARNING", "EMPTY_RUN"),
    ]


def test_a_consequence_shows_the_incident_it_belongs_to(monitor: MonitorEnv, viewer: httpx.Client) -> None:
    # C1-PPBTR failed at 14:30 and nobody reruns it: at 17:15 it has missed its 17:00 deadline too
    workflow = load_test_workflow("dpdc_ami")
    as_of = dt.datetime(2024, 3, 12, 11, 15, tzinfo=dt.UTC)

    def found(kind: FindingKind, step_id: str, title: str) -> Finding:
        return Finding(kind=kind, severity=Severity.CRITICAL, step_id=step_id, batch_code=step_id, title=title)

    with monitor.store.connect() as conn:
        holding = conn.execute(
            sa.select(alerts.c.kind, alerts.c.step_id, alerts.c.severity, alerts.c.title).where(
                alerts.c.workflow_id == workflow.workflow_id, alerts.c.business_date == "2024-03-12"
            )
        ).all()
    findings = [
        Finding(kind=FindingKind(k), severity=Severity(s), step_id=step, batch_code=step, title=t)
        for k, step, s, t in holding
        if k != "LATE_START"  # resolved at 05:45
    ]
    findings.append(found(FindingKind.MISSED_DEADLINE, "C1-PPBTR", "C1-PPBTR not complete by its 17:00 deadline"))
    evaluation = Evaluation(
        workflow_id=workflow.workflow_id,
        business_date=dt.date(2024, 3, 12),
        as_of=as_of,
        timezone=workflow.timezone,
        chain_status=StepStatus.FAILED,
        steps=[],
        findings=findings,
    )
    with monitor.store.begin() as conn:
        result = store_alerts.sync_alerts(
            conn, workflow, evaluation, recipients=["x@y.z"], render=renderer("http://x"), now=as_of
        )
    assert (result.opened, result.mails_queued) == (1, 0)  # recorded, not mailed: the failure's mail told of it

    failed = alert_id(monitor, "FAILED")
    deadline = viewer.get(f"alerts/{alert_id(monitor, 'MISSED_DEADLINE')}").json()
    assert (deadline["alert"]["incident_id"], deadline["alert"]["caused_by"]) == (failed, failed)
    assert deadline["events"][0]["details"]["email"]["queued"] is False
    listed = {a["kind"]: a for a in viewer.get("active-alerts").json()["alerts"]}
    assert (listed["FAILED"]["incident_id"], listed["FAILED"]["caused_by"]) == (failed, None)
    assert listed["EMPTY_RUN"]["caused_by"] is None  # a root cause of its own


def test_an_alert_shows_its_reminders_and_when_it_was_escalated(monitor: MonitorEnv, viewer: httpx.Client) -> None:
    failed = alert_id(monitor, "FAILED")  # open since 14:30, nobody acknowledged it
    before = viewer.get(f"alerts/{failed}").json()["alert"]
    assert (before["reminders"], before["escalated_at"]) == (0, None)
    later = AS_OF + dt.timedelta(hours=2)  # 2h after its mail: a reminder is due, and escalation
    with monitor.store.begin() as conn:
        result = store_alerts.remind(
            conn,
            load_test_workflow("dpdc_ami"),
            as_of=later,
            recipients=["oncall@dpdc.example"],
            escalate_to=["ops-manager@dpdc.example"],
            render=renderer("http://x"),
            now=later,
        )
    assert (result.reminders, result.escalations) == (1, 1)
    shown = viewer.get(f"alerts/{failed}").json()
    assert (shown["alert"]["reminders"], shown["alert"]["escalated_at"]) == (
        1,
        later.isoformat().replace("+00:00", "Z"),
    )
    assert shown["events"][-1]["event"] == "reminded"
    listed = {a["kind"]: a for a in viewer.get("active-alerts").json()["alerts"]}
    assert listed["FAILED"]["reminders"] == 1 and listed["FAILED"]["escalated_at"] is not None
