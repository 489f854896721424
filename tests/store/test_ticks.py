"""The ticks that ran to their end (batch_monitor_ticks): recorded by the pipeline, read by the API."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from tests.store.conftest import T0, tick

from batch_monitor.store import ticks
from batch_monitor.store.schema import ticks as ticks_table


def test_a_tick_is_recorded_once_and_a_replay_replaces_it(store: sa.Engine) -> None:
    with store.begin() as conn:
        ticks.record_tick(
            conn, "dpdc_ami", as_of=tick(0), finished_at=tick(0) + dt.timedelta(seconds=40), duration_s=40
        )
        ticks.record_tick(conn, "dpdc_ami", as_of=tick(1), finished_at=tick(1) + dt.timedelta(seconds=5), duration_s=5)
        ticks.record_tick(conn, "other", as_of=tick(0), finished_at=tick(0) + dt.timedelta(seconds=2), duration_s=2)
        # the first tick cleared and run again later
        ticks.record_tick(conn, "dpdc_ami", as_of=tick(0), finished_at=tick(3), duration_s=7)
    with store.connect() as conn:
        assert ticks.last_finished(conn, ["dpdc_ami", "other", "never"]) == {
            "dpdc_ami": tick(3),
            "other": tick(0) + dt.timedelta(seconds=2),
        }
        assert sorted(ticks.durations(conn, ["dpdc_ami"])["dpdc_ami"]) == [5.0, 7.0]
        assert conn.execute(sa.select(sa.func.count()).select_from(ticks_table)).scalar_one() == 3


def test_old_ticks_are_purged_per_workflow(store: sa.Engine) -> None:
    with store.begin() as conn:
        for n in range(3):
            ticks.record_tick(conn, "dpdc_ami", as_of=tick(n), finished_at=tick(n), duration_s=1)
        ticks.record_tick(conn, "other", as_of=T0, finished_at=T0, duration_s=1)
        assert ticks.purge_ticks(conn, "dpdc_ami", before=tick(2)) == 2
    with store.connect() as conn:
        assert ticks.durations(conn, ["dpdc_ami", "other"]) == {"dpdc_ami": [1.0], "other": [1.0]}


def test_naive_times_and_negative_durations_are_refused_by_name(store: sa.Engine) -> None:
    with store.begin() as conn:
        with pytest.raises(ValueError, match="finished_at must be an aware datetime"):
            ticks.record_tick(conn, "dpdc_ami", as_of=T0, finished_at=T0.replace(tzinfo=None), duration_s=1)
        with pytest.raises(ValueError, match="duration_s must not be negative"):
            ticks.record_tick(conn, "dpdc_ami", as_of=T0, finished_at=T0, duration_s=-1)
