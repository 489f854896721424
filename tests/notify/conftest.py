"""Fixtures for the mail tests: a real SMTP server (aiosmtpd), the Airflow connection to it,
a migrated store, and alert contexts to render."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import airflow.providers.smtp.hooks.smtp  # noqa: F401  (Airflow sets up logging on import: before caplog)
import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from batch_monitor.constants import FindingKind, Severity
from batch_monitor.models import AlertContext
from batch_monitor.store import schema
from batch_monitor.store.migrate import migrate


@dataclass(frozen=True)
class Received:
    """One message as the server got it."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


class KeepingHandler:
    """Keeps every message; refuses recipients listed in ``bounce`` and, when ``refuse_data``
    is set, every message with that reply."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.bounce: set[str] = set()
        self.refuse_data: str | None = None

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.bounce:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.refuse_data:
            return self.refuse_data
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        # wire format has CRLF line ends; parse it as a local file would be
        message = email.message_from_bytes(raw.replace(b"\r\n", b"\n"), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.received.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MailServer:
    """An aiosmtpd server on 127.0.0.1 that can be stopped and started again on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.handler = KeepingHandler()
        self._controller: Controller | None = None

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    def start(self) -> None:
        self._controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def connection_json(self, **extra: Any) -> str:
        return json.dumps(
            {
                "conn_type": "smtp",
                "host": "127.0.0.1",
                "port": self.port,
                "extra": {
                    "disable_ssl": True,
                    "disable_tls": True,
                    "from_email": "monitor@example.com",
                    "timeout": 5,
                    "retry_limit": 0,
                    **extra,
                },
            }
        )


@pytest.fixture
def mail_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[MailServer]:
    """A running SMTP server, and AIRFLOW_CONN_SMTP_DEFAULT pointing at it."""
    server = MailServer()
    server.start()
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", server.connection_json())
    yield server
    server.stop()


@pytest.fixture
def store(fresh_pg_url: str) -> Iterator[sa.Engine]:
    """An engine on a fresh database holding the store's tables."""
    engine = sa.create_engine(fresh_pg_url)
    migrate(engine)
    yield engine
    engine.dispose()


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
