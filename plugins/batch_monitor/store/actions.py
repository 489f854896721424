"""Operators' actions on alerts: acknowledge and resolve by hand (the API's writes).

Each action is one conditional UPDATE, so of two people acting at once exactly one wins; every
attempt, won or not, is recorded as an event of the alert. What the monitor itself does to alerts
at each tick is in :mod:`batch_monitor.store.alerts`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa

from batch_monitor.alerting import ACKNOWLEDGED, ACTIVE_STATES, OPEN, RESOLVED
from batch_monitor.store.repository import utc
from batch_monitor.store.schema import alert_events, alerts


@dataclass(frozen=True)
class AckResult:
    """The outcome of an acknowledgement: who holds the alert now and whether this call won."""

    alert_id: int
    outcome: Literal["acknowledged", "already_acknowledged", "resolved"]
    state: str
    acknowledged_by: str | None
    acknowledged_at: dt.datetime | None
    ack_comment: str | None

    @property
    def ok(self) -> bool:
        return self.outcome == "acknowledged"


@dataclass(frozen=True)
class ResolveResult:
    """The outcome of a manual resolve."""

    alert_id: int
    outcome: Literal["resolved", "already_resolved"]
    resolved_by: str | None
    resolved_at: dt.datetime | None
    resolution: str | None

    @property
    def ok(self) -> bool:
        return self.outcome == "resolved"


def _utc_or_none(moment: dt.datetime | None) -> dt.datetime | None:
    return None if moment is None else moment.astimezone(dt.UTC)


def _event(
    conn: sa.Connection,
    alert_id: int,
    event: str,
    *,
    actor: str,
    comment: str | None,
    now: dt.datetime,
    details: dict[str, Any] | None = None,
) -> None:
    conn.execute(
        sa.insert(alert_events).values(
            alert_id=alert_id, event=event, at=now, actor=actor, comment=comment, details=details or {}
        )
    )


def acknowledge_alert(
    conn: sa.Connection, alert_id: int, *, user: str, comment: str | None, now: dt.datetime
) -> AckResult | None:
    """Acknowledge an open alert. Of two people acknowledging at once exactly one wins.

    The result says who holds it; a repeated or rejected attempt is recorded as an
    ``ack_repeated`` / ``ack_rejected`` event. None when there is no such alert.
    """
    now = utc(now, "now")
    t = alerts
    won = conn.execute(
        sa.update(t)
        .where(t.c.id == alert_id, t.c.state == OPEN)
        .values(state=ACKNOWLEDGED, acknowledged_at=now, acknowledged_by=user, ack_comment=comment, updated_at=now)
        .returning(t.c.state, t.c.acknowledged_by, t.c.acknowledged_at, t.c.ack_comment)
    ).first()
    if won is not None:
        _event(conn, alert_id, "acknowledged", actor=user, comment=comment, now=now)
        return AckResult(
            alert_id, "acknowledged", won.state, won.acknowledged_by, _utc_or_none(won.acknowledged_at), won.ack_comment
        )
    row = conn.execute(
        sa.select(t.c.state, t.c.acknowledged_by, t.c.acknowledged_at, t.c.ack_comment).where(t.c.id == alert_id)
    ).first()
    if row is None:
        return None
    if row.state == ACKNOWLEDGED:
        event = "ack_repeated" if row.acknowledged_by == user else "ack_rejected"
        details = {"acknowledged_by": row.acknowledged_by, "acknowledged_at": row.acknowledged_at.isoformat()}
        _event(conn, alert_id, event, actor=user, comment=comment, now=now, details=details)
        outcome: Literal["already_acknowledged", "resolved"] = "already_acknowledged"
    else:
        _event(conn, alert_id, "ack_rejected", actor=user, comment=comment, now=now, details={"reason": "resolved"})
        outcome = "resolved"
    return AckResult(
        alert_id, outcome, row.state, row.acknowledged_by, _utc_or_none(row.acknowledged_at), row.ack_comment
    )


def resolve_alert(
    conn: sa.Connection, alert_id: int, *, user: str, comment: str | None, now: dt.datetime
) -> ResolveResult | None:
    """Resolve an open or acknowledged alert by hand (resolution 'manual'). None for an unknown id.

    The alert stays resolved while its condition holds; it reopens if the condition clears and
    comes back. No recovery mail: the condition did not clear.
    """
    now = utc(now, "now")
    t = alerts
    done = conn.execute(
        sa.update(t)
        .where(t.c.id == alert_id, t.c.state.in_(ACTIVE_STATES))
        .values(state=RESOLVED, resolved_at=now, resolved_by=user, resolution="manual", updated_at=now)
        .returning(t.c.resolved_by, t.c.resolved_at, t.c.resolution)
    ).first()
    if done is not None:
        _event(conn, alert_id, "resolved", actor=user, comment=comment, now=now, details={"resolution": "manual"})
        return ResolveResult(alert_id, "resolved", done.resolved_by, _utc_or_none(done.resolved_at), done.resolution)
    row = conn.execute(sa.select(t.c.resolved_by, t.c.resolved_at, t.c.resolution).where(t.c.id == alert_id)).first()
    if row is None:
        return None
    return ResolveResult(alert_id, "already_resolved", row.resolved_by, _utc_or_none(row.resolved_at), row.resolution)
