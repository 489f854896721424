"""Silences and snoozes through the real api-server: who may, what is refused, and what alerts show."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from zoneinfo import ZoneInfo

import httpx
import pytest
import sqlalchemy as sa
from tests.support.monitor_env import MonitorEnv

from batch_monitor.store.schema import alerts, silence_events, silences

pytestmark = pytest.mark.e2e

DHAKA = ZoneInfo("Asia/Dhaka")


def failed_alert(monitor: MonitorEnv) -> int:
    with monitor.store.connect() as conn:
        query = sa.select(alerts.c.id).where(alerts.c.kind == "FAILED", alerts.c.business_date == dt.date(2024, 3, 12))
        return int(conn.execute(query).scalar_one())


def soon(hours: float) -> dt.datetime:
    return dt.datetime.now(dt.UTC) + dt.timedelta(hours=hours)


def until_text(end: dt.datetime) -> str:
    """How the API words the end: local HH:MM today, else with the date."""
    local_end, today = end.astimezone(DHAKA), dt.datetime.now(DHAKA).date()
    return f"{local_end:%H:%M}" if local_end.date() == today else f"{local_end:%Y-%m-%d %H:%M}"


def silence_body(**changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "workflow": "dpdc_ami",
        "step": "C1-PPBTR",
        "ends_at": soon(2).isoformat(),
        "comment": "planned rerun",
    }
    body.update(changes)
    return body


def the_failure(client: httpx.Client) -> dict[str, object]:
    return next(a for a in client.get("active-alerts").json()["alerts"] if a["kind"] == "FAILED")


def test_an_operator_silences_a_step_and_its_alert_says_until_when_by_whom_and_why(
    monitor: MonitorEnv, op: httpx.Client, viewer: httpx.Client
) -> None:
    ends = soon(2)
    response = op.post("silences", json=silence_body(ends_at=ends.isoformat(), kinds=["FAILED"]))
    assert response.status_code == 201, response.text
    created = response.json()["silence"]
    assert (created["workflow_id"], created["step_id"], created["kinds"], created["alert_id"]) == (
        "dpdc_ami",
        "C1-PPBTR",
        ["FAILED"],
        None,
    )
    assert (created["created_by"], created["comment"], created["active"], created["source"]) == (
        "op1",
        "planned rerun",
        True,
        "silence",
    )
    assert [e["event"] for e in created["events"]] == ["created"]
    failed = the_failure(viewer)
    assert failed["silenced"] == f"silenced until {until_text(ends)} by op1: planned rerun"
    assert failed["silence_id"] == created["id"]
    empty = next(a for a in viewer.get("active-alerts").json()["alerts"] if a["kind"] == "EMPTY_RUN")
    assert empty["silenced"] is None  # another step
    listed = viewer.get("silences", params={"active": "true"}).json()["silences"]
    assert [(s["id"], s["created_by"], s["comment"]) for s in listed] == [(created["id"], "op1", "planned rerun")]


def test_ending_a_silence_keeps_it_with_who_ended_it_and_the_alert_is_no_longer_silenced(
    monitor: MonitorEnv, op: httpx.Client, admin: httpx.Client
) -> None:
    created = op.post("silences", json=silence_body()).json()["silence"]
    response = admin.delete(f"silences/{created['id']}")
    assert response.status_code == 200
    ended = response.json()
    assert ended["changed"] is True and ended["message"] == f"silence {created['id']} ended by admin1"
    assert (ended["silence"]["ended_by"], ended["silence"]["active"]) == ("admin1", False)
    assert [(e["event"], e["actor"]) for e in ended["silence"]["events"]] == [("created", "op1"), ("ended", "admin1")]
    assert the_failure(op)["silenced"] is None
    assert op.get("silences", params={"active": "true"}).json()["silences"] == []
    assert [s["id"] for s in op.get("silences").json()["silences"]] == [created["id"]]  # kept
    again = op.delete(f"silences/{created['id']}")
    assert again.status_code == 200 and again.json()["changed"] is False


def test_a_snooze_silences_that_one_alert(monitor: MonitorEnv, op: httpx.Client) -> None:
    failed = failed_alert(monitor)
    until = soon(1)
    response = op.post(f"alerts/{failed}/snooze", json={"until": until.isoformat(), "comment": "DBA on it"})
    assert response.status_code == 201, response.text
    snooze = response.json()["silence"]
    assert (snooze["source"], snooze["alert_id"], snooze["step_id"], snooze["kinds"]) == (
        "snooze",
        failed,
        "C1-PPBTR",
        ["FAILED"],
    )
    detail = op.get(f"alerts/{failed}").json()["alert"]
    assert detail["silenced"] == f"silenced until {until_text(until)} by op1: DBA on it"


def test_a_time_without_an_offset_is_the_workflows_local_time(monitor: MonitorEnv, op: httpx.Client) -> None:
    ends = soon(3).astimezone(DHAKA).replace(second=0, microsecond=0)
    naive = ends.replace(tzinfo=None).isoformat()
    created = op.post("silences", json=silence_body(ends_at=naive)).json()["silence"]
    assert dt.datetime.fromisoformat(created["ends_at"]) == ends


def test_without_a_token_every_silence_endpoint_is_401(monitor: MonitorEnv, anonymous: httpx.Client) -> None:
    failed = failed_alert(monitor)
    assert anonymous.get("silences").status_code == 401
    assert anonymous.post("silences", json=silence_body()).status_code == 401
    assert anonymous.delete("silences/1").status_code == 401
    assert (
        anonymous.post(f"alerts/{failed}/snooze", json={"until": soon(1).isoformat(), "comment": "x"}).status_code
        == 401
    )


def test_a_viewer_may_list_silences_but_not_create_end_or_snooze(
    monitor: MonitorEnv, op: httpx.Client, viewer: httpx.Client
) -> None:
    failed = failed_alert(monitor)
    created = op.post("silences", json=silence_body()).json()["silence"]
    refused = viewer.post("silences", json=silence_body())
    assert refused.status_code == 403
    assert "may not silence any workflow" in refused.json()["detail"]  # said before the body is read
    assert viewer.post("silences", json={"comment": "no workflow"}).status_code == 403
    assert viewer.delete(f"silences/{created['id']}").status_code == 403
    assert (
        viewer.post(f"alerts/{failed}/snooze", json={"until": soon(1).isoformat(), "comment": "x"}).status_code == 403
    )
    assert [s["id"] for s in viewer.get("silences").json()["silences"]] == [created["id"]]


def test_unknown_silences_and_alerts_are_404(op: httpx.Client) -> None:
    assert op.delete("silences/999999").status_code == 404
    assert op.post("alerts/999999/snooze", json={"until": soon(1).isoformat(), "comment": "x"}).status_code == 404
    assert op.delete(f"silences/{2**63}").status_code == 422  # beyond bigint: a bad id, not a 500


@pytest.mark.parametrize(
    ("changes", "loc", "words"),
    [
        ({"starts_at": "soon:3", "ends_at": "soon:2"}, "ends_at", "must come after starts_at"),
        ({"ends_at": "soon:-1"}, "ends_at", "in the past"),
        ({"ends_at": "soon:200"}, "ends_at", "at most 7 days"),
        ({"workflow": "nope"}, "workflow", "unknown workflow"),
        ({"step": "NO-SUCH-STEP"}, "step", "has no step"),
        ({"kinds": ["FAILED", "ON_FIRE"]}, "kinds", ""),
        ({"comment": ""}, "comment", ""),
        ({"comment": "a\x00b"}, "comment", "NUL"),
        ({"ends_at": "tomorrow-ish"}, "ends_at", ""),
        ({"ends_at": "3000-01-01T00:00:00+00:00"}, "ends_at", "between"),
        ({"color": "red"}, "color", ""),
    ],
)
def test_a_bad_silence_is_a_422_naming_the_field(
    monitor: MonitorEnv, op: httpx.Client, changes: dict[str, object], loc: str, words: str
) -> None:
    for key, value in list(changes.items()):
        if isinstance(value, str) and value.startswith("soon:"):
            changes[key] = soon(float(value.split(":")[1])).isoformat()
    response = op.post("silences", json=silence_body(**changes))
    assert response.status_code == 422, response.text
    [error, *_] = response.json()["detail"]
    assert error["loc"][:2] == ["body", loc]
    assert words in error["msg"]
    with monitor.store.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(silences)).scalar_one() == 0


def test_a_snooze_longer_than_the_setting_allows_is_a_422_naming_until(monitor: MonitorEnv, op: httpx.Client) -> None:
    failed = failed_alert(monitor)
    response = op.post(f"alerts/{failed}/snooze", json={"until": soon(24 * 8).isoformat(), "comment": "x"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "until"]


def test_hostile_bodies_get_the_usual_limits(monitor: MonitorEnv, op: httpx.Client) -> None:
    huge = op.post(
        "silences", content=b'{"comment": "' + b"x" * 70_000 + b'"}', headers={"Content-Type": "application/json"}
    )
    assert huge.status_code == 413
    form = op.post(
        "silences", content=b"workflow=dpdc_ami", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert form.status_code == 415
    broken = op.post("silences", content=b"{not json", headers={"Content-Type": "application/json"})
    assert broken.status_code == 422 and broken.json()["detail"][0]["loc"] == ["body"]
    long_comment = op.post("silences", json=silence_body(comment="y" * 2001))
    assert long_comment.status_code == 422 and len(long_comment.json()["detail"][0]["input"]) < 100


def test_two_operators_silencing_and_acknowledging_at_once_both_succeed_and_both_are_recorded(
    monitor: MonitorEnv, op: httpx.Client, admin: httpx.Client
) -> None:
    failed = failed_alert(monitor)
    with ThreadPoolExecutor(max_workers=2) as pool:
        silencing = pool.submit(op.post, "silences", json=silence_body())
        acknowledging = pool.submit(admin.post, f"acknowledge-alert/{failed}", json={"comment": "on it"})
        silenced, acked = silencing.result(), acknowledging.result()
    assert silenced.status_code == 201 and acked.status_code == 200
    alert = op.get(f"alerts/{failed}").json()["alert"]
    assert (alert["state"], alert["acknowledged_by"]) == ("acknowledged", "admin1")
    assert alert["silenced"] is not None and "by op1" in alert["silenced"]


def test_two_operators_ending_one_silence_at_once_end_it_once(
    monitor: MonitorEnv, op: httpx.Client, admin: httpx.Client
) -> None:
    created = op.post("silences", json=silence_body()).json()["silence"]
    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(pool.map(lambda c: c.delete(f"silences/{created['id']}"), [op, admin]))
    assert sorted(a.json()["changed"] for a in answers) == [False, True]
    with monitor.store.connect() as conn:
        trail = conn.execute(sa.select(silence_events.c.event).where(silence_events.c.silence_id == created["id"]))
        assert sorted(trail.scalars()) == ["created", "ended"]


def test_the_timeline_lists_no_maintenance_for_a_workflow_without_windows(viewer: httpx.Client) -> None:
    body = viewer.get("batch-timeline", params={"workflow": "dpdc_ami", "date": "2024-03-12"}).json()
    assert body["maintenance"] == []
