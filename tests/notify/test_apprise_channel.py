"""Apprise through the outbox: the Apprise provider's connection names a json:// target on a local
HTTP server, which receives the message; a failed delivery stays queued."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from tests.support.alerts import NOW, alert_events, insert_alert
from tests.support.slack import FakeSlack

from batch_monitor.models import AlertContext
from batch_monitor.notify.apprise_channel import AppriseChannel
from batch_monitor.notify.render import render_alert
from batch_monitor.notify.sender import SendReport, send_pending
from batch_monitor.store import outbox, schema


@pytest.fixture
def target(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSlack]:
    """A local HTTP server as the Apprise connection's json:// target."""
    server = FakeSlack()
    server.start()
    config = {"path": f"json://127.0.0.1:{server.port}/apprise", "tag": "alerts"}
    monkeypatch.setenv(
        "AIRFLOW_CONN_BATCH_MONITOR_APPRISE", json.dumps({"conn_type": "apprise", "extra": {"config": config}})
    )
    yield server
    server.stop()


def queue_alert(engine: sa.Engine, ctx: AlertContext) -> int:
    with engine.begin() as conn:
        alert_id = insert_alert(conn)
        outbox.enqueue(
            conn,
            dedupe_key=f"alert:{alert_id}:opened:1",
            alert_id=alert_id,
            kind="alert",
            recipients=[],
            content=render_alert(ctx.model_copy(update={"alert_id": alert_id})),
            now=NOW,
            channels=["apprise"],
        )
    return alert_id


def send(engine: sa.Engine) -> SendReport:
    return send_pending(engine, {"apprise": AppriseChannel()}, worker="sender-1", now=NOW, clock=lambda: NOW)


def test_an_alert_reaches_the_apprise_target_with_its_title_step_error_and_link(
    store: sa.Engine, target: FakeSlack, failed_alert: AlertContext
) -> None:
    alert_id = queue_alert(store, failed_alert)

    report = send(store)

    assert (report.sent, report.failed) == (1, 0)
    [request] = target.requests
    assert request.path == "/apprise"
    body = request.json()
    assert body["title"] == "CRITICAL: C1-PPBTR failed"
    assert body["type"] == "failure"
    assert "Step: Prepay billing (C1-PPBTR)" in body["message"]
    assert "ORA-12545: Connect failed" in body["message"]
    assert body["message"].endswith(f"Open in Batch Monitor: {failed_alert.page_url}")
    with store.connect() as conn:
        [event] = alert_events(conn, alert_id)
    assert (event.event, event.details["channel"]) == ("posted", "apprise")


def test_a_target_that_fails_leaves_the_message_queued_and_the_next_call_delivers_it_once(
    store: sa.Engine, target: FakeSlack, failed_alert: AlertContext
) -> None:
    queue_alert(store, failed_alert)
    target.replies.append((500, {}, "down"))

    first = send(store)
    second = send(store)
    third = send(store)

    assert [(r.sent, r.failed) for r in (first, second, third)] == [(0, 1), (1, 0), (0, 0)]
    assert "could not deliver" in first.errors[0]
    assert len(target.requests) == 2
    with store.connect() as conn:
        [row] = conn.execute(sa.select(schema.email_outbox)).all()
    assert (row.channel, row.attempts, row.sent_at) == ("apprise", 2, NOW)


def test_a_connection_without_targets_is_reported_and_nothing_is_lost(
    store: sa.Engine, failed_alert: AlertContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_BATCH_MONITOR_APPRISE", json.dumps({"conn_type": "apprise", "extra": {}}))
    queue_alert(store, failed_alert)

    report = send(store)

    assert report.failed == 1 and "Apprise connection 'batch_monitor_apprise'" in report.errors[0]
    with store.connect() as conn:
        assert outbox.pending(conn, "apprise") == 1
