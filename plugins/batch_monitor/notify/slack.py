"""Slack: post a queued message through the Airflow Slack provider, as blocks.

The Airflow connection ``batch_monitor_slack`` decides how:

- type ``slackwebhook`` (an incoming webhook; the URL in the password, or the host plus the token
  path): posted with the provider's ``SlackWebhookHook``. A webhook does not say which message it
  posted, so a recovery cannot be threaded: it is posted as a message of its own saying which
  alert it follows up.
- type ``slack`` (the Web API; a bot token in the password, the channel in the extra ``channel``,
  optionally ``base_url``): posted with the provider's ``SlackHook`` (``chat.postMessage``). The
  alert's ``ts`` is kept in the outbox, and its recovery, reminders and escalation are posted as
  replies in its thread.

A 429 raises :class:`RetryLaterError` with Slack's Retry-After (the sender keeps the message for
after it, through the outbox; nothing sleeps). An unreachable Slack raises
:class:`ChannelUnavailableError`, any other refusal (a 500, a bad payload) :class:`NotificationError`.
Airflow and slack_sdk are imported only when a message is posted.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import socket
import urllib.error
from collections.abc import Mapping
from typing import Any

from batch_monitor.exceptions import NotificationError
from batch_monitor.models import EmailContent
from batch_monitor.notify.channels import ChannelUnavailableError, RetryLaterError
from batch_monitor.notify.messages import slack_message
from batch_monitor.settings import SLACK_CONN_ID

log = logging.getLogger(__name__)

DEFAULT_RETRY_AFTER = dt.timedelta(seconds=60)  # a 429 without a readable Retry-After
MAX_RETRY_AFTER = dt.timedelta(hours=1)  # a Retry-After beyond this is taken as an hour
_UNREACHABLE = (urllib.error.URLError, ConnectionError, TimeoutError, socket.timeout)


def retry_after(headers: Mapping[str, Any] | None) -> dt.timedelta:
    """Slack's Retry-After (seconds) as a delay; a minute when it is missing or unreadable."""
    values = {str(k).lower(): v for k, v in (headers or {}).items()}
    raw = values.get("retry-after")
    if isinstance(raw, list | tuple):
        raw = raw[0] if raw else None
    try:
        seconds = float(str(raw).strip())
    except ValueError:
        return DEFAULT_RETRY_AFTER
    if not math.isfinite(seconds):
        return DEFAULT_RETRY_AFTER
    return dt.timedelta(seconds=min(max(seconds, 0.0), MAX_RETRY_AFTER.total_seconds()))


def _check_status(where: str, status: int, body: str, headers: Mapping[str, Any] | None) -> None:
    if status == 200:
        return
    if status == 429:
        delay = retry_after(headers)
        raise RetryLaterError(f"{where}: rate limited (429), retry after {delay.total_seconds():g} s", delay)
    raise NotificationError(f"{where}: HTTP {status}: {body[:300]}")


class SlackChannel:
    """Posts to Slack through the Airflow connection ``slack_conn_id`` (webhook or Web API)."""

    def __init__(self, slack_conn_id: str = SLACK_CONN_ID, timeout: int = 30) -> None:
        self.slack_conn_id = slack_conn_id
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"SlackChannel(slack_conn_id={self.slack_conn_id!r})"

    def deliver(
        self, *, recipients: list[str], content: EmailContent, thread: Mapping[str, Any] | None
    ) -> dict[str, Any] | None:
        """Post the message; returns ``{"ts", "channel"}`` when the Web API said where it went."""
        from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook

        where = f"Slack connection {self.slack_conn_id!r}"
        try:
            conn = SlackWebhookHook.get_connection(self.slack_conn_id)
        except Exception as exc:  # no such connection: nothing can go until one is added
            raise ChannelUnavailableError(f"{where}: {type(exc).__name__}: {exc}") from exc
        if conn.conn_type == "slack":
            return self._post_api(where, conn.extra_dejson, content, thread)
        self._post_webhook(where, content, thread)
        return None

    def _post_webhook(self, where: str, content: EmailContent, thread: Mapping[str, Any] | None) -> None:
        from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook

        notice = content.notice
        follow_up = None
        if notice is not None and notice.kind != "alert" and notice.alert_id is not None:
            follow_up = f"alert #{notice.alert_id}"  # a webhook cannot thread: say what this follows up
        text, blocks = slack_message_of(content, follow_up_of=follow_up)
        hook = SlackWebhookHook(slack_webhook_conn_id=self.slack_conn_id, timeout=self.timeout)
        try:
            # the hook's client, not hook.send(): send() turns a 429 into an exception without its Retry-After
            response = hook.client.send(text=text, blocks=blocks)
        except _UNREACHABLE as exc:
            raise ChannelUnavailableError(f"{where}: cannot reach the webhook: {type(exc).__name__}: {exc}") from exc
        except Exception as exc:
            raise NotificationError(f"{where}: {type(exc).__name__}: {exc}") from exc
        _check_status(where, response.status_code, str(response.body), response.headers)

    def _post_api(
        self, where: str, extra: Mapping[str, Any], content: EmailContent, thread: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        from airflow.providers.slack.hooks.slack import SlackHook
        from slack_sdk.errors import SlackApiError

        channel = str((thread or {}).get("channel") or extra.get("channel") or "").strip()
        if not channel:
            raise ChannelUnavailableError(
                f"{where}: a Slack API connection needs the channel to post to in its extra, e.g. "
                '{"channel": "#batch-alerts"}'
            )
        text, blocks = slack_message_of(content)
        hook = SlackHook(slack_conn_id=self.slack_conn_id, timeout=self.timeout)
        options: dict[str, Any] = {"thread_ts": thread["ts"]} if thread and thread.get("ts") else {}
        try:
            response = hook.client.chat_postMessage(channel=channel, text=text, blocks=blocks, **options)
        except SlackApiError as exc:
            reply = exc.response
            _check_status(where, reply.status_code, str(reply.data), reply.headers)
            raise NotificationError(f"{where}: Slack refused the message: {reply.data!r}"[:500]) from exc
        except _UNREACHABLE as exc:
            raise ChannelUnavailableError(f"{where}: cannot reach the Slack API: {type(exc).__name__}: {exc}") from exc
        except Exception as exc:
            raise NotificationError(f"{where}: {type(exc).__name__}: {exc}") from exc
        return {"ts": str(response["ts"]), "channel": str(response.get("channel") or channel)}


def slack_message_of(content: EmailContent, follow_up_of: str | None = None) -> tuple[str, list[dict[str, Any]]]:
    """The fallback text and blocks of a queued message."""
    from batch_monitor.notify.messages import notice_of

    return slack_message(notice_of(content), follow_up_of=follow_up_of)
