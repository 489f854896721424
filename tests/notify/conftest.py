"""Fixtures for the mail tests: a real SMTP server (aiosmtpd), the Airflow connection to it,
a migrated store, and alert contexts to render."""

from __future__ import annotations

import datetime as dt

import airflow.providers.smtp.hooks.smtp  # noqa: F401  (Airflow sets up logging on import: before caplog)
import pytest
from tests.support.mail import MailServer, Received  # noqa: F401  (re-exported for the tests)

from batch_monitor.constants import FindingKind, Severity
from batch_monitor.models import AlertContext


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
