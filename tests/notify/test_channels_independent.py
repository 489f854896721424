"""One message, one outbox row per channel: Slack down while mail works delivers the mail once,
keeps the Slack post for later, and posts it once when Slack is back (real SMTP, real HTTP)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from tests.support.slack import FakeSlack

from batch_monitor.models import AlertContext
from batch_monitor.notify.channels import MailDelivery, MessageChannel, SmtpChannel
from batch_monitor.notify.render import render_alert
from batch_monitor.notify.sender import send_pending
from batch_monitor.notify.slack import SlackChannel
from batch_monitor.store import outbox, schema

from .conftest import NOW, MailServer, insert_alert


def channels() -> dict[str, MessageChannel]:
    return {"email": MailDelivery(SmtpChannel()), "slack": SlackChannel()}


def queue(engine: sa.Engine, ctx: AlertContext) -> bool:
    with engine.begin() as conn:
        return outbox.enqueue(
            conn,
            dedupe_key=f"alert:{ctx.alert_id}:opened:1",
            alert_id=ctx.alert_id,
            kind="alert",
            recipients=["oncall@example.com"],
            content=render_alert(ctx),
            now=NOW,
            channels=["email", "slack"],
        )


def test_slack_down_while_mail_works_mails_once_and_posts_once_when_slack_is_back(
    store: sa.Engine, mail_server: MailServer, slack: FakeSlack, failed_alert: AlertContext
) -> None:
    with store.begin() as conn:
        ctx = failed_alert.model_copy(update={"alert_id": insert_alert(conn)})
    assert queue(store, ctx)
    assert not queue(store, ctx)  # a replayed tick queues nothing twice, on any channel
    slack.stop()

    reports = []
    for minutes in (0, 15, 30):  # Slack stays down for three ticks
        at = NOW + dt.timedelta(minutes=minutes)
        reports.append(send_pending(store, channels(), worker="w", now=at, clock=lambda at=at: at))
    slack.start()
    back = send_pending(store, channels(), worker="w", now=NOW + dt.timedelta(minutes=45))
    after = send_pending(store, channels(), worker="w", now=NOW + dt.timedelta(minutes=60))

    assert [r.by_channel for r in reports] == [
        {"email": (1, 0), "slack": (0, 1)},
        {"email": (0, 0), "slack": (0, 1)},
        {"email": (0, 0), "slack": (0, 1)},
    ]
    assert "cannot reach the webhook" in reports[0].errors[0]
    assert back.by_channel == {"email": (0, 0), "slack": (1, 0)}
    assert after.by_channel == {"email": (0, 0), "slack": (0, 0)}
    assert [str(m.message["Subject"]) for m in mail_server.received] == [render_alert(ctx).subject]
    assert [p["text"] for p in slack.posts()] == ["CRITICAL: C1-PPBTR failed"]
    with store.connect() as conn:
        rows = conn.execute(sa.select(schema.email_outbox).order_by(schema.email_outbox.c.id)).all()
    assert [(r.channel, r.attempts, r.sent_at is not None) for r in rows] == [("email", 1, True), ("slack", 4, True)]


def test_a_workflow_without_mail_recipients_still_posts_to_its_other_channels(store: sa.Engine) -> None:
    from batch_monitor.models import EmailContent

    with store.begin() as conn:
        queued = outbox.enqueue(
            conn,
            dedupe_key="k",
            alert_id=None,
            kind="alert",
            recipients=[],
            content=EmailContent(subject="s", text="t", html="h"),
            now=NOW,
            channels=["email", "slack"],
        )
        assert queued
        assert [r.channel for r in conn.execute(sa.select(schema.email_outbox)).all()] == ["slack"]
