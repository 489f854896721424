"""Slack through the outbox: a real local HTTP server receives the posts of the Slack provider's hooks
(an incoming webhook, or the Web API's chat.postMessage with a token), on a real PostgreSQL store."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
import sqlalchemy as sa
from tests.support.alerts import NOW, alert_events, insert_alert
from tests.support.slack import WEBHOOK_PATH, FakeSlack

from batch_monitor.models import AlertContext
from batch_monitor.notify import messages
from batch_monitor.notify.render import render_alert, render_recovery
from batch_monitor.notify.sender import send_pending
from batch_monitor.notify.slack import SlackChannel
from batch_monitor.store import outbox, schema


def queue(engine: sa.Engine, ctx: AlertContext, *, kind: str = "alert", channels: tuple[str, ...] = ("slack",)) -> None:
    content = render_alert(ctx) if kind == "alert" else render_recovery(ctx)
    with engine.begin() as conn:
        outbox.enqueue(
            conn,
            dedupe_key=f"alert:{ctx.alert_id}:{kind}",
            alert_id=ctx.alert_id,
            kind=kind,
            recipients=["oncall@example.com"],
            content=content,
            now=NOW,
            channels=channels,
        )


def alert_in_store(engine: sa.Engine, ctx: AlertContext) -> AlertContext:
    with engine.begin() as conn:
        return ctx.model_copy(update={"alert_id": insert_alert(conn)})


def recovered(ctx: AlertContext) -> AlertContext:
    return ctx.model_copy(update={"resolved_at": ctx.last_seen_at + dt.timedelta(minutes=30)})


def slack_rows(engine: sa.Engine) -> list[sa.Row[Any]]:
    t = schema.email_outbox
    with engine.connect() as conn:
        return list(conn.execute(sa.select(t).where(t.c.channel == "slack").order_by(t.c.id)).all())


def send(engine: sa.Engine, at: dt.datetime = NOW) -> Any:
    return send_pending(engine, {"slack": SlackChannel()}, worker="sender-1", now=at, clock=lambda: at)


def texts(blocks: list[dict[str, Any]]) -> list[str]:
    out = []
    for block in blocks:
        if "text" in block:
            out.append(block["text"]["text"])
        out += [f["text"] for f in block.get("fields", [])]
        out += [e["text"] for e in block.get("elements", [])]
    return out


def test_an_alert_is_posted_to_the_webhook_as_blocks_with_severity_step_error_and_page_link(
    store: sa.Engine, slack: FakeSlack, failed_alert: AlertContext
) -> None:
    ctx = alert_in_store(store, failed_alert)
    queue(store, ctx)

    report = send(store)

    assert (report.sent, report.failed) == (1, 0)
    [request] = slack.requests
    assert request.path == WEBHOOK_PATH
    body = request.json()
    assert body["text"] == "CRITICAL: C1-PPBTR failed"
    header, fields, error, link, context = body["blocks"]
    assert header == {
        "type": "header",
        "text": {"type": "plain_text", "text": ":red_circle: CRITICAL: C1-PPBTR failed"},
    }
    assert "*Step*\nPrepay billing (C1-PPBTR)" in [f["text"] for f in fields["fields"]]
    assert error["text"]["text"].startswith("*Error*\n```ORA-12545: Connect failed &lt;script&gt;")
    assert link["text"]["text"] == f"<{ctx.page_url}|Open in Batch Monitor>"
    assert context["elements"][0]["text"] == f"Alert #{ctx.alert_id} · Batch Monitor"
    [row] = slack_rows(store)
    assert row.sent_at == NOW and row.remote_ref is None  # a webhook says nothing to thread on
    with store.connect() as conn:
        [event] = alert_events(conn, ctx.alert_id)
    assert (event.event, event.details["channel"]) == ("posted", "slack")


def test_without_a_token_the_recovery_is_its_own_message_naming_the_alert(
    store: sa.Engine, slack: FakeSlack, failed_alert: AlertContext
) -> None:
    ctx = alert_in_store(store, failed_alert)
    queue(store, ctx)
    send(store)
    queue(store, recovered(ctx), kind="recovery")

    send(store)

    [alert_post, second] = slack.posts()
    assert alert_post["text"] == "CRITICAL: C1-PPBTR failed"
    assert second["text"] == "RESOLVED: Cleared: C1-PPBTR failed"
    assert "thread_ts" not in second
    assert f"Follow-up to alert #{ctx.alert_id}" in second["blocks"][-1]["elements"][0]["text"]
    assert second["blocks"][0]["text"]["text"].startswith(":white_check_mark:")


def test_with_a_web_api_token_the_recovery_is_a_reply_in_the_alerts_thread(
    store: sa.Engine, slack: FakeSlack, failed_alert: AlertContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_BATCH_MONITOR_SLACK", slack.api_connection(channel="C0ONCALL"))
    ctx = alert_in_store(store, failed_alert)
    queue(store, ctx)
    send(store)
    queue(store, recovered(ctx), kind="recovery")

    send(store)

    alert_post, recovery_post = slack.requests
    assert alert_post.path == recovery_post.path == "/api/chat.postMessage"
    assert alert_post.headers["authorization"] == "Bearer xoxb-test-token"
    first, second = slack.posts()
    assert first["channel"] == "C0ONCALL" and "thread_ts" not in first
    [alert_row, recovery_row] = slack_rows(store)
    assert alert_row.remote_ref == {"ts": "1700000000.000001", "channel": "C0ONCALL"}
    assert second["thread_ts"] == "1700000000.000001" and second["channel"] == "C0ONCALL"
    assert recovery_row.sent_at is not None


def test_a_500_leaves_the_message_queued_and_the_next_call_posts_it_once(
    store: sa.Engine, slack: FakeSlack, failed_alert: AlertContext
) -> None:
    ctx = alert_in_store(store, failed_alert)
    queue(store, ctx)
    slack.replies.append((500, {"Content-Type": "text/plain"}, "internal_error"))

    first = send(store)
    [row] = slack_rows(store)
    second = send(store, NOW + dt.timedelta(minutes=15))
    third = send(store, NOW + dt.timedelta(minutes=30))

    assert (first.sent, first.failed) == (0, 1)
    assert "HTTP 500" in first.errors[0]
    assert (row.sent_at, row.attempts, row.next_attempt_at) == (None, 1, None)
    assert (second.sent, third.sent) == (1, 0)
    assert len(slack.requests) == 2  # the refused post and the one that went; nothing more
    with store.connect() as conn:
        events = [e.event for e in alert_events(conn, ctx.alert_id)]
    assert events == ["post_failed", "posted"]


def test_a_429_waits_for_its_retry_after_through_the_outbox_not_a_sleep(
    store: sa.Engine, slack: FakeSlack, failed_alert: AlertContext
) -> None:
    ctx = alert_in_store(store, failed_alert)
    queue(store, ctx)
    queue(store, recovered(ctx), kind="recovery")
    slack.replies.append((429, {"Retry-After": "120"}, "rate_limited"))

    limited = send(store)
    rows = slack_rows(store)
    early = send(store, NOW + dt.timedelta(seconds=60))
    posted_early = len(slack.requests)
    later = send(store, NOW + dt.timedelta(seconds=121))

    assert (limited.sent, limited.failed) == (0, 2)  # the second was not tried: Slack asked us to wait
    assert [r.next_attempt_at for r in rows] == [NOW + dt.timedelta(seconds=120)] * 2
    assert (early.sent, early.failed, posted_early) == (0, 0, 1)  # nothing claimed before Retry-After
    assert (later.sent, later.failed) == (2, 0)
    assert [p["text"] for p in slack.posts()[1:]] == ["CRITICAL: C1-PPBTR failed", "RESOLVED: Cleared: C1-PPBTR failed"]


def test_a_429_from_the_web_api_waits_for_its_retry_after_too(
    store: sa.Engine, slack: FakeSlack, failed_alert: AlertContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_BATCH_MONITOR_SLACK", slack.api_connection())
    ctx = alert_in_store(store, failed_alert)
    queue(store, ctx)
    limit = '{"ok": false, "error": "ratelimited"}'
    slack.replies.append((429, {"Retry-After": "30", "Content-Type": "application/json"}, limit))

    limited = send(store)
    [row] = slack_rows(store)
    later = send(store, NOW + dt.timedelta(seconds=31))

    assert limited.failed == 1 and "429" in limited.errors[0]
    assert row.next_attempt_at == NOW + dt.timedelta(seconds=30)
    assert later.sent == 1 and slack_rows(store)[0].remote_ref["ts"] == "1700000000.000001"


def test_a_huge_error_text_is_cut_within_slacks_limits(
    store: sa.Engine, slack: FakeSlack, failed_alert: AlertContext
) -> None:
    huge = "ORA-00600: internal error <&> " + "x" * 200_000
    ctx = alert_in_store(store, failed_alert.model_copy(update={"error_text": huge, "action": "y" * 9000}))
    queue(store, ctx)

    report = send(store)

    assert report.sent == 1
    body = slack.posts()[0]
    assert len(body["blocks"]) <= messages.MAX_BLOCKS and len(body["text"]) <= messages.FALLBACK_LIMIT
    for block in body["blocks"]:
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= messages.HEADER_LIMIT
        elif "text" in block:
            assert len(block["text"]["text"]) <= messages.SECTION_LIMIT
        assert len(block.get("fields", [])) <= messages.MAX_FIELDS
        assert all(len(f["text"]) <= messages.FIELD_LIMIT for f in block.get("fields", []))
    [error] = [t for t in texts(body["blocks"]) if t.startswith("*Error*")]
    assert "ORA-00600: internal error &lt;&amp;&gt;" in error
    assert re.search(r"… \(cut: 200,0\d\d characters in all\)```$", error)  # counted as escaped for Slack


def test_no_slack_connection_leaves_the_messages_queued_with_the_reason(
    store: sa.Engine, failed_alert: AlertContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_BATCH_MONITOR_SLACK", raising=False)
    ctx = alert_in_store(store, failed_alert)
    queue(store, ctx)
    queue(store, recovered(ctx), kind="recovery")

    report = send(store)

    assert (report.sent, report.failed) == (0, 2)
    assert "batch_monitor_slack" in report.errors[0]
    assert "not tried, channel unavailable" in report.errors[1]
    assert all(r.sent_at is None for r in slack_rows(store))


def test_a_web_api_connection_without_a_channel_says_which_field_is_missing(
    store: sa.Engine, slack: FakeSlack, failed_alert: AlertContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_BATCH_MONITOR_SLACK", slack.api_connection(channel=""))
    queue(store, alert_in_store(store, failed_alert))

    report = send(store)

    assert report.failed == 1 and '{"channel": "#batch-alerts"}' in report.errors[0]
    assert slack.requests == []
