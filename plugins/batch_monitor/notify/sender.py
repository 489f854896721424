"""Deliver queued mails: claim a batch from the outbox, send each, record each outcome.

The claim is its own short transaction and every outcome is committed on its own, right after
the mail went (or did not). A sender that crashes mid-way leaves at most the mail in flight to
be sent again (after the claim goes stale); nothing is lost. When the server cannot be reached,
the remaining mails are not tried: they are released with the error recorded, and a later call
sends them.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa

from batch_monitor.exceptions import NotificationError
from batch_monitor.notify.channels import ChannelUnavailableError, EmailChannel
from batch_monitor.store import outbox

log = logging.getLogger(__name__)


def _wall_clock() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class SendReport:
    """What one :func:`send_pending` call did."""

    sent: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def send_pending(
    engine: sa.Engine,
    channel: EmailChannel,
    *,
    worker: str,
    now: dt.datetime,
    limit: int = 100,
    clock: Callable[[], dt.datetime] | None = None,
) -> SendReport:
    """Send up to ``limit`` queued mails through ``channel`` as ``worker`` (a unique sender name).

    ``now`` is when the call began (the claim's time). Each outcome is recorded at the moment the
    server accepted or refused that mail, read from ``clock`` (default: the wall clock), so the
    alert's "e-mailed" time is when the mail went, not when the tick that queued it ran.
    """
    read_clock = clock or _wall_clock
    with engine.begin() as conn:
        messages = outbox.claim(conn, worker=worker, now=now, limit=limit)
    sent = failed = 0
    errors: list[str] = []
    unavailable: ChannelUnavailableError | None = None
    for message in messages:
        label = f"mail {message.id} ({message.dedupe_key})"
        if unavailable is not None:
            error = f"not tried, channel unavailable: {unavailable}"
        else:
            try:
                # the same Message-ID on every attempt: a copy that went out despite an error is a duplicate
                key = f"batch-monitor.{message.dedupe_key}.{int(message.created_at.timestamp() * 1e6)}"
                content = message.content.model_copy(update={"message_key": key})
                channel.send(recipients=list(message.recipients), content=content)
            except NotificationError as exc:
                if isinstance(exc, ChannelUnavailableError):
                    unavailable = exc
                error = str(exc)
            else:
                with engine.begin() as conn:
                    if not outbox.mark_sent(conn, message.id, worker=worker, now=read_clock()):
                        errors.append(f"{label}: sent, but its claim had been taken over by another sender")
                sent += 1
                continue
        with engine.begin() as conn:
            outbox.mark_failed(conn, message.id, worker=worker, error=error, now=read_clock())
        failed += 1
        errors.append(f"{label}: {error}")
    for line in errors:
        log.warning("batch_monitor outbox: %s", line)
    return SendReport(sent=sent, failed=failed, errors=errors)
