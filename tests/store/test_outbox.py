"""The e-mail outbox on a real PostgreSQL: dedupe, atomic claims, sent/failed bookkeeping."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter

import pytest
import sqlalchemy as sa
from tests.support.alerts import NOW, alert_events, insert_alert

from batch_monitor.models import EmailContent
from batch_monitor.store import outbox, schema

MAIL = EmailContent(subject="[CRITICAL] C1-PPBTR failed", text="text body", html="<p>html body</p>")


def queue(engine: sa.Engine, count: int, *, alert_id: int | None = None, prefix: str = "m") -> None:
    with engine.begin() as conn:
        for i in range(count):
            outbox.enqueue(
                conn,
                dedupe_key=f"{prefix}{i}",
                alert_id=alert_id,
                kind="alert",
                recipients=["oncall@example.com"],
                content=MAIL,
                now=NOW,
            )


def test_enqueue_keeps_one_mail_per_dedupe_key(store: sa.Engine) -> None:
    with store.begin() as conn:
        alert_id = insert_alert(conn)
        first = outbox.enqueue(
            conn,
            dedupe_key=f"alert:{alert_id}:opened",
            alert_id=alert_id,
            kind="alert",
            recipients=["a@example.com", "b@example.com"],
            content=MAIL,
            now=NOW,
        )
        again = outbox.enqueue(
            conn,
            dedupe_key=f"alert:{alert_id}:opened",
            alert_id=alert_id,
            kind="alert",
            recipients=["other@example.com"],
            content=EmailContent(subject="changed", text="t", html="h"),
            now=NOW + dt.timedelta(minutes=15),
        )
        rows = conn.execute(sa.select(schema.email_outbox)).all()
    assert (first, again) == (True, False)
    assert len(rows) == 1
    assert rows[0].subject == MAIL.subject
    assert rows[0].recipients == ["a@example.com", "b@example.com"]
    assert rows[0].created_at == NOW


def test_enqueue_refuses_a_mail_to_nobody(store: sa.Engine) -> None:
    with store.begin() as conn, pytest.raises(ValueError, match="recipients is empty"):
        outbox.enqueue(conn, dedupe_key="k", alert_id=None, kind="alert", recipients=[" "], content=MAIL, now=NOW)


def test_claim_hands_out_oldest_first_and_not_again_while_claimed(store: sa.Engine) -> None:
    queue(store, 5)
    with store.begin() as conn:
        first = outbox.claim(conn, worker="w1", now=NOW, limit=3)
    with store.begin() as conn:
        second = outbox.claim(conn, worker="w2", now=NOW + dt.timedelta(minutes=1), limit=10)
        third = outbox.claim(conn, worker="w3", now=NOW + dt.timedelta(minutes=2), limit=10)
    assert [m.dedupe_key for m in first] == ["m0", "m1", "m2"]
    assert [m.dedupe_key for m in second] == ["m3", "m4"]
    assert third == []
    assert first[0].content == MAIL
    assert first[0].recipients == ("oncall@example.com",)
    assert {m.claimed_by for m in first} == {"w1"}


def test_a_stale_claim_is_taken_over(store: sa.Engine) -> None:
    queue(store, 1)
    with store.begin() as conn:
        (crashed,) = outbox.claim(conn, worker="crashed", now=NOW)
    later = NOW + dt.timedelta(minutes=9)
    much_later = NOW + dt.timedelta(minutes=11)
    with store.begin() as conn:
        assert outbox.claim(conn, worker="w2", now=later) == []
        (taken,) = outbox.claim(conn, worker="w2", now=much_later)
    assert taken.id == crashed.id
    assert taken.claimed_by == "w2"
    with store.begin() as conn:
        assert outbox.mark_sent(conn, crashed.id, worker="crashed", now=much_later) is False
        assert outbox.mark_sent(conn, taken.id, worker="w2", now=much_later) is True


def test_two_open_transactions_never_claim_the_same_mail(store: sa.Engine) -> None:
    queue(store, 6)
    with store.connect() as a, store.connect() as b:
        ta, tb = a.begin(), b.begin()
        got_a = outbox.claim(a, worker="a", now=NOW, limit=4)  # rows stay locked until commit
        got_b = outbox.claim(b, worker="b", now=NOW, limit=4)  # skips the locked rows, never waits
        tb.commit()
        ta.commit()
    ids_a, ids_b = {m.id for m in got_a}, {m.id for m in got_b}
    assert len(ids_a) == 4
    assert len(ids_b) == 2
    assert ids_a.isdisjoint(ids_b)


def test_senders_racing_on_many_mails_claim_each_exactly_once(store: sa.Engine) -> None:
    queue(store, 60)
    claims: Counter[int] = Counter()
    lock = threading.Lock()
    start = threading.Barrier(4)

    def sender(name: str) -> None:
        start.wait()
        while True:
            with store.begin() as conn:
                got = outbox.claim(conn, worker=name, now=NOW, limit=3)
            if not got:
                return
            with lock:
                claims.update(m.id for m in got)

    threads = [threading.Thread(target=sender, args=(f"s{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(claims) == 60
    assert set(claims.values()) == {1}


def test_a_sent_mail_is_done_and_recorded_on_its_alert(store: sa.Engine) -> None:
    with store.begin() as conn:
        alert_id = insert_alert(conn)
    queue(store, 1, alert_id=alert_id)
    with store.begin() as conn:
        (message,) = outbox.claim(conn, worker="w1", now=NOW)
    sent_at = NOW + dt.timedelta(seconds=5)
    with store.begin() as conn:
        assert outbox.mark_sent(conn, message.id, worker="w2", now=sent_at) is False  # not its claim
        assert outbox.mark_sent(conn, message.id, worker="w1", now=sent_at) is True
        assert outbox.mark_sent(conn, message.id, worker="w1", now=sent_at) is False  # already sent
        assert outbox.pending(conn) == 0
        row = conn.execute(sa.select(schema.email_outbox)).one()
        events = alert_events(conn, alert_id)
    assert row.sent_at == sent_at
    assert row.attempts == 1
    assert [(e.event, e.at) for e in events] == [("emailed", sent_at)]
    assert events[0].details["recipients"] == ["oncall@example.com"]
    with store.begin() as conn:
        assert outbox.claim(conn, worker="w3", now=NOW + dt.timedelta(hours=1)) == []


def test_a_failed_mail_is_released_with_its_error_and_recorded_on_its_alert(store: sa.Engine) -> None:
    with store.begin() as conn:
        alert_id = insert_alert(conn)
    queue(store, 1, alert_id=alert_id)
    with store.begin() as conn:
        (message,) = outbox.claim(conn, worker="w1", now=NOW)
    with store.begin() as conn:
        assert outbox.mark_failed(conn, message.id, worker="w1", error="550 no such user", now=NOW) is True
        assert outbox.pending(conn) == 1
        events = alert_events(conn, alert_id)
    with store.begin() as conn:
        (again,) = outbox.claim(conn, worker="w2", now=NOW + dt.timedelta(minutes=1))
    assert again.id == message.id
    assert again.attempts == 1
    assert again.last_error == "550 no such user"
    assert [e.event for e in events] == ["email_failed"]
    assert events[0].details["error"] == "550 no such user"


def test_mails_not_tied_to_an_alert_leave_no_events(store: sa.Engine) -> None:
    queue(store, 1)
    with store.begin() as conn:
        (message,) = outbox.claim(conn, worker="w1", now=NOW)
        outbox.mark_sent(conn, message.id, worker="w1", now=NOW)
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.alert_events)).scalar_one() == 0


def test_pending_counts_every_unsent_mail_claimed_or_not(store: sa.Engine) -> None:
    queue(store, 3)
    with store.begin() as conn:
        assert outbox.pending(conn) == 3
        (first,) = outbox.claim(conn, worker="w1", now=NOW, limit=1)
        assert outbox.pending(conn) == 3
        outbox.mark_sent(conn, first.id, worker="w1", now=NOW)
        assert outbox.pending(conn) == 2
