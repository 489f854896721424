"""SMTP is down, refuses, or is slow; two senders run at once. Mails are outbox rows: they stay
queued with the error recorded, go out on a later tick, and none is sent twice."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.smtp import SMTP, Envelope, Session
from tests.support.mail import KeepingHandler, MailServer

from batch_monitor import pipeline
from batch_monitor.models import EmailContent
from batch_monitor.notify.channels import SmtpChannel
from batch_monitor.store import outbox

from .conftest import Case
from .support import DPDC, Ccb, outbox_rows, play_ticks, prepare, quarter_ticks

AREA = "Faults: SMTP down, refusing, slow; two senders at once"


class SlowHandler(KeepingHandler):
    """Keeps messages like KeepingHandler, answering EHLO or DATA only after a delay (a message is
    kept before its slow reply, as a server that queued it and then stalls)."""

    def __init__(self, ehlo_delay: float = 0.0, data_delay: float = 0.0) -> None:
        super().__init__()
        self.ehlo_delay = ehlo_delay
        self.data_delay = data_delay

    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        await asyncio.sleep(self.ehlo_delay)
        session.host_name = hostname
        return responses

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        reply = await super().handle_DATA(server, session, envelope)  # taken (queued) first, reply slow
        await asyncio.sleep(self.data_delay)
        return reply


def afternoon(
    store: sa.Engine, tmp_path: Path, mail_server: MailServer, before: Any, last: str = "17:00"
) -> list[dict[str, Any]]:
    """The failure scenario's 14:15–17:00 ticks with mail: FAILED opens 14:30, recovers 16:30."""
    ccb = Ccb(tmp_path, "failure")
    prepare(store)
    play_ticks(ccb, store, quarter_ticks("14:15", last), channel=SmtpChannel(), before=before)
    ccb.dispose()
    return outbox_rows(store)


def received_subjects(mail_server: MailServer) -> list[str]:
    return [str(m.message["Subject"]) for m in mail_server.received]


def test_an_smtp_server_that_is_down_keeps_mails_queued_with_the_error_until_it_is_back(
    store: sa.Engine, mail_server: MailServer, tmp_path: Path, reliability: Case
) -> None:
    reliability.tried(
        "SMTP server stopped from 14:15 to 15:45 (FAILED opens 14:30); back from 16:00; ticks every 15 min"
    )
    errors: list[str] = []

    def outage(as_of: dt.datetime) -> None:
        if as_of == quarter_ticks("14:15", "14:15")[0]:
            mail_server.stop()
        if as_of == quarter_ticks("16:00", "16:00")[0]:
            rows = outbox_rows(store)
            errors.extend(r["last_error"] for r in rows)
            attempts.extend(r["attempts"] for r in rows)
            mail_server.start()

    attempts: list[int] = []
    rows = afternoon(store, tmp_path, mail_server, outage)
    assert len(errors) == 1 and "cannot connect" in errors[0] and attempts == [len(quarter_ticks("14:30", "15:45"))]
    assert all(r["sent_at"] is not None for r in rows) and len(rows) == 2
    assert Counter(received_subjects(mail_server)) == Counter({s: 1 for s in (r["subject"] for r in rows)})
    reliability.observed(
        f"the FAILED mail stayed queued through {attempts[0]} failed attempts, last_error “{errors[0]}”; "
        f"sent at the 16:00 tick; then its recovery mail; {len(mail_server.received)} mails received, each once"
    )


def test_an_smtp_server_refusing_mail_keeps_it_queued_with_the_reply_and_sends_it_once_accepted(
    store: sa.Engine, mail_server: MailServer, tmp_path: Path, reliability: Case
) -> None:
    refusal = "554 5.7.1 Message rejected by policy"
    reliability.tried(f"SMTP server answers DATA with “{refusal}” from 14:15 to 15:45, accepts from 16:00")
    errors: list[str] = []

    def refusing(as_of: dt.datetime) -> None:
        if as_of == quarter_ticks("14:15", "14:15")[0]:
            mail_server.handler.refuse_data = refusal
        if as_of == quarter_ticks("16:00", "16:00")[0]:
            errors.extend(r["last_error"] for r in outbox_rows(store))
            mail_server.handler.refuse_data = None

    rows = afternoon(store, tmp_path, mail_server, refusing)
    assert len(errors) == 1 and "554" in errors[0]
    assert [r["attempts"] for r in rows] == [len(quarter_ticks("14:30", "15:45")) + 1, 1] and all(
        r["sent_at"] for r in rows
    )
    assert len(mail_server.received) == 2 == len(set(received_subjects(mail_server)))
    reliability.observed(
        f"last_error “{errors[0]}”; the mail was tried at each tick ({rows[0]['attempts']} attempts) and "
        "delivered once at 16:00; its recovery mail once"
    )


def test_an_smtp_server_slower_than_the_timeout_delays_mail_without_losing_or_doubling_it(
    store: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reliability: Case
) -> None:
    reliability.tried(
        "SMTP server that answers EHLO only after 4 s, with the connection's timeout at 1 s, from 14:15 to "
        "15:45; answers at once from 16:00"
    )
    server = MailServer()
    server.handler = SlowHandler(ehlo_delay=4)
    server.start()
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", server.connection_json(timeout=1))

    def slow(as_of: dt.datetime) -> None:
        if as_of == quarter_ticks("16:00", "16:00")[0]:
            errors.extend(r["last_error"] for r in outbox_rows(store))
            assert isinstance(server.handler, SlowHandler)
            server.handler.ehlo_delay = 0

    errors: list[str] = []
    try:
        rows = afternoon(store, tmp_path, server, slow)
    finally:
        server.stop()
    assert len(errors) == 1 and ("timed out" in errors[0] or "Timeout" in errors[0])
    assert all(r["sent_at"] for r in rows) and len(server.received) == 2 == len(set(received_subjects(server)))
    reliability.observed(f"last_error “{errors[0]}”; nothing delivered while slow; then 2 mails, each once")


def test_a_mail_the_server_took_after_the_client_gave_up_is_resent_with_the_same_message_id(
    store: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reliability: Case
) -> None:
    reliability.tried(
        "SMTP server that accepts the message but replies to DATA only after 3 s, with the client's timeout at "
        "1 s (the mail arrives while the monitor records a failure), at the 14:30 tick; prompt afterwards"
    )
    server = MailServer()
    server.handler = SlowHandler(data_delay=3)
    server.start()
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", server.connection_json(timeout=1))

    def slow_once(as_of: dt.datetime) -> None:
        if as_of == quarter_ticks("14:45", "14:45")[0]:
            assert isinstance(server.handler, SlowHandler)
            server.handler.data_delay = 0

    try:
        rows = afternoon(store, tmp_path, server, slow_once, last="14:45")
    finally:
        server.stop()
    ids = [str(m.message["Message-ID"]) for m in server.received]
    assert len(rows) == 1 and rows[0]["attempts"] == 2 and rows[0]["sent_at"] is not None
    assert len(ids) == 2 and len(set(ids)) == 1
    reliability.observed(
        f"SMTP cannot tell the monitor the first copy arrived: it was delivered {len(ids)}×, both with "
        f"Message-ID {ids[0]}, so the recipient's mail system shows it once (at-least-once delivery, "
        "deduplicated by Message-ID)"
    )


def test_two_senders_at_once_deliver_every_queued_mail_exactly_once(
    store: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reliability: Case
) -> None:
    mails = 150
    reliability.tried(
        f"{mails} mails queued (a sender claims at most 100 at a time); two notify tasks (pipeline.notify, as the "
        "DAG's notify task) start at the same moment against an SMTP server that takes 20 ms per mail; then "
        "both run once more"
    )
    server = MailServer()
    server.handler = SlowHandler(data_delay=0.02)
    server.start()
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", server.connection_json())
    now = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)
    with store.begin() as conn:
        for n in range(mails):
            content = EmailContent(subject=f"mail {n:03d}", text=f"mail {n}", html=f"<p>mail {n}</p>")
            outbox.enqueue(
                conn,
                dedupe_key=f"load:{n}",
                alert_id=None,
                kind="test",
                recipients=DPDC.on_call,
                content=content,
                now=now,
            )
    sent: Counter[str] = Counter()

    def both_at_once() -> None:
        start = threading.Barrier(2)

        def sender(name: str) -> None:
            start.wait()
            sent[name] += pipeline.notify(store, SmtpChannel(), now, worker=name)[0]

        threads = [threading.Thread(target=sender, args=(name,)) for name in ("worker-a", "worker-b")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)

    try:
        both_at_once()
        first_round = dict(sent)
        both_at_once()
    finally:
        server.stop()
    subjects = Counter(received_subjects(server))
    assert len(subjects) == mails and set(subjects.values()) == {1}
    assert sum(sent.values()) == mails and all(first_round.values())
    assert all(r["sent_at"] is not None for r in outbox_rows(store))
    reliability.observed(
        f"{mails} mails delivered, each exactly once; first round worker-a sent {first_round['worker-a']}, "
        f"worker-b {first_round['worker-b']} at the same time; the second round sent "
        f"{mails - sum(first_round.values())} (atomic claims: UPDATE … FOR UPDATE SKIP LOCKED)"
    )
