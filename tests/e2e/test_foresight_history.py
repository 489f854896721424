"""Foresight proven with real history: whole days through the real DAG (``dag.test()`` at every
15-minute tick), judged against baselines the monitor learned from CC&B's own history.

CC&B is the simulator's OUAF tables in PostgreSQL holding 21 earlier normal days (played, never
ticked); the store starts empty. The workflow (tests/e2e/data/foresight/dpdc_ami.yaml) sets only
deadlines: no expected start, duration or records anywhere. The day's first tick finds no history
in the store; its ``summarize_and_purge`` task bootstraps it from CC&B (one read per day through the
ticks' SQL) and learns the baselines; every later tick judges with them. Each day is one module
fixture of its own (own CC&B and store databases, own SMTP server):

- ``crawling_billing``: C1-PPBTR crawls at a third of its usual rate (AT_RISK hours ahead, once,
  then the MISSED_DEADLINE naming it);
- ``low_volume``: CM-DMRU "succeeds" with 1 % of its usual records (UNUSUAL_VOLUME);
- ``normal``: nothing at all.

Every tick goes through ``dag.test()`` (not ``pipeline.run_tick``): a day is 97 ticks and takes a few
minutes, affordable for three days, and it is the DAG's own tasks (the sensor, extract, evaluate,
persist, notify, summarize_and_purge with its bootstrap) that are proven.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from airflow.dag_processing.dagbag import DagBag
from tests.conftest import create_database, drop_database
from tests.e2e.test_baselines_history import HISTORY
from tests.e2e.test_scenario_days import DAY, ticks
from tests.support.connections import pg_connection_json
from tests.support.mail import MailServer
from tests.support.workflows import scenario, scenario_path

from batch_monitor import airflow_io, simulator
from batch_monitor import business_day as bd
from batch_monitor.config import WorkflowConfig, load_workflow
from batch_monitor.settings import scenarios_dir
from batch_monitor.store import repository, schema
from batch_monitor.store.migrate import migrate

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = Path(__file__).parent / "data" / "foresight"
FORESIGHT: WorkflowConfig = load_workflow(WORKFLOWS / "dpdc_ami.yaml")


@dataclass
class Day:
    """A day played through the DAG over 21 days of CC&B history: what the store and the mailbox hold."""

    store: sa.Engine
    mails: MailServer
    scenario: simulator.Scenario

    def rows(self, table: sa.Table, *where: Any) -> list[dict[str, Any]]:
        with self.store.connect() as conn:
            query = sa.select(table).where(*where).order_by(*table.primary_key.columns)
            return [dict(r) for r in conn.execute(query).mappings()]

    def alerts(self) -> list[dict[str, Any]]:
        return self.rows(schema.alerts)

    def events(self, alert_id: int) -> list[str]:
        return [e["event"] for e in self.rows(schema.alert_events, schema.alert_events.c.alert_id == alert_id)]

    def subjects(self) -> list[str]:
        return [str(m.message["Subject"]) for m in self.mails.received]


def local(hour: int, minute: int) -> dt.datetime:
    return bd.at_clock(DAY, dt.time(hour, minute), FORESIGHT.timezone, FORESIGHT.business_day_start)


@contextmanager
def played_through_the_dag(name: str, admin_url: str) -> Iterator[Day]:
    """21 normal days in a PostgreSQL CC&B, then the scenario's day, every tick through dag.test()."""
    ccb_url, store_url = create_database(admin_url, "bm_ccb"), create_database(admin_url)
    source, store = sa.create_engine(ccb_url), sa.create_engine(store_url)
    mails = MailServer()
    mails.start()
    # the DAG's tasks cache their engines per process: this day's CC&B and store are new ones
    airflow_io.source_engine.cache_clear()
    airflow_io.store_engine.cache_clear()
    try:
        simulator.create_schema(source)
        migrate(store)
        normal = scenario("normal")
        for date in HISTORY:
            end = bd.window(date, FORESIGHT.timezone, FORESIGHT.business_day_start)[1]
            simulator.play(source, normal, FORESIGHT, date, end)
        today = simulator.load_scenario(scenario_path(name))
        with pytest.MonkeyPatch.context() as env:
            env.setenv("BATCH_MONITOR_WORKFLOWS_DIR", str(WORKFLOWS))
            env.setenv("AIRFLOW_CONN_CCB_ORACLE", pg_connection_json(ccb_url))
            env.setenv("AIRFLOW_CONN_BATCH_MONITOR_DB", pg_connection_json(store_url))
            env.setenv("AIRFLOW_CONN_SMTP_DEFAULT", mails.connection_json())
            dag = DagBag(str(ROOT / "dags")).dags[FORESIGHT.dag_id]
            for as_of in ticks(FORESIGHT, DAY):
                simulator.play(source, today, FORESIGHT, DAY, as_of)
                assert dag.test(logical_date=as_of).state == "success", as_of
        yield Day(store=store, mails=mails, scenario=today)
    finally:
        airflow_io.source_engine.cache_clear()
        airflow_io.store_engine.cache_clear()
        mails.stop()
        source.dispose()
        store.dispose()
        drop_database(admin_url, ccb_url)
        drop_database(admin_url, store_url)


@pytest.fixture(scope="module")
def crawling(pg_admin_url: str, airflow_db: Path) -> Iterator[Day]:
    with played_through_the_dag("crawling_billing", pg_admin_url) as day:
        yield day


@pytest.fixture(scope="module")
def low_volume(pg_admin_url: str, airflow_db: Path) -> Iterator[Day]:
    with played_through_the_dag("low_volume", pg_admin_url) as day:
        yield day


@pytest.fixture(scope="module")
def normal(pg_admin_url: str, airflow_db: Path) -> Iterator[Day]:
    with played_through_the_dag("normal", pg_admin_url) as day:
        yield day


def test_the_steps_under_test_have_nothing_set_by_hand_but_their_deadlines() -> None:
    for step in FORESIGHT.steps:
        assert step.expected_records is None, step.id
        assert all(step.learns(name) for name in ("expected_start", "expected_duration", "max_duration")), step.id


def test_the_first_run_bootstraps_the_baselines_from_ccb(normal: Day) -> None:
    logs = normal.rows(schema.execution_logs)
    assert sorted({r["business_date"] for r in logs}) == [*HISTORY, DAY]
    with normal.store.connect() as conn:
        learned = {(b.step_id, b.segment): b for b in repository.load_baselines(conn, FORESIGHT.workflow_id)}
        computed_for = repository.baselines_computed_for(conn, FORESIGHT.workflow_id)
    # the last tick (05:00 the next morning) learned the next day's: the 21 bootstrapped days and this one
    assert computed_for == DAY + dt.timedelta(days=1)
    billing, reads = learned["C1-PPBTR", "all"], learned["CM-DMRU", "all"]
    assert (billing.sample_days, billing.records_p50, billing.duration_p50_s) == (22, 300_000, 160 * 60)
    assert (reads.sample_days, reads.records_p50, reads.duration_p50_s) == (22, 240_000, 48 * 60)


def test_a_step_crawling_at_a_third_of_its_rate_is_at_risk_hours_before_its_deadline_exactly_once(
    crawling: Day,
) -> None:
    alerts = crawling.alerts()
    assert {(a["kind"], a["step_id"]) for a in alerts} == crawling.scenario.expected
    [risk] = [a for a in alerts if (a["kind"], a["step_id"]) == ("AT_RISK", "C1-PPBTR")]
    # its records (vs the learned 300,000) say ~20:00 from the 12:15 tick; raised at 12:30 (2 late ticks)
    assert risk["since"] == local(12, 15) and risk["first_seen_at"] == local(12, 30)
    assert local(17, 0) - risk["first_seen_at"] >= dt.timedelta(hours=4)
    assert risk["severity"] == "WARNING" and risk["details"]["progress_basis"] == "records"
    assert "C1-PPBTR predicted to finish at 19:" in risk["title"] and "after its 17:00 deadline" in risk["title"]
    # one alert row, opened once and never reopened, held until the breach hands it over
    assert crawling.events(risk["id"]).count("opened") == 1 and "reopened" not in crawling.events(risk["id"])
    assert risk["state"] == "resolved" and risk["resolved_at"] <= local(17, 15)
    [missed] = [a for a in alerts if (a["kind"], a["step_id"]) == ("MISSED_DEADLINE", "C1-PPBTR")]
    assert missed["details"]["was_at_risk_since"] == local(12, 15).isoformat()
    assert not [s for s in crawling.subjects() if "at risk" in s]  # a WARNING is shown, not mailed
    [breach] = [
        m.message.get_body(preferencelist=("plain",))
        for m in crawling.mails.received
        if str(m.message["Subject"]).startswith("[CRITICAL] C1-PPBTR missed its deadline")
    ]
    assert breach is not None and "Forecast: at risk of this since 2026-11-24 12:15 +06" in breach.get_content()


def test_a_run_that_succeeds_with_1_percent_of_its_usual_records_raises_unusual_volume(low_volume: Day) -> None:
    alerts = low_volume.alerts()
    assert {(a["kind"], a["step_id"]) for a in alerts} == low_volume.scenario.expected
    [unusual] = alerts
    assert (unusual["kind"], unusual["severity"]) == ("UNUSUAL_VOLUME", "WARNING")
    assert unusual["first_seen_at"] == local(5, 15)  # the first tick after CM-DMRU "completed" at 05:05
    assert unusual["title"] == "CM-DMRU completed at 05:05 with 2,400 records, 1% of its typical 240,000"
    assert unusual["actual"] == "2,400 records in 5m (typical 240,000 in 48m)"
    assert low_volume.events(unusual["id"]) == ["opened"]
    assert low_volume.mails.received == []  # a WARNING is shown, not mailed


def test_the_demos_low_volume_day_is_the_one_proven_here() -> None:
    demo, proven = simulator.load_scenario(scenarios_dir() / "low_volume.yaml"), scenario("low_volume")
    assert (demo.runs, demo.expected, demo.pending_imds) == (proven.runs, proven.expected, proven.pending_imds)


def test_a_normal_day_with_twenty_one_days_of_history_raises_nothing(normal: Day) -> None:
    assert normal.alerts() == [] and normal.mails.received == []
