"""Fixtures for the mail tests: a real SMTP server (aiosmtpd), the Airflow connection to it,
a migrated store, and alert contexts to render."""

from __future__ import annotations

import datetime as dt
from typing import Any

import airflow.providers.smtp.hooks.smtp  # noqa: F401  (Airflow sets up logging on import: before caplog)
import pytest
import sqlalchemy as sa
from tests.support.mail import MailServer, Received  # noqa: F401  (re-exported for the tests)

from batch_monitor.constants import FindingKind, Severity
from batch_monitor.models import AlertContext
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


@pytest.fixture
def failed_alert() -> AlertContext:
    """C1-PPBTR failed at 14:30 Dhaka time with an Oracle error that contains markup."""
    return AlertContext(
        alert_id=42,
        workflow_id="dpdc_ami",
        workflow_name="DPDC AMI daily billing",
        timezone="Asia/Dhaka",
        business_date=dt.date(2026, 11, 24),
        step_id="ppbtr",
        step_name="Prepay billing",
        batch_code="C1-PPBTR",
        kind=FindingKind.FAILED,
        severity=Severity.CRITICAL,
        title="C1-PPBTR failed at 14:30 — ORA-12545 Connection timeout",
        since=dt.datetime(2026, 11, 24, 8, 30, tzinfo=dt.UTC),
        first_seen_at=dt.datetime(2026, 11, 24, 8, 31, tzinfo=dt.UTC),
        last_seen_at=dt.datetime(2026, 11, 24, 8, 46, tzinfo=dt.UTC),
        expected="C1-PPBTR completes by 15:00",
        actual="Run 4711 ended in error after 12 min (thread 3 of 8)",
        error_text='ORA-12545: Connect failed <script>alert("x")</script>\n    at C1PPBTR.execute line 88',
        action="Check the CC&B database listener, then rerun C1-PPBTR from the last commit point.",
        run_key="C1-PPBTR:4711:0",
        page_url="https://airflow.example/batch-monitor/?workflow=dpdc_ami&date=2026-11-24&alert=42",
    )
