"""Alert rows for tests of the outbox, the sender and the channels (outbox rows and events refer to an alert)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from batch_monitor.store import schema

NOW = dt.datetime(2026, 11, 24, 8, 45, tzinfo=dt.UTC)  # 14:45 in Dhaka


def insert_alert(conn: sa.Connection, *, step_id: str = "ppbtr", kind: str = "FAILED") -> int:
    """An open alert row (outbox rows and events refer to it)."""
    return int(
        conn.execute(
            sa.insert(schema.alerts)
            .values(
                workflow_id="dpdc_ami",
                business_date=dt.date(2026, 11, 24),
                step_id=step_id,
                batch_cd="C1-PPBTR",
                kind=kind,
                severity="CRITICAL",
                state="open",
                title="C1-PPBTR failed at 14:30",
                first_seen_at=NOW,
                last_seen_at=NOW,
            )
            .returning(schema.alerts.c.id)
        ).scalar_one()
    )


def alert_events(conn: sa.Connection, alert_id: int) -> list[sa.Row[Any]]:
    t = schema.alert_events
    return list(conn.execute(sa.select(t).where(t.c.alert_id == alert_id).order_by(t.c.id)).all())
