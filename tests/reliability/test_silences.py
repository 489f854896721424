"""Silences under replays, outages and two operators at once: a held mail goes out once, at the
first tick after the silence, never twice, and never for what cleared meanwhile."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import sqlalchemy as sa
from tests.support.mail import MailServer

from batch_monitor import pipeline
from batch_monitor.notify.channels import SmtpChannel
from batch_monitor.store import schema
from batch_monitor.store import silences as store_silences

from .conftest import Case
from .support import DPDC, PAGE, Ccb, at, local, outbox_rows, play_ticks, prepare, quarter_ticks

AREA = "Silences and maintenance windows"
AFTERNOON = quarter_ticks("11:45", "18:00")  # the failure scenario: FAILED opens 14:30, the rerun clears it 16:30
QUIET = DPDC.model_copy(update={"remind_every": dt.timedelta(0)})


def silence(store: sa.Engine, start: str, end: str, step: str | None = "C1-PPBTR") -> int:
    with store.begin() as conn:
        made = store_silences.create(
            conn,
            workflow_id=DPDC.workflow_id,
            step_id=step,
            kinds=None,
            alert_id=None,
            starts_at=at(start),
            ends_at=at(end),
            comment="planned rerun",
            user="op1",
            now=at("05:00"),
        )
    assert made.id is not None
    return made.id


def test_a_held_mail_goes_out_once_even_when_every_tick_is_run_again_forwards_and_backwards(
    store: sa.Engine, mail_server: MailServer, tmp_path: Path, reliability: Case
) -> None:
    reliability.tried(
        "C1-PPBTR fails at 14:30 under op1's silence of the step (14:00–15:00; the rerun completes 16:30); "
        f"the afternoon ({len(AFTERNOON)} ticks) played, then every tick run again in order and backwards"
    )
    ccb = Ccb(tmp_path, "failure", workflow=QUIET)
    prepare(store, QUIET)
    silence(store, "14:00", "15:00")
    channel = SmtpChannel()
    play_ticks(ccb, store, AFTERNOON, channel=channel)
    first = outbox_rows(store)
    for as_of in [*AFTERNOON, *reversed(AFTERNOON)]:
        pipeline.run_tick(ccb.engine, store, QUIET, as_of, channel=channel, page_url_base=PAGE)
    rows = outbox_rows(store)
    assert rows == first
    kinds = [(r["kind"], local(r["created_at"])) for r in rows]
    assert kinds == [("alert", "15:00"), ("recovery", "16:30")]  # held 14:30–15:00, then as usual
    assert len(mail_server.received) == 2
    reliability.observed(
        f"outbox after the replays: {', '.join(f'{k} queued at {t}' for k, t in kinds)}; "
        f"{len(mail_server.received)} mails received, each once"
    )
    ccb.dispose()


def test_a_source_outage_under_a_workflow_silence_is_mailed_only_if_it_outlasts_the_silence(
    store: sa.Engine, mail_server: MailServer, tmp_path: Path, reliability: Case
) -> None:
    reliability.tried(
        "op1 silences the whole workflow 10:00–11:00; CC&B cannot be read 10:15–10:45 (the failure callback "
        "records it), then again 10:45–11:30"
    )
    prepare(store, QUIET)
    silence(store, "10:00", "11:00", step=None)

    def outage(clock: str) -> None:
        pipeline.record_source_unavailable(
            store,
            QUIET,
            at(clock),
            "OperationalError: connection refused",
            recipients=["oncall@example.com"],
            page_url_base=PAGE,
            now=at(clock),
        )

    for clock in ("10:15", "10:30", "10:45"):
        outage(clock)
    held = outbox_rows(store)
    for clock in ("11:00", "11:15", "11:30"):
        outage(clock)
    rows = outbox_rows(store)
    assert held == []
    assert [(r["kind"], local(r["created_at"])) for r in rows] == [("alert", "11:00")]
    with store.connect() as conn:
        events = conn.execute(sa.select(schema.alert_events.c.event).order_by(schema.alert_events.c.id)).scalars()
        names = list(events)
    assert names[0] == "opened" and "released" in names
    reliability.observed(
        "nothing queued while silenced; one problem mail queued by the 11:00 outage tick, the first after the "
        f"silence; events {names}"
    )


def test_two_operators_ending_one_silence_at_once_end_it_once(store: sa.Engine, reliability: Case) -> None:
    reliability.tried("op1 and op2 end the same silence in two transactions at the same moment")
    prepare(store, QUIET)
    silence_id = silence(store, "10:00", "20:00")
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def end(user: str) -> None:
        with store.begin() as conn:
            barrier.wait()
            result = store_silences.end(conn, silence_id, user=user, comment=None, now=at("12:00"))
            assert result is not None
            outcomes.append(result.outcome)

    threads = [threading.Thread(target=end, args=(user,)) for user in ("op1", "op2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with store.connect() as conn:
        trail = conn.execute(sa.select(schema.silence_events.c.event)).scalars().all()
    assert sorted(outcomes) == ["already_over", "ended"]
    assert sorted(trail) == ["created", "ended"]
    reliability.observed(f"outcomes {sorted(outcomes)}; audit trail {sorted(trail)}")
