"""pipeline.py, one tick's tasks, on a real PostgreSQL store and a simulated CC&B (SQLite).

Whole days, replays and CC&B outages of every kind are played in tests/e2e and tests/reliability;
here each task's own promise: the store's settings it reads (the STUCK default, the retentions),
which days a tick judges, that a tick run twice for one moment mails once, and that a tick
without CC&B records the outage and nothing else.
"""

from __future__ import annotations

import datetime as dt
import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tests.support.mail import MailServer
from tests.support.workflows import scenario, workflow_path

from batch_monitor import business_day as bd
from batch_monitor import pipeline, simulator
from batch_monitor.config import WorkflowConfig, load_workflow, parse_workflow
from batch_monitor.exceptions import SourceUnavailableError
from batch_monitor.notify.channels import SmtpChannel
from batch_monitor.settings import RETENTION_DAYS, SNAPSHOT_RETENTION_DAYS, STUCK_THRESHOLD_MINUTES, Setting
from batch_monitor.store import schema

DAY = dt.date(2026, 11, 24)
DPDC = load_workflow(workflow_path("dpdc_ami"))
# the same chain with no stuck_after anywhere (the tests' copy sets 60m in its defaults)
NO_STUCK_AFTER = parse_workflow(
    workflow_path("dpdc_ami").read_text(encoding="utf-8").replace("  stuck_after: 60m\n", ""),
    Path("dpdc_ami_without_stuck_after.yaml"),
)


def local(clock: str, date: dt.date = DAY) -> dt.datetime:
    return bd.at_clock(date, dt.time.fromisoformat(clock), DPDC.timezone, DPDC.business_day_start)


@pytest.fixture
def ccb(tmp_path: Path) -> Iterator[sa.Engine]:
    """The simulated CC&B in a SQLite file (the store is the shared ``store`` fixture)."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'ccb.sqlite'}")
    simulator.create_schema(engine)
    yield engine
    engine.dispose()


def set_setting(store: sa.Engine, item: Setting[int], value: int) -> None:
    t = schema.monitoring_config
    with store.begin() as conn:
        conn.execute(sa.update(t).where(t.c.scope == "global", t.c.key == item.name).values(value=value))


def play(ccb: sa.Engine, store: sa.Engine, workflow: WorkflowConfig, name: str, moments: list[dt.datetime]) -> None:
    """Tick at each moment: CC&B shows the scenario's day as of it, then the whole tick runs."""
    for as_of in moments:
        date = bd.business_date(as_of, workflow.timezone, workflow.business_day_start)
        simulator.play(ccb, scenario(name), workflow, date, as_of)
        pipeline.run_tick(ccb, store, workflow, as_of)


def quarters(first: str, last: str, date: dt.date = DAY) -> list[dt.datetime]:
    moments, moment = [], local(first, date)
    while moment <= local(last, date):
        moments.append(moment)
        moment += dt.timedelta(minutes=15)
    return moments


def stuck_alert(store: sa.Engine) -> sa.RowMapping | None:
    t = schema.alerts
    with store.connect() as conn:
        return conn.execute(sa.select(t).where(t.c.kind == "STUCK")).mappings().one_or_none()


# --------------------------------------------------------------------------- the STUCK default


@pytest.mark.parametrize(("minutes", "stuck_from"), [(60, "07:15"), (30, "06:45"), (90, "07:45")])
def test_stuck_threshold_minutes_decides_when_a_step_without_stuck_after_is_stuck(
    ccb: sa.Engine, store: sa.Engine, minutes: int, stuck_from: str
) -> None:
    # the stuck day: a D1-IMD thread stops making progress at 06:15 and stays "in progress"
    pipeline.prepare_store(store, NO_STUCK_AFTER, local("05:00"))
    set_setting(store, STUCK_THRESHOLD_MINUTES, minutes)
    play(ccb, store, NO_STUCK_AFTER, "stuck", quarters("05:00", "07:45"))
    alert = stuck_alert(store)
    assert alert is not None and alert["step_id"] == "D1-IMD"
    assert alert["first_seen_at"] == local(stuck_from)


def test_a_step_that_sets_stuck_after_keeps_it_whatever_the_setting(ccb: sa.Engine, store: sa.Engine) -> None:
    pipeline.prepare_store(store, DPDC, local("05:00"))  # defaults: stuck_after: 60m
    set_setting(store, STUCK_THRESHOLD_MINUTES, 30)
    play(ccb, store, DPDC, "stuck", quarters("05:00", "07:00"))
    assert stuck_alert(store) is None  # 45 minutes without progress: not yet 60
    play(ccb, store, DPDC, "stuck", [local("07:15")])
    assert stuck_alert(store) is not None


def test_the_store_records_the_stuck_after_each_step_is_judged_with(store: sa.Engine) -> None:
    pipeline.prepare_store(store, NO_STUCK_AFTER, local("05:00"))
    set_setting(store, STUCK_THRESHOLD_MINUTES, 25)
    pipeline.prepare_store(store, NO_STUCK_AFTER, local("05:15"))  # every tick records the config again
    t = schema.workflow_config
    with store.connect() as conn:
        recorded = set(conn.scalars(sa.select(t.c.stuck_after_s).where(t.c.workflow_id == "dpdc_ami")))
    assert recorded == {25 * 60.0}  # what the page's API shows for each step


# --------------------------------------------------------------------------- which days a tick judges


def test_yesterday_is_judged_again_only_while_its_chain_is_unfinished(ccb: sa.Engine, store: sa.Engine) -> None:
    pipeline.prepare_store(store, DPDC, local("05:00"))
    tomorrow = DAY + dt.timedelta(days=1)
    with store.connect() as conn:
        assert pipeline.dates_to_judge(conn, DPDC, local("06:00", tomorrow)) == [tomorrow]  # never seen
    play(ccb, store, DPDC, "normal", [local("12:00")])  # the chain is still running at noon
    with store.connect() as conn:
        assert pipeline.dates_to_judge(conn, DPDC, local("06:00", tomorrow)) == [DAY, tomorrow]
    play(ccb, store, DPDC, "normal", [local("04:45")])  # 04:45 the next morning, the day's last tick: done
    with store.connect() as conn:
        assert pipeline.dates_to_judge(conn, DPDC, local("06:00", tomorrow)) == [tomorrow]


# --------------------------------------------------------------------------- replays


def test_a_tick_run_twice_for_the_same_moment_sends_its_mail_once(
    ccb: sa.Engine, store: sa.Engine, mail_server: MailServer
) -> None:
    pipeline.prepare_store(store, DPDC, local("05:00"))
    moment = local("14:45")  # C1-PPBTR failed at 14:30
    simulator.play(ccb, scenario("failure"), DPDC, DAY, moment)
    first = pipeline.run_tick(ccb, store, DPDC, moment, channel=SmtpChannel())
    again = pipeline.run_tick(ccb, store, DPDC, moment, channel=SmtpChannel(), now=moment + dt.timedelta(minutes=3))
    assert (first.persisted["opened"], first.sent) == (1, 1)
    assert (again.persisted["opened"], again.persisted["mails_queued"], again.sent) == (0, 0, 0)
    assert first.snapshot_ids == again.snapshot_ids  # the same tick: the same snapshot
    [mail] = mail_server.received
    assert "C1-PPBTR" in str(mail.message["Subject"])


# --------------------------------------------------------------------------- CC&B down


def test_a_tick_without_ccb_records_one_outage_and_nothing_else_and_the_next_tick_catches_up(
    ccb: sa.Engine, store: sa.Engine, mail_server: MailServer
) -> None:
    pipeline.prepare_store(store, DPDC, local("05:00"))
    down = sa.create_engine("postgresql+psycopg2://ccb_reader:s3cret@127.0.0.1:1/ccb")  # nothing listens on port 1
    missed, back = local("14:45"), local("15:00")
    simulator.play(ccb, scenario("failure"), DPDC, DAY, missed)  # C1-PPBTR failed at 14:30, unseen
    with pytest.raises(SourceUnavailableError) as caught:
        pipeline.run_tick(down, store, DPDC, missed)
    assert "s3cret" not in str(caught.value)
    pipeline.record_source_unavailable(
        store, DPDC, missed, str(caught.value), recipients=list(DPDC.on_call), page_url_base="http://x", now=missed
    )
    t = schema.alerts
    with store.connect() as conn:
        assert conn.execute(sa.select(t.c.kind, t.c.state)).all() == [("SOURCE_UNAVAILABLE", "open")]
        assert conn.scalar(sa.select(sa.func.count()).select_from(schema.source_snapshots)) == 0

    simulator.play(ccb, scenario("failure"), DPDC, DAY, back)
    pipeline.run_tick(ccb, store, DPDC, back, channel=SmtpChannel())
    with store.connect() as conn:
        states = dict(conn.execute(sa.select(t.c.kind, t.c.state)).all())
        judged = sorted(conn.scalars(sa.select(schema.source_snapshots.c.as_of)))
    assert states == {"SOURCE_UNAVAILABLE": "resolved", "FAILED": "open"}
    assert judged == [missed, back]  # the missed tick judged too
    subjects = [str(m.message["Subject"]) for m in mail_server.received]
    assert len(subjects) == len(set(subjects)) == 3  # the outage, the failure, the outage's recovery


# --------------------------------------------------------------------------- housekeeping


def count_by_date(store: sa.Engine, table: sa.Table) -> dict[dt.date, int]:
    with store.connect() as conn:
        rows = conn.execute(sa.select(table.c.business_date, sa.func.count()).group_by(table.c.business_date))
        return {r[0]: r[1] for r in rows}


def test_housekeeping_keeps_retention_days_of_history_and_snapshot_retention_days_of_snapshots(
    ccb: sa.Engine, store: sa.Engine
) -> None:
    old, recent = DAY - dt.timedelta(days=5), DAY - dt.timedelta(days=2)
    pipeline.prepare_store(store, DPDC, local("05:00", old))
    set_setting(store, RETENTION_DAYS, 4)
    set_setting(store, SNAPSHOT_RETENTION_DAYS, 1)
    play(ccb, store, DPDC, "failure", [local("14:45", old)])
    play(ccb, store, DPDC, "failure", [local("14:45", recent)])
    assert set(count_by_date(store, schema.execution_logs)) == {old, recent}  # 5 days apart: nothing purged yet

    play(ccb, store, DPDC, "failure", [local("14:45")])
    # history: the days within 4 of today; snapshots: today's and yesterday's (none was taken)
    assert set(count_by_date(store, schema.execution_logs)) == {recent, DAY}
    assert set(count_by_date(store, schema.alerts)) == {recent, DAY}
    assert set(count_by_date(store, schema.evaluations)) == {recent, DAY}
    assert set(count_by_date(store, schema.source_snapshots)) == {DAY}
    with store.connect() as conn:
        kept_ticks = sorted(conn.scalars(sa.select(schema.ticks.c.as_of)))
    assert kept_ticks == [local("14:45", recent), local("14:45")]


def tick(ccb: sa.Engine, store: sa.Engine, as_of: dt.datetime) -> dict[str, Any]:
    """One tick of the failure day on DPDC; what its housekeeping did."""
    simulator.play(ccb, scenario("failure"), DPDC, DAY, as_of)
    return pipeline.run_tick(ccb, store, DPDC, as_of).housekeeping


def test_housekeeping_purges_once_a_business_day_and_again_when_the_retention_moves(
    ccb: sa.Engine, store: sa.Engine
) -> None:
    old = DAY - dt.timedelta(days=3)
    pipeline.prepare_store(store, DPDC, local("05:00", old))
    play(ccb, store, DPDC, "failure", [local("14:45", old)])
    first, second = (tick(ccb, store, as_of) for as_of in (local("14:45"), local("15:00")))
    assert isinstance(first["purged"], dict) and second["purged"] == "already purged"
    assert set(count_by_date(store, schema.execution_logs)) == {old, DAY}  # 3 days old: within 60 days

    set_setting(store, RETENTION_DAYS, 2)  # an operator shortens the retention: the next tick purges by it
    third = tick(ccb, store, local("15:15"))
    assert third["purged"][schema.execution_logs.name] > 0 and third["purged"][schema.ticks.name] == 1
    assert set(count_by_date(store, schema.execution_logs)) == {DAY}
    with store.connect() as conn:
        kept_ticks = sorted(conn.scalars(sa.select(schema.ticks.c.as_of)))
    assert kept_ticks == [local("14:45"), local("15:00"), local("15:15")]


# --------------------------------------------------------------------------- the evaluation's collector pause


def test_the_collector_paused_for_an_evaluation_comes_back_as_it_was_even_after_an_error() -> None:
    assert gc.isenabled()
    with pytest.raises(LookupError), pipeline.collector_paused():
        assert not gc.isenabled()
        raise LookupError("the snapshot is gone")
    assert gc.isenabled()
    gc.disable()  # a host that runs without the collector keeps it off
    try:
        with pipeline.collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
