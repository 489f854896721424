"""A day left unfinished is judged again the next morning, beside the new day: what the new day
brings (its pending IMDs) must not reopen the old day's finished steps."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from tests.e2e.test_scenario_days import DAY, WORKFLOW

from batch_monitor import business_day as bd
from batch_monitor import pipeline, simulator
from batch_monitor.constants import StepStatus
from batch_monitor.settings import scenarios_dir
from batch_monitor.store import repository, schema

DATA = Path(__file__).parent / "data"
NEXT_DAY = DAY + dt.timedelta(days=1)


def hourly(date: dt.date) -> list[dt.datetime]:
    start, end = bd.window(date, WORKFLOW.timezone, WORKFLOW.business_day_start)
    return [start + dt.timedelta(hours=h) for h in range(int((end - start).total_seconds() // 3600))]


def alerts_of(store: sa.Engine, date: dt.date) -> list[dict[str, Any]]:
    with store.connect() as conn:
        rows = conn.execute(sa.select(schema.alerts).where(schema.alerts.c.business_date == date)).mappings()
        return [dict(r) for r in rows]


def test_the_next_mornings_pending_imds_do_not_reopen_yesterdays_finished_d1_imd(
    store: sa.Engine, tmp_path: Path
) -> None:
    source = sa.create_engine(f"sqlite:///{tmp_path / 'ccb.sqlite'}")
    simulator.create_schema(source)
    unfinished = simulator.load_scenario(DATA / "unfinished.yaml")
    normal = simulator.load_scenario(scenarios_dir() / "normal.yaml")
    pipeline.prepare_store(store, WORKFLOW, hourly(DAY)[0])
    for as_of in hourly(DAY):
        simulator.play(source, unfinished, WORKFLOW, DAY, as_of)
        pipeline.run_tick(source, store, WORKFLOW, as_of)
    before = {(a["kind"], a["step_id"]) for a in alerts_of(store, DAY)}
    assert before == unfinished.expected

    morning = bd.window(NEXT_DAY, WORKFLOW.timezone, WORKFLOW.business_day_start)[0]
    for as_of in (morning, morning + dt.timedelta(minutes=15)):
        simulator.play(source, unfinished, WORKFLOW, DAY, as_of)  # yesterday stays as it was
        simulator.play(source, normal, WORKFLOW, NEXT_DAY, as_of)  # 2,400 IMDs pending for the new day
        result = pipeline.run_tick(source, store, WORKFLOW, as_of)
        assert [e["business_date"] for e in result.evaluations] == [DAY.isoformat(), NEXT_DAY.isoformat()]

    after = {(a["kind"], a["step_id"]) for a in alerts_of(store, DAY)}
    assert ("MISSED_DEADLINE", "D1-IMD") not in after
    assert ("OUT_OF_ORDER", "C1-PPBTR") not in after
    assert after == unfinished.expected
    with store.connect() as conn:
        yesterday = repository.load_evaluation(conn, WORKFLOW.workflow_id, DAY)
    assert yesterday is not None
    d1_imd = next(s for s in yesterday.steps if s.step_id == "D1-IMD")
    assert (d1_imd.status, d1_imd.pending_count) == (StepStatus.COMPLETE, 0)
    source.dispose()
