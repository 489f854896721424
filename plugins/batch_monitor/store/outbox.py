"""The e-mail outbox: mails are rows, written in the same transaction as the alert event.

A sender claims rows with one atomic UPDATE (``FOR UPDATE SKIP LOCKED``), so several senders
can run at once without handing the same mail out twice; a claim older than ``stale_after``
(a sender that died mid-way) is taken over. Sent and failed deliveries are recorded on the
row and, for alert mails, as ``emailed`` / ``email_failed`` events of the alert.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from batch_monitor.models import EmailContent
from batch_monitor.store.schema import alert_events, email_outbox

DEFAULT_STALE_AFTER = dt.timedelta(minutes=10)
_MAX_ERROR_CHARS = 4000


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
) -> bool:
    """Queue one mail. Returns False (and changes nothing) if ``dedupe_key`` is already queued.

    ``kind`` is 'alert', 'recovery' or another short word (at most 16 characters).
    ``recipients`` must not be empty: a mail to nobody would look sent while nobody read it.
    """
    _require_aware("now", now)
    addresses = [r.strip() for r in recipients if r and r.strip()]
    if not addresses:
        raise ValueError(f"enqueue({dedupe_key!r}): recipients is empty; give at least one address")
    if not dedupe_key:
        raise ValueError("enqueue: dedupe_key is empty")
    if not kind or len(kind) > 16:
        raise ValueError(f"enqueue({dedupe_key!r}): kind {kind!r} must be 1 to 16 characters")
    stmt = (
        pg_insert(email_outbox)
        .values(
            dedupe_key=dedupe_key,
            alert_id=alert_id,
            kind=kind,
            recipients=addresses,
            subject=content.subject,
            body_text=content.text,
            body_html=content.html,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=[email_outbox.c.dedupe_key])
        .returning(email_outbox.c.id)
    )
    return conn.execute(stmt).scalar_one_or_none() is not None


def _message(row: sa.Row[Any]) -> OutboxMessage:
    m = row._mapping
    return OutboxMessage(
        id=int(m["id"]),
        dedupe_key=m["dedupe_key"],
        alert_id=m["alert_id"],
        kind=m["kind"],
        recipients=tuple(m["recipients"]),
        content=EmailContent(subject=m["subject"], text=m["body_text"], html=m["body_html"]),
        attempts=int(m["attempts"]),
        created_at=m["created_at"],
        claimed_at=m["claimed_at"],
        claimed_by=m["claimed_by"],
        last_error=m["last_error"],
    )


def claim(
    conn: sa.Connection,
    *,
    worker: str,
    now: dt.datetime,
    limit: int = 50,
    stale_after: dt.timedelta = DEFAULT_STALE_AFTER,
) -> list[OutboxMessage]:
    """Claim up to ``limit`` unsent mails for ``worker``, oldest first, in one atomic UPDATE.

    Rows another transaction holds are skipped, not waited for; rows claimed by a sender that
    has not finished within ``stale_after`` are taken over. Commit promptly after claiming.
    """
    _require_aware("now", now)
    if limit < 1:
        raise ValueError(f"claim: limit must be at least 1, got {limit}")
    t = email_outbox
    candidates = (
        sa.select(t.c.id)
        .where(t.c.sent_at.is_(None))
        .where(sa.or_(t.c.claimed_at.is_(None), t.c.claimed_at < now - stale_after))
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


def mark_sent(conn: sa.Connection, message_id: int, *, worker: str, now: dt.datetime) -> bool:
    """Record a delivery. False if the row is no longer claimed by ``worker`` (taken over, or sent)."""
    _require_aware("now", now)
    t = email_outbox
    stmt = (
        sa.update(t)
        .where(t.c.id == message_id, t.c.claimed_by == worker, t.c.sent_at.is_(None))
        .values(sent_at=now, attempts=t.c.attempts + 1, last_error=None)
        .returning(t.c.alert_id, t.c.kind, t.c.recipients, t.c.attempts, t.c.created_at)
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
    _record_event(conn, row.alert_id, "emailed", now, details)
    return True


def mark_failed(conn: sa.Connection, message_id: int, *, worker: str, error: str, now: dt.datetime) -> bool:
    """Record a failed delivery and release the claim, so a later call retries it.

    False if the row is no longer claimed by ``worker``.
    """
    _require_aware("now", now)
    error = error[:_MAX_ERROR_CHARS]
    t = email_outbox
    stmt = (
        sa.update(t)
        .where(t.c.id == message_id, t.c.claimed_by == worker, t.c.sent_at.is_(None))
        .values(claimed_at=None, claimed_by=None, attempts=t.c.attempts + 1, last_error=error)
        .returning(t.c.alert_id, t.c.kind, t.c.attempts)
    )
    row = conn.execute(stmt).one_or_none()
    if row is None:
        return False
    details = {"outbox_id": message_id, "mail": row.kind, "attempts": row.attempts, "error": error}
    _record_event(conn, row.alert_id, "email_failed", now, details)
    return True


def pending(conn: sa.Connection) -> int:
    """How many mails are not sent yet (claimed or not)."""
    t = email_outbox
    return int(conn.execute(sa.select(sa.func.count()).select_from(t).where(t.c.sent_at.is_(None))).scalar_one())
