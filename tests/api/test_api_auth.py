"""Who may use the API: an Airflow token for everything, edit access to the DAG for changes."""

from __future__ import annotations

import httpx
import pytest
import sqlalchemy as sa
from tests.support.monitor_env import MonitorEnv

from batch_monitor.api.app import STATIC_DIR, page_assets
from batch_monitor.store.schema import alert_events, alerts

pytestmark = pytest.mark.e2e

READS = [
    "workflows",
    "active-alerts",
    "alerts/1",
    "batch-timeline?workflow=dpdc_ami&date=2024-03-12",
    "batch-health?workflow=dpdc_ami&date=2024-03-12",
    "batch-logs",
    "batch-logs?format=csv",
]
WRITES = ["acknowledge-alert/{id}", "alerts/{id}/resolve"]


def failed_alert_id(monitor: MonitorEnv) -> int:
    with monitor.store.connect() as conn:
        return int(
            conn.execute(sa.select(alerts.c.id).where(alerts.c.kind == "FAILED", alerts.c.state == "open")).scalar_one()
        )


def alert_row(monitor: MonitorEnv, alert_id: int) -> sa.Row:  # type: ignore[type-arg]
    with monitor.store.connect() as conn:
        return conn.execute(sa.select(alerts).where(alerts.c.id == alert_id)).one()


@pytest.mark.parametrize("path", READS)
def test_every_read_without_a_token_is_refused_with_401(anonymous: httpx.Client, path: str) -> None:
    response = anonymous.get(path)
    assert response.status_code == 401, response.text


@pytest.mark.parametrize("path", WRITES)
def test_every_change_without_a_token_is_refused_with_401_and_changes_nothing(
    monitor: MonitorEnv, anonymous: httpx.Client, path: str
) -> None:
    alert_id = failed_alert_id(monitor)
    response = anonymous.post(path.format(id=alert_id), json={"comment": "sneaky"})
    assert response.status_code == 401
    assert alert_row(monitor, alert_id).state == "open"


def test_a_forged_token_is_refused(anonymous: httpx.Client) -> None:
    response = anonymous.get("workflows", headers={"Authorization": "Bearer not.a.jwt"})
    assert response.status_code in (401, 403)
    assert "user" not in response.json()


@pytest.mark.parametrize("path", READS)
def test_a_viewer_reads_everything(viewer: httpx.Client, path: str) -> None:
    assert viewer.get(path).status_code == 200


@pytest.mark.parametrize("path", WRITES)
def test_a_viewer_may_not_acknowledge_or_resolve(monitor: MonitorEnv, viewer: httpx.Client, path: str) -> None:
    alert_id = failed_alert_id(monitor)
    response = viewer.post(path.format(id=alert_id), json={"comment": "mine"})
    assert response.status_code == 403
    assert "batch_monitor_dpdc_ami" in response.json()["detail"]
    row = alert_row(monitor, alert_id)
    assert (row.state, row.acknowledged_by, row.resolved_by) == ("open", None, None)


def test_the_workflow_list_tells_each_user_whether_they_may_acknowledge(
    viewer: httpx.Client, op: httpx.Client, admin: httpx.Client
) -> None:
    for client, name, allowed in ((viewer, "viewer1", False), (op, "op1", True), (admin, "admin1", True)):
        body = client.get("workflows").json()
        assert body["user"] == name
        assert {w["workflow_id"]: w["can_acknowledge"] for w in body["workflows"]} == {
            "dpdc_ami": allowed,
            "us_east_settlement": allowed,
        }


def test_the_acting_user_comes_from_the_token_and_a_body_cannot_name_another(
    monitor: MonitorEnv, op: httpx.Client
) -> None:
    alert_id = failed_alert_id(monitor)
    forged = op.post(f"acknowledge-alert/{alert_id}", json={"comment": "x", "user": "admin1"})
    assert forged.status_code == 422
    assert forged.json()["detail"][0]["loc"] == ["body", "user"]
    assert alert_row(monitor, alert_id).state == "open"

    response = op.post(f"acknowledge-alert/{alert_id}", json={"comment": "on it"})
    assert response.status_code == 200
    assert alert_row(monitor, alert_id).acknowledged_by == "op1"


def test_the_ui_session_cookie_is_accepted_like_a_bearer_token(monitor: MonitorEnv) -> None:
    token = monitor.server.token("op1")
    with httpx.Client(base_url=f"{monitor.server.base_url}/batch-monitor/api/v1/", timeout=30) as client:
        client.cookies.set("_token", token)
        response = client.get("workflows")
    assert response.status_code == 200
    assert response.json()["user"] == "op1"


@pytest.mark.parametrize(
    ("content_type", "content"),
    [
        ("application/x-www-form-urlencoded", "comment=from+a+form"),
        ("text/plain", '{"comment": "text/plain is what a cross-site form can send"}'),
        (None, ""),
    ],
)
def test_a_change_that_is_not_json_is_refused_so_a_cross_site_form_cannot_make_it(
    monitor: MonitorEnv, content_type: str | None, content: str
) -> None:
    alert_id = failed_alert_id(monitor)
    headers = {"Content-Type": content_type} if content_type else {}
    with httpx.Client(base_url=f"{monitor.server.base_url}/batch-monitor/api/v1/", timeout=30) as client:
        client.cookies.set("_token", monitor.server.token("op1"))
        response = client.post(f"acknowledge-alert/{alert_id}", content=content, headers=headers)
    assert response.status_code in (415, 422)
    assert alert_row(monitor, alert_id).state == "open"
    with monitor.store.connect() as conn:
        events = conn.execute(sa.select(alert_events.c.event).where(alert_events.c.alert_id == alert_id)).scalars()
        assert "acknowledged" not in list(events)


def test_the_page_itself_loads_without_a_token_but_carries_no_data(monitor: MonitorEnv) -> None:
    base = f"{monitor.server.base_url}/batch-monitor/"
    page = httpx.get(base, timeout=30)
    assert page.status_code == 200
    assert "<title>Batch Monitor</title>" in page.text
    assert "C1-PPBTR" not in page.text
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "connect-src 'self'" in policy
    assert '<script type="module" src="static/js/main.js' in page.text
    assets = [path.relative_to(STATIC_DIR).as_posix() for path in page_assets()]
    assert "js/main.js" in assets and "app.css" in assets
    for asset in assets:
        response = httpx.get(base + "static/" + asset, timeout=30)
        assert response.status_code == 200
        if asset.endswith(".js"):
            assert response.headers["content-type"].startswith(("text/javascript", "application/javascript"))
            sinks = (".innerHTML", ".outerHTML", "insertAdjacentHTML", "document.write")
            assert not any(sink in response.text for sink in sinks), asset
