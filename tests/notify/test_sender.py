"""send_pending: outbox → real SMTP server, with outages and refusals, on a real PostgreSQL."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from tests.support.alerts import NOW, alert_events, insert_alert
from tests.support.mail import MailServer

from batch_monitor.models import EmailContent
from batch_monitor.notify.channels import SmtpChannel
from batch_monitor.notify.sender import send_pending
from batch_monitor.store import outbox, schema


def queue(engine: sa.Engine, key: str, *, to: str = "oncall@example.com", alert_id: int | None = None) -> None:
    with engine.begin() as conn:
        outbox.enqueue(
            conn,
            dedupe_key=key,
            alert_id=alert_id,
            kind="alert",
            recipients=[to],
            content=EmailContent(subject=f"mail {key}", text=f"text {key}", html=f"<p>html {key}</p>"),
            now=NOW,
        )


def subjects(server: MailServer) -> list[str]:
    return [str(r.message["Subject"]) for r in server.received]


def outbox_rows(engine: sa.Engine) -> list[sa.Row[object]]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(schema.email_outbox).order_by(schema.email_outbox.c.id)).all())


def test_it_sends_every_queued_mail_once(store: sa.Engine, mail_server: MailServer) -> None:
    for key in ("a", "b", "c"):
        queue(store, key)

    first = send_pending(store, SmtpChannel(), worker="sender-1", now=NOW, clock=lambda: NOW)
    second = send_pending(store, SmtpChannel(), worker="sender-1", now=NOW + dt.timedelta(minutes=1))

    assert (first.sent, first.failed, first.errors) == (3, 0, [])
    assert (second.sent, second.failed) == (0, 0)
    assert subjects(mail_server) == ["mail a", "mail b", "mail c"]
    assert all(row.sent_at == NOW for row in outbox_rows(store))


def test_e_mailed_is_when_the_server_accepted_the_mail_not_when_the_tick_queued_it(
    store: sa.Engine, mail_server: MailServer
) -> None:
    with store.begin() as conn:
        alert_id = insert_alert(conn)
    queue(store, f"alert:{alert_id}:opened", alert_id=alert_id)  # by the tick of NOW
    accepted = NOW + dt.timedelta(minutes=7)
    read_when: list[int] = []

    def clock() -> dt.datetime:
        read_when.append(len(mail_server.received))
        return accepted

    send_pending(store, SmtpChannel(), worker="sender-1", now=NOW, clock=clock)

    assert read_when == [1]  # read once, after the server had the mail
    with store.connect() as conn:
        (event,) = alert_events(conn, alert_id)
    assert (event.event, event.at) == ("emailed", accepted)
    assert event.details["queued_at"] == NOW.isoformat()
    assert [row.sent_at for row in outbox_rows(store)] == [accepted]


def test_by_default_e_mailed_is_the_wall_clock_even_when_a_past_tick_sends(
    store: sa.Engine, mail_server: MailServer
) -> None:
    with store.begin() as conn:
        alert_id = insert_alert(conn)
    queue(store, f"alert:{alert_id}:opened", alert_id=alert_id)
    before = dt.datetime.now(dt.UTC)
    send_pending(store, SmtpChannel(), worker="sender-1", now=NOW)  # a replayed tick, long past
    after = dt.datetime.now(dt.UTC)
    with store.connect() as conn:
        (event,) = alert_events(conn, alert_id)
    assert before <= event.at <= after


def test_an_alert_mail_that_went_out_shows_on_the_alert(store: sa.Engine, mail_server: MailServer) -> None:
    with store.begin() as conn:
        alert_id = insert_alert(conn)
    queue(store, f"alert:{alert_id}:opened", alert_id=alert_id)

    send_pending(store, SmtpChannel(), worker="sender-1", now=NOW)

    with store.connect() as conn:
        assert [e.event for e in alert_events(conn, alert_id)] == ["emailed"]


def test_an_smtp_outage_keeps_mails_queued_until_the_server_is_back(store: sa.Engine, mail_server: MailServer) -> None:
    with store.begin() as conn:
        alert_id = insert_alert(conn)
    queue(store, "a", alert_id=alert_id)
    queue(store, "b")
    mail_server.stop()

    during = send_pending(store, SmtpChannel(), worker="sender-1", now=NOW)

    assert (during.sent, during.failed) == (0, 2)
    assert "ConnectionRefused" in during.errors[0]
    rows = outbox_rows(store)
    assert all(r.sent_at is None and r.claimed_by is None for r in rows)
    assert all("ConnectionRefused" in (r.last_error or "") for r in rows)
    with store.connect() as conn:
        assert outbox.pending(conn) == 2
        assert [e.event for e in alert_events(conn, alert_id)] == ["email_failed"]

    mail_server.start()
    after = send_pending(store, SmtpChannel(), worker="sender-1", now=NOW + dt.timedelta(minutes=15))
    again = send_pending(store, SmtpChannel(), worker="sender-1", now=NOW + dt.timedelta(minutes=30))

    assert (after.sent, after.failed) == (2, 0)
    assert again.sent == 0
    assert subjects(mail_server) == ["mail a", "mail b"]
    with store.connect() as conn:
        assert outbox.pending(conn) == 0
        assert [e.event for e in alert_events(conn, alert_id)] == ["email_failed", "emailed"]


def test_a_refused_mail_stays_queued_while_the_others_go(store: sa.Engine, mail_server: MailServer) -> None:
    mail_server.handler.bounce.add("gone@example.com")
    queue(store, "bounces", to="gone@example.com")
    queue(store, "fine")

    report = send_pending(store, SmtpChannel(), worker="sender-1", now=NOW, clock=lambda: NOW)

    assert (report.sent, report.failed) == (1, 1)
    assert "gone@example.com: 550" in report.errors[0]
    assert subjects(mail_server) == ["mail fine"]
    bounced, fine = outbox_rows(store)
    assert bounced.sent_at is None
    assert bounced.attempts == 1
    assert "550" in (bounced.last_error or "")
    assert fine.sent_at == NOW


def test_a_sender_never_sends_what_another_sender_has_claimed(store: sa.Engine, mail_server: MailServer) -> None:
    keys = {f"m{i}" for i in range(10)}
    for key in sorted(keys):
        queue(store, key)
    with store.connect() as other:
        tx = other.begin()
        held = {m.dedupe_key for m in outbox.claim(other, worker="sender-2", now=NOW, limit=4)}
        report = send_pending(store, SmtpChannel(), worker="sender-1", now=NOW)
        tx.commit()

    assert report.sent == 6
    assert sorted(subjects(mail_server)) == sorted(f"mail {k}" for k in keys - held)
