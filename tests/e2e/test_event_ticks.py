"""An event tick (the fast path) and a cron tick that judge the same failure send one mail.

The DAG judges an event tick as of its asset event's moment and a cron tick as of its interval
end (tests/dags/test_dag_watch.py); both run the same pipeline, so the alert is one row and the
outbox's dedupe key lets its mail out once, whichever tick comes first.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pendulum
import pytest
import sqlalchemy as sa
from tests.support.ccb import DAY, DPDC, at, scenario
from tests.support.mail import MailServer

from batch_monitor import business_day as bd
from batch_monitor import pipeline
from batch_monitor.dag_factory import _as_of
from batch_monitor.notify.channels import SmtpChannel
from batch_monitor.simulator import create_schema, play
from batch_monitor.store import schema

FAILURE = scenario("failure")  # C1-PPBTR fails at 14:30
EVENT = at("14:30", DAY) + dt.timedelta(seconds=41)  # the trigger saw the change 41 s after the failure
CRON = at("14:45", DAY)


@pytest.fixture
def ccb(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'ccb.sqlite'}")
    create_schema(engine)
    play(engine, FAILURE, DPDC, DAY, CRON)
    yield engine
    engine.dispose()


def tick(ccb: sa.Engine, store: sa.Engine, as_of: dt.datetime) -> pipeline.TickResult:
    return pipeline.run_tick(ccb, store, DPDC, as_of, channel=SmtpChannel(), now=as_of + dt.timedelta(seconds=20))


def failed_mails(mail_server: MailServer) -> list[str]:
    return [str(m.message["Subject"]) for m in mail_server.received if "C1-PPBTR" in str(m.message["Subject"])]


@pytest.mark.parametrize(
    "order", [(EVENT, CRON), (at("14:30", DAY), EVENT)], ids=["event-then-cron", "cron-then-event"]
)
def test_an_event_tick_and_a_cron_tick_judging_one_failure_send_one_mail(
    store: sa.Engine, ccb: sa.Engine, mail_server: MailServer, order: tuple[dt.datetime, dt.datetime]
) -> None:
    start, _ = bd.window(DAY, DPDC.timezone, DPDC.business_day_start)
    pipeline.prepare_store(store, DPDC, start)
    first, second = (tick(ccb, store, as_of) for as_of in order)

    assert first.sent == 1 and second.sent == 0
    [subject] = failed_mails(mail_server)
    assert "FAILED" in subject or "failed" in subject
    with store.connect() as conn:
        alerts = conn.execute(
            sa.select(schema.alerts.c.kind, schema.alerts.c.seen_count).where(schema.alerts.c.step_id == "C1-PPBTR")
        ).all()
        outbox = conn.scalar(sa.select(sa.func.count()).select_from(schema.email_outbox))
    assert alerts == [("FAILED", 2)] and outbox == 1  # one alert, seen by both ticks, one mail


def test_an_event_tick_sees_the_failure_when_cc_b_stamped_it_a_few_seconds_ahead_of_airflows_clock(
    store: sa.Engine, ccb: sa.Engine, mail_server: MailServer
) -> None:
    failed_at = at("14:30", DAY)  # C1-PPBTR's END_DTTM, in CC&B's clock
    event_at = failed_at - dt.timedelta(seconds=8)  # Airflow's clock is 8 s behind CC&B's
    event = SimpleNamespace(timestamp=pendulum.instance(event_at), extra={"changed_at": failed_at.isoformat()})
    dag_run = SimpleNamespace(consumed_asset_events=[event], run_after=event_at + dt.timedelta(seconds=1))
    as_of = _as_of({"dag_run": dag_run, "data_interval_end": None, "logical_date": None})
    start, _ = bd.window(DAY, DPDC.timezone, DPDC.business_day_start)
    pipeline.prepare_store(store, DPDC, start)

    judged_at_event = tick(ccb, store, event_at)  # what the event's own timestamp would see
    judged_at_change = tick(ccb, store, as_of)

    assert as_of == failed_at
    assert judged_at_event.sent == 0  # C1-PPBTR "still running" 8 s before its END_DTTM
    assert judged_at_change.sent == 1 and len(failed_mails(mail_server)) == 1
