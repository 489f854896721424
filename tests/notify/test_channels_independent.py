"""One message, one outbox row per channel: a channel a message cannot go to gets no row.

Slack down while mail works (mail once, the post once when Slack is back) is a reliability case,
driven through real ticks: tests/reliability/test_channel_faults.py."""

from __future__ import annotations

import sqlalchemy as sa
from tests.support.alerts import NOW

from batch_monitor.models import EmailContent
from batch_monitor.store import outbox, schema


def test_a_workflow_without_mail_recipients_still_posts_to_its_other_channels(store: sa.Engine) -> None:
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
