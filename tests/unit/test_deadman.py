"""The dead man's switch: a workflow is stale after two schedule intervals without a finished tick."""

from __future__ import annotations

import datetime as dt

import pytest

from batch_monitor.deadman import pulse, schedule_interval

T = dt.datetime(2026, 3, 12, 10, 2, tzinfo=dt.UTC)


def test_the_interval_of_a_quarter_hourly_schedule_is_fifteen_minutes() -> None:
    assert schedule_interval("*/15 * * * *", T) == dt.timedelta(minutes=15)


def test_an_uneven_schedule_is_judged_by_the_gap_that_follows_the_tick() -> None:
    # fires at 06:00 and 18:00: from 10:02 the next gap is 18:00 → 06:00, twelve hours
    assert schedule_interval("0 6,18 * * *", T) == dt.timedelta(hours=12)
    assert schedule_interval("0 6,20 * * *", T) == dt.timedelta(hours=10)


def test_one_missed_tick_is_tolerated_and_two_are_not() -> None:
    assert not pulse(T, "*/15 * * * *", T + dt.timedelta(minutes=29)).stale
    assert not pulse(T, "*/15 * * * *", T + dt.timedelta(minutes=30)).stale
    late = pulse(T, "*/15 * * * *", T + dt.timedelta(minutes=30, seconds=1))
    assert late.stale
    assert late.last_tick_at == T
    assert late.interval == dt.timedelta(minutes=15)


def test_a_workflow_that_never_finished_a_tick_is_stale() -> None:
    result = pulse(None, "*/15 * * * *", T)
    assert result.stale
    assert result.last_tick_at is None


def test_a_bad_schedule_or_a_naive_now_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="schedule 'every day' is not a valid cron expression"):
        pulse(T, "every day", T)
    with pytest.raises(ValueError, match="now must be an aware datetime"):
        pulse(T, "*/15 * * * *", T.replace(tzinfo=None))
