"""Baselines bootstrapped from CC&B's own history and used to judge a whole day.

CC&B is the simulator's OUAF tables in PostgreSQL holding 21 earlier normal days (played, never
ticked); the store starts empty. The day's first tick finds no history in the store, reads the
21 days once through the reader (one read per day, the ticks' SQL), writes their runs into
batch_execution_logs and learns the baselines; every later tick only loads them. The workflow
(tests/e2e/data/learned/dpdc_ami.yaml) leaves its starts and durations to history.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tests.conftest import create_database, drop_database

from batch_monitor import business_day as bd
from batch_monitor import pipeline, simulator
from batch_monitor.config import WorkflowConfig, load_workflow
from batch_monitor.settings import scenarios_dir
from batch_monitor.store import repository, schema
from batch_monitor.store.migrate import migrate

pytestmark = pytest.mark.e2e

DATA = Path(__file__).parent / "data"
LEARNED: WorkflowConfig = load_workflow(DATA / "learned" / "dpdc_ami.yaml")
DAY = dt.date(2026, 11, 24)
HISTORY = [DAY - dt.timedelta(days=n) for n in range(21, 0, -1)]  # 3 to 23 November


@dataclass
class Played:
    store: sa.Engine
    first_tick: pipeline.TickResult
    second_tick: pipeline.TickResult

    def rows(self, table: sa.Table) -> list[dict[str, Any]]:
        with self.store.connect() as conn:
            return [dict(r) for r in conn.execute(sa.select(table)).mappings()]


def ticks(date: dt.date) -> list[dt.datetime]:
    start, end = bd.window(date, LEARNED.timezone, LEARNED.business_day_start)
    moments = []
    while start < end:  # the day's ticks (the next one would learn for the next day)
        moments.append(start)
        start = start + dt.timedelta(minutes=15)
    return moments


@pytest.fixture(scope="module", params=["normal", "slow_bills"])
def played(request: pytest.FixtureRequest, pg_admin_url: str) -> Iterator[Played]:
    """21 normal days in CC&B, then the scenario's day ticked every 15 minutes into an empty store."""
    ccb_url, store_url = create_database(pg_admin_url, "bm_ccb"), create_database(pg_admin_url)
    source, store = sa.create_engine(ccb_url), sa.create_engine(store_url)
    simulator.create_schema(source)
    migrate(store)
    normal = simulator.load_scenario(scenarios_dir() / "normal.yaml")
    for date in HISTORY:
        simulator.play(source, normal, LEARNED, date, bd.window(date, LEARNED.timezone, LEARNED.business_day_start)[1])
    path = DATA / "slow_bills.yaml" if request.param == "slow_bills" else scenarios_dir() / "normal.yaml"
    scenario = simulator.load_scenario(path)
    moments = ticks(DAY)
    pipeline.prepare_store(store, LEARNED, moments[0])
    results = []
    for as_of in moments:
        simulator.play(source, scenario, LEARNED, DAY, as_of)
        results.append(pipeline.run_tick(source, store, LEARNED, as_of))
    yield Played(store=store, first_tick=results[0], second_tick=results[1])
    source.dispose()
    store.dispose()
    drop_database(pg_admin_url, ccb_url)
    drop_database(pg_admin_url, store_url)


def test_the_first_tick_bootstraps_the_history_from_ccb_once(played: Played) -> None:
    learned = played.first_tick.housekeeping["baselines"]
    assert learned["bootstrapped_runs"] == 21 * 10  # 10 runs a normal day
    assert played.second_tick.housekeeping["baselines"] == {"baselines": "already learned", "for": "2026-11-24"}
    logs = played.rows(schema.execution_logs)
    assert sorted({r["business_date"] for r in logs}) == [*HISTORY, DAY]
    assert {r["status"] for r in logs if r["business_date"] < DAY} == {"complete"}


def test_each_step_learns_its_normal_day_from_21_days(played: Played) -> None:
    with played.store.connect() as conn:
        baselines = {(b.step_id, b.segment): b for b in repository.load_baselines(conn, "dpdc_ami")}
        computed_for = repository.baselines_computed_for(conn, "dpdc_ami")
    assert computed_for == DAY
    # 3 to 23 November: 6 Fridays and Saturdays (the workflow's weekend), 15 other days
    assert {(s, b.sample_days) for (step, s), b in baselines.items() if step == "CM-DMRU"} == {
        ("all", 21),
        ("weekday", 15),
        ("weekend", 6),
    }
    first, imd, flush = baselines["CM-DMRU", "all"], baselines["D1-IMD", "all"], baselines["F1-FLUSH", "all"]
    assert (first.duration_p50_s, first.records_p50, first.start_offset_p50_s) == (48 * 60, 240000, 0)
    assert (imd.runs_per_day, imd.records_p50, imd.gap_p50_s) == (3, 90000, 4 * 60)
    assert (flush.runs_per_day, flush.duration_p50_s, flush.gap_p50_s) == (3, 8 * 60, 5 * 60)


def test_the_day_raises_what_its_history_calls_unusual_and_nothing_else(
    played: Played, request: pytest.FixtureRequest
) -> None:
    alerts = played.rows(schema.alerts)
    found = {(a["kind"], a["step_id"]) for a in alerts}
    if request.node.callspec.params["played"] == "normal":
        assert found == set()
    else:
        assert found == {("LONG_RUNNING", "CM_BSGGN")}
        [alert] = alerts
        # learned: 1h 12m typical, p90 x 1.5 = 1h 48m allowed
        assert "expected 1h 12m" in alert["title"] and alert["details"]["limit_s"] == 108 * 60
