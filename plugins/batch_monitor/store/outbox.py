"""The outbox: messages are rows, written in the same transaction as the alert event.

One row per message and channel (``email``, ``slack``, ``apprise``): the dedupe key is unique per
channel, so each channel is delivered, retried and recorded on its own, and one channel being
down never blocks or duplicates another.

A sender claims one channel's rows with one atomic UPDATE (``FOR UPDATE SKIP LOCKED``), so several
senders can run at once without handing the same message out twice; a claim older than
``stale_after`` (a sender that died mid-way) is taken over, and a row is not claimed before its
``next_attempt_at`` (a rate limit's Retry-After). Sent and failed deliveries are recorded on the
row and, for alert messages, as events of the alert: ``emailed`` / ``email_failed`` for mail,
``posted`` / ``post_failed`` (with the channel) for the others.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from batch_monitor.models import EmailContent, Notice
from batch_monitor.store.schema import alert_events, email_outbox

DEFAULT_STALE_AFTER = dt.timedelta(minutes=10)
_MAX_ERROR_CHARS = 4000
EMAIL = "email"
CHANNELS = ("email", "slack", "apprise")


@dataclass(frozen=True)
class OutboxMessage:
    """One queued mail, as a sender sees it after claiming it."""

    id: int
    dedupe_key: str
    alert_id: int | None
    kind: str
    recipients: tuple[str, ...]
    content: EmailContent
    attempts: int
    created_at: dt.datetime
    claimed_at: dt.datetime | None
    claimed_by: str | None
    last_error: str | None
    channel: str = EMAIL
    next_attempt_at: dt.datetime | None = None
    remote_ref: dict[str, Any] | None = None


def _require_aware(name: str, moment: dt.datetime) -> None:
    if moment.tzinfo is None:
        raise ValueError(f"{name} must be an aware datetime (UTC), got {moment!r}")


def enqueue(
    conn: sa.Connection,
    *,
    dedupe_key: str,
    alert_id: int | None,
    kind: str,
    recipients: list[str],
    content: EmailContent,
    now: dt.datetime,
    channels: Sequence[str] = (EMAIL,),
) -> bool:
    """Queue one message, one row per channel. True if a row was queued for at least one channel.

    A channel that already holds ``dedupe_key`` is left as it is (replays queue nothing twice).
    ``kind`` is 'alert', 'recovery' or another short word (at most 16 characters).
    ``recipients`` are the e-mail row's; without any, mail is left out (a mail to nobody would look
    sent while nobody read it), and with no other channel that is an error.
    """
    _require_aware("now", now)
    addresses = [r.strip() for r in recipients if r and r.strip()]
    if not dedupe_key:
        raise ValueError("enqueue: dedupe_key is empty")
    if not kind or len(kind) > 16:
        raise ValueError(f"enqueue({dedupe_key!r}): kind {kind!r} must be 1 to 16 characters")
    unknown = [c for c in channels if c not in CHANNELS]
    if unknown:
        raise ValueError(f"enqueue({dedupe_key!r}): unknown channel(s) {unknown}; use {', '.join(CHANNELS)}")
    targets = [c for c in dict.fromkeys(channels) if c != EMAIL or addresses]
    if not targets:
        raise ValueError(f"enqueue({dedupe_key!r}): recipients is empty; give at least one address")
    notice = content.notice.model_dump(mode="json") if content.notice is not None else None
    rows = [
        {
            "dedupe_key": dedupe_key,
            "channel": channel,
            "alert_id": alert_id,
            "kind": kind,
            "recipients": addresses if channel == EMAIL else [],
            "subject": content.subject,
            "body_text": content.text,
            "body_html": content.html,
            "notice": notice,
            "created_at": now,
        }
        for channel in targets
    ]
    stmt = (
        pg_insert(email_outbox)
        .values(rows)
        .on_conflict_do_nothing(index_elements=[email_outbox.c.dedupe_key, email_outbox.c.channel])
        .returning(email_outbox.c.id)
    )
    return bool(conn.execute(stmt).all())


def _message(row: sa.Row[Any]) -> OutboxMessage:
    m = row._mapping
    return OutboxMessage(
        id=int(m["id"]),
        dedupe_key=m["dedupe_key"],
        alert_id=m["alert_id"],
        kind=m["kind"],
        recipients=tuple(m["recipients"]),
        content=EmailContent(
            subject=m["subject"],
            text=m["body_text"],
            html=m["body_html"],
            notice=Notice.model_validate(m["notice"]) if m["notice"] else None,
        ),
        attempts=int(m["attempts"]),
        created_at=m["created_at"],
        claimed_at=m["claimed_at"],
        claimed_by=m["claimed_by"],
        last_error=m["last_error"],
        channel=m["channel"],
        next_attempt_at=m["next_attempt_at"],
        remote_ref=m["remote_ref"],
    )


def claim(
    conn: sa.Connection,
    *,
    worker: str,
    now: dt.datetime,
    limit: int = 50,
    stale_after: dt.timedelta = DEFAULT_STALE_AFTER,
    channel: str = EMAIL,
) -> list[OutboxMessage]:
    """Claim up to ``limit`` unsent rows of ``channel`` for ``worker``, oldest first, in one atomic UPDATE.

    Rows another transaction holds are skipped, not waited for; rows claimed by a sender that
    has not finished within ``stale_after`` are taken over; rows whose ``next_attempt_at`` is
    after ``now`` wait. Commit promptly after claiming.
    """
    _require_aware("now", now)
    if limit < 1:
        raise ValueError(f"claim: limit must be at least 1, got {limit}")
    t = email_outbox
    candidates = (
        sa.select(t.c.id)
        .where(t.c.sent_at.is_(None), t.c.channel == channel)
        .where(sa.or_(t.c.claimed_at.is_(None), t.c.claimed_at < now - stale_after))
        .where(sa.or_(t.c.next_attempt_at.is_(None), t.c.next_attempt_at <= now))
        .order_by(t.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    stmt = (
        sa.update(t)
        .where(t.c.id.in_(candidates.scalar_subquery()))
        .values(claimed_at=now, claimed_by=worker)
        .returning(*t.c)
    )
    rows = conn.execute(stmt).all()
    return sorted((_message(r) for r in rows), key=lambda m: m.id)


def _record_event(
    conn: sa.Connection, alert_id: int | None, event: str, now: dt.datetime, details: dict[str, Any]
) -> None:
    if alert_id is None:
        return
    conn.execute(sa.insert(alert_events).values(alert_id=alert_id, event=event, at=now, details=details))


def mark_sent(
    conn: sa.Connection,
    message_id: int,
    *,
    worker: str,
    now: dt.datetime,
    remote_ref: dict[str, Any] | None = None,
) -> bool:
    """Record a delivery (and what the channel returned, e.g. Slack's ``ts``).

    False if the row is no longer claimed by ``worker`` (taken over, or sent).
    """
    _require_aware("now", now)
    t = email_outbox
    stmt = (
        sa.update(t)
        .where(t.c.id == message_id, t.c.claimed_by == worker, t.c.sent_at.is_(None))
        .values(sent_at=now, attempts=t.c.attempts + 1, last_error=None, next_attempt_at=None, remote_ref=remote_ref)
        .returning(t.c.alert_id, t.c.kind, t.c.recipients, t.c.attempts, t.c.created_at, t.c.channel)
    )
    row = conn.execute(stmt).one_or_none()
    if row is None:
        return False
    details = {
        "outbox_id": message_id,
        "mail": row.kind,
        "recipients": list(row.recipients),
        "attempts": row.attempts,
        "worker": worker,
        "queued_at": row.created_at.isoformat(),
    }
    if row.channel != EMAIL:
        details = {k: v for k, v in details.items() if k != "recipients"} | {"channel": row.channel}
    _record_event(conn, row.alert_id, "emailed" if row.channel == EMAIL else "posted", now, details)
    return True


def mark_failed(
    conn: sa.Connection,
    message_id: int,
    *,
    worker: str,
    error: str,
    now: dt.datetime,
    retry_at: dt.datetime | None = None,
) -> bool:
    """Record a failed delivery and release the claim, so a later call retries it (not before
    ``retry_at`` when given: a rate limit's Retry-After).

    False if the row is no longer claimed by ``worker``.
    """
    _require_aware("now", now)
    error = error[:_MAX_ERROR_CHARS]
    t = email_outbox
    stmt = (
        sa.update(t)
        .where(t.c.id == message_id, t.c.claimed_by == worker, t.c.sent_at.is_(None))
        .values(claimed_at=None, claimed_by=None, attempts=t.c.attempts + 1, last_error=error, next_attempt_at=retry_at)
        .returning(t.c.alert_id, t.c.kind, t.c.attempts, t.c.channel)
    )
    row = conn.execute(stmt).one_or_none()
    if row is None:
        return False
    details: dict[str, Any] = {"outbox_id": message_id, "mail": row.kind, "attempts": row.attempts, "error": error}
    if row.channel != EMAIL:
        details["channel"] = row.channel
    if retry_at is not None:
        details["retry_at"] = retry_at.isoformat()
    _record_event(conn, row.alert_id, "email_failed" if row.channel == EMAIL else "post_failed", now, details)
    return True


def thread_ref(conn: sa.Connection, alert_id: int | None, channel: str) -> dict[str, Any] | None:
    """What ``channel`` returned for the alert's latest delivered problem message (Slack: its
    ``ts``), so a follow-up (recovery, reminder) can reply in its thread. None: nothing to thread on."""
    if alert_id is None:
        return None
    t = email_outbox
    ref = conn.execute(
        sa.select(t.c.remote_ref)
        .where(t.c.alert_id == alert_id, t.c.channel == channel, t.c.kind == "alert")
        .where(t.c.sent_at.is_not(None), t.c.remote_ref.is_not(None))
        .order_by(t.c.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    return dict(ref) if ref else None


def queued(conn: sa.Connection, dedupe_key: str, channels: Sequence[str]) -> bool:
    """Does every one of ``channels`` hold a row for ``dedupe_key`` (sent or not)?"""
    t = email_outbox
    found = conn.execute(
        sa.select(sa.func.count(sa.distinct(t.c.channel))).where(
            t.c.dedupe_key == dedupe_key, t.c.channel.in_(list(channels))
        )
    ).scalar_one()
    return int(found) >= len(set(channels))


def pending(conn: sa.Connection, channel: str | None = None) -> int:
    """How many messages (of ``channel``, default every channel) are not sent yet (claimed or not)."""
    t = email_outbox
    query = sa.select(sa.func.count()).select_from(t).where(t.c.sent_at.is_(None))
    if channel is not None:
        query = query.where(t.c.channel == channel)
    return int(conn.execute(query).scalar_one())
