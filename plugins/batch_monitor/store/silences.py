"""Silences in the store: create, list, end (rows are never deleted), and the audit trail.

Every change is a ``batch_silence_events`` row (created, ended) with who, when and why. Which
alerts a silence covers is decided by :mod:`batch_monitor.silences` (pure); the tick asks
:func:`in_effect` for the silences of a workflow as of its moment, maintenance windows included.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa

from batch_monitor import silences as pure
from batch_monitor.config import WorkflowConfig
from batch_monitor.silences import Silence
from batch_monitor.store.repository import utc
from batch_monitor.store.schema import silence_events, silences


def _silence(row: sa.Row[Any]) -> Silence:
    m = row._mapping
    return Silence(
        id=m["id"],
        workflow_id=m["workflow_id"],
        step_id=m["step_id"],
        kinds=tuple(m["kinds"]) if m["kinds"] is not None else None,
        alert_id=m["alert_id"],
        starts_at=m["starts_at"].astimezone(dt.UTC),
        ends_at=m["ends_at"].astimezone(dt.UTC),
        created_by=m["created_by"],
        comment=m["comment"],
        ended_at=None if m["ended_at"] is None else m["ended_at"].astimezone(dt.UTC),
        ended_by=m["ended_by"],
        created_at=m["created_at"].astimezone(dt.UTC),
    )


def create(
    conn: sa.Connection,
    *,
    workflow_id: str,
    step_id: str | None,
    kinds: list[str] | None,
    alert_id: int | None,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    comment: str,
    user: str,
    now: dt.datetime,
) -> Silence:
    """Store a silence (a snooze when ``alert_id`` is given) and its ``created`` event."""
    t = silences
    row = conn.execute(
        sa.insert(t)
        .values(
            workflow_id=workflow_id,
            step_id=step_id,
            kinds=kinds,
            alert_id=alert_id,
            starts_at=utc(starts_at, "starts_at"),
            ends_at=utc(ends_at, "ends_at"),
            comment=comment,
            created_by=user,
            created_at=utc(now, "now"),
        )
        .returning(*t.c)
    ).one()
    silence = _silence(row)
    scope = {"step_id": step_id, "kinds": kinds, "alert_id": alert_id}
    window = {"starts_at": silence.starts_at.isoformat(), "ends_at": silence.ends_at.isoformat()}
    _event(conn, silence.id, "created", user, comment, now, {**scope, **window})
    return silence


def _event(
    conn: sa.Connection,
    silence_id: int | None,
    event: str,
    actor: str,
    comment: str | None,
    now: dt.datetime,
    details: dict[str, Any],
) -> None:
    conn.execute(
        sa.insert(silence_events).values(
            silence_id=silence_id, event=event, at=utc(now, "now"), actor=actor, comment=comment, details=details
        )
    )


@dataclass(frozen=True)
class EndResult:
    silence: Silence
    outcome: Literal["ended", "already_over"]


def end(conn: sa.Connection, silence_id: int, *, user: str, comment: str | None, now: dt.datetime) -> EndResult | None:
    """End a silence now (``ended_at``/``ended_by``; the row stays). None for an unknown id.

    Of two operators ending one at once, exactly one ends it; the other learns it is over.
    """
    now = utc(now, "now")
    t = silences
    done = conn.execute(
        sa.update(t)
        .where(t.c.id == silence_id, t.c.ended_at.is_(None), t.c.ends_at > now)
        .values(ended_at=now, ended_by=user)
        .returning(*t.c)
    ).first()
    if done is not None:
        _event(conn, silence_id, "ended", user, comment, now, {})
        return EndResult(_silence(done), "ended")
    row = conn.execute(sa.select(t).where(t.c.id == silence_id)).first()
    return None if row is None else EndResult(_silence(row), "already_over")


def get(conn: sa.Connection, silence_id: int) -> Silence | None:
    row = conn.execute(sa.select(silences).where(silences.c.id == silence_id)).first()
    return None if row is None else _silence(row)


def listed(
    conn: sa.Connection, workflow_ids: Collection[str], *, active_at: dt.datetime | None = None, limit: int = 500
) -> list[Silence]:
    """The workflows' silences, newest first; only those in effect or yet to come when ``active_at``
    is given (ended ones are kept in the store and listed without it)."""
    t = silences
    query = sa.select(t).where(t.c.workflow_id.in_(list(workflow_ids)))
    if active_at is not None:
        moment = utc(active_at, "active_at")
        query = query.where(t.c.ends_at > moment, sa.or_(t.c.ended_at.is_(None), t.c.ended_at > moment))
    return [_silence(r) for r in conn.execute(query.order_by(t.c.id.desc()).limit(limit))]


def events(conn: sa.Connection, silence_ids: Collection[int]) -> dict[int, list[dict[str, Any]]]:
    """The audit trail of these silences, oldest first: {silence id: [event row, ...]}."""
    if not silence_ids:
        return {}
    e = silence_events
    found: dict[int, list[dict[str, Any]]] = {}
    query = sa.select(e).where(e.c.silence_id.in_(list(silence_ids))).order_by(e.c.id)
    for row in conn.execute(query):
        values = dict(row._mapping)
        values["at"] = values["at"].astimezone(dt.UTC)
        found.setdefault(row.silence_id, []).append(values)
    return found


def in_effect(conn: sa.Connection, workflow: WorkflowConfig, at: dt.datetime) -> list[Silence]:
    """The silences covering anything of ``workflow`` at ``at``: stored ones and maintenance windows."""
    at = utc(at, "at")
    t = silences
    rows = conn.execute(
        sa.select(t).where(
            t.c.workflow_id == workflow.workflow_id,
            t.c.starts_at <= at,
            t.c.ends_at > at,
            sa.or_(t.c.ended_at.is_(None), t.c.ended_at > at),
        )
    )
    stored = [_silence(r) for r in rows]
    return stored + pure.workflow_maintenance(workflow, at, at + dt.timedelta(microseconds=1))
