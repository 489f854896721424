"""The store's side of the baselines: the history window in one query, replacing and loading them."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from tests.support.evaluations import DAY, evaluation, run

from batch_monitor import business_day as bd
from batch_monitor.config import WorkflowConfig
from batch_monitor.constants import RunStatus
from batch_monitor.models import StepBaseline
from batch_monitor.store import repository


def _day_runs(store: sa.Engine, date: dt.date, nbr: int, status: RunStatus = RunStatus.COMPLETE) -> None:
    start = bd.window(date, "Asia/Dhaka", dt.time(5, 0))[0] + dt.timedelta(minutes=10)
    ev = evaluation(
        start + dt.timedelta(hours=2),
        runs=[run("CM-DMRU", nbr, status=status, start=start, end=start + dt.timedelta(minutes=48), records=240000)],
        business_date=date,
    )
    with store.begin() as conn:
        repository.upsert_runs(conn, "dpdc_ami", ev)


def test_the_history_is_the_baseline_days_before_the_day_and_nothing_else(
    store: sa.Engine, dpdc: WorkflowConfig
) -> None:
    workflow = dpdc.model_copy(update={"baseline_days": 3})
    for back, nbr in ((4, 1), (3, 2), (2, 3), (1, 4), (0, 5)):
        _day_runs(store, DAY - dt.timedelta(days=back), nbr)
    _day_runs(store, DAY - dt.timedelta(days=1), 6, RunStatus.ERROR)
    with store.connect() as conn:
        history = repository.load_history(conn, workflow, DAY)
        assert repository.has_runs_before(conn, "dpdc_ami", DAY)
        assert not repository.has_runs_before(conn, "dpdc_ami", DAY - dt.timedelta(days=4))
        assert not repository.has_runs_before(conn, "other", DAY)
    assert sorted((r.business_date, r.status) for r in history) == [
        (DAY - dt.timedelta(days=3), RunStatus.COMPLETE),
        (DAY - dt.timedelta(days=2), RunStatus.COMPLETE),
        (DAY - dt.timedelta(days=1), RunStatus.COMPLETE),
        (DAY - dt.timedelta(days=1), RunStatus.ERROR),
    ]
    first = min(history, key=lambda r: r.business_date)
    assert first.day_start == bd.window(first.business_date, "Asia/Dhaka", dt.time(5, 0))[0]
    assert first.end is not None and first.start is not None
    assert ((first.end - first.start).total_seconds(), first.records) == (48 * 60, 240000)


def test_replacing_the_baselines_keeps_only_the_new_ones_and_notes_the_day(store: sa.Engine) -> None:
    old = [StepBaseline(step_id="OLD", sample_days=9, runs_per_day=1)]
    new = [
        StepBaseline(step_id="CM-DMRU", sample_days=21, runs_per_day=1, duration_p50_s=2880, start_offset_p90_s=60),
        StepBaseline(step_id="CM-DMRU", segment="weekend", sample_days=6, runs_per_day=1, duration_p50_s=3000),
    ]
    now = dt.datetime(2026, 11, 24, 1, tzinfo=dt.UTC)
    with store.begin() as conn:
        assert repository.baselines_computed_for(conn, "dpdc_ami") is None
        repository.replace_baselines(conn, "dpdc_ami", old, DAY - dt.timedelta(days=1), now)
        repository.replace_baselines(conn, "other", old, DAY, now)
        assert repository.replace_baselines(conn, "dpdc_ami", new, DAY, now) == 2
    with store.connect() as conn:
        assert sorted(repository.load_baselines(conn, "dpdc_ami"), key=lambda b: b.segment) == new
        assert repository.load_baselines(conn, "dpdc_ami", {"weekend"}) == new[1:]
        assert repository.load_baselines(conn, "other") == old
        assert repository.baselines_computed_for(conn, "dpdc_ami") == DAY
    with store.begin() as conn:  # no history at all: nothing stored, and the day is still noted
        repository.replace_baselines(conn, "dpdc_ami", [], DAY + dt.timedelta(days=1), now)
    with store.connect() as conn:
        assert repository.load_baselines(conn, "dpdc_ami") == []
        assert repository.baselines_computed_for(conn, "dpdc_ami") == DAY + dt.timedelta(days=1)
