"""Deliver queued messages: for each channel, claim a batch of its outbox rows, send each, record each outcome.

The claim is its own short transaction and every outcome is committed on its own, right after
the message went (or did not). A sender that crashes mid-way leaves at most the message in
flight to be sent again (after the claim goes stale); nothing is lost. Channels are independent:
each claims only its own rows, so one channel being down never holds up or repeats another.
When a channel cannot be reached, its remaining messages are not tried: they are released with
the error recorded, and a later call sends them; when it asks us to wait (a 429's Retry-After),
they are kept until then through the row's ``next_attempt_at``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import sqlalchemy as sa

from batch_monitor.exceptions import NotificationError
from batch_monitor.notify.channels import (
    ChannelUnavailableError,
    EmailChannel,
    MailDelivery,
    MessageChannel,
    RetryLaterError,
)
from batch_monitor.store import outbox

log = logging.getLogger(__name__)

Channels = EmailChannel | Mapping[str, MessageChannel]


def _wall_clock() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class SendReport:
    """What one :func:`send_pending` call did (``by_channel``: sent and failed per channel)."""

    sent: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    by_channel: dict[str, tuple[int, int]] = field(default_factory=dict)


def as_channels(channel: Channels) -> dict[str, MessageChannel]:
    """A mapping of channel name to channel; a lone :class:`EmailChannel` is the ``email`` channel."""
    if isinstance(channel, Mapping):
        return dict(channel)
    return {outbox.EMAIL: MailDelivery(channel)}


def send_pending(
    engine: sa.Engine,
    channel: Channels,
    *,
    worker: str,
    now: dt.datetime,
    limit: int = 100,
    clock: Callable[[], dt.datetime] | None = None,
) -> SendReport:
    """Send up to ``limit`` queued messages per channel as ``worker`` (a unique sender name).

    ``channel``: an :class:`EmailChannel` (mail only), or ``{"email": ..., "slack": ...}``; rows of
    a channel not given stay queued. ``now`` is when the call began (the claim's time). Each
    outcome is recorded at the moment the channel accepted or refused that message, read from
    ``clock`` (default: the wall clock), so the alert's "e-mailed" time is when the mail went,
    not when the tick that queued it ran.
    """
    read_clock = clock or _wall_clock
    sent = failed = 0
    errors: list[str] = []
    by_channel: dict[str, tuple[int, int]] = {}
    for name, delivery in as_channels(channel).items():
        run = _ChannelRun(engine, name, delivery, worker, read_clock)
        with engine.begin() as conn:
            messages = outbox.claim(conn, worker=worker, now=now, limit=limit, channel=name)
        for message in messages:
            run.send(message)
        sent, failed = sent + run.sent, failed + run.failed
        errors += run.errors
        by_channel[name] = (run.sent, run.failed)
    for line in errors:
        log.warning("batch_monitor outbox: %s", line)
    return SendReport(sent=sent, failed=failed, errors=errors, by_channel=by_channel)


class _ChannelRun:
    """One channel's share of a :func:`send_pending` call."""

    def __init__(
        self,
        engine: sa.Engine,
        name: str,
        delivery: MessageChannel,
        worker: str,
        clock: Callable[[], dt.datetime],
    ) -> None:
        self.engine, self.name, self.delivery, self.worker, self.clock = engine, name, delivery, worker, clock
        self.unavailable: ChannelUnavailableError | None = None
        self.retry_at: dt.datetime | None = None
        self.sent = self.failed = 0
        self.errors: list[str] = []

    def send(self, message: outbox.OutboxMessage) -> None:
        label = f"{'mail' if self.name == outbox.EMAIL else self.name} {message.id} ({message.dedupe_key})"
        if self.unavailable is not None:
            self._failed(message, label, f"not tried, channel unavailable: {self.unavailable}")
            return
        try:
            ref = self._deliver(message)
        except NotificationError as exc:
            if isinstance(exc, ChannelUnavailableError):
                self.unavailable = exc
            if isinstance(exc, RetryLaterError):
                self.retry_at = self.clock() + exc.retry_after
            self._failed(message, label, str(exc))
            return
        with self.engine.begin() as conn:
            if not outbox.mark_sent(conn, message.id, worker=self.worker, now=self.clock(), remote_ref=ref):
                self.errors.append(f"{label}: sent, but its claim had been taken over by another sender")
        self.sent += 1

    def _deliver(self, message: outbox.OutboxMessage) -> dict[str, object] | None:
        thread = None
        if message.kind != "alert" and self.name != outbox.EMAIL:
            with self.engine.connect() as conn:
                thread = outbox.thread_ref(conn, message.alert_id, self.name)
        # the same Message-ID on every attempt: a copy that went out despite an error is a duplicate
        key = f"batch-monitor.{message.dedupe_key}.{int(message.created_at.timestamp() * 1e6)}"
        content = message.content.model_copy(update={"message_key": key})
        return self.delivery.deliver(recipients=list(message.recipients), content=content, thread=thread)

    def _failed(self, message: outbox.OutboxMessage, label: str, error: str) -> None:
        with self.engine.begin() as conn:
            outbox.mark_failed(
                conn, message.id, worker=self.worker, error=error, now=self.clock(), retry_at=self.retry_at
            )
        self.failed += 1
        self.errors.append(f"{label}: {error}")
