"""Business-day arithmetic, including the 05:00 boundary, midnight, DST days and a leap day."""

from __future__ import annotations

import datetime as dt

import pendulum
import pytest

from batch_monitor import business_day as bd

DHAKA = "Asia/Dhaka"
NY = "America/New_York"
FIVE = dt.time(5, 0)


def local(tz: str, *args: int) -> pendulum.DateTime:
    return pendulum.datetime(*args, tz=tz)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (local(DHAKA, 2026, 11, 24, 5, 0), dt.date(2026, 11, 24)),  # the boundary itself opens the day
        (local(DHAKA, 2026, 11, 24, 4, 59, 59), dt.date(2026, 11, 23)),  # a second before belongs to yesterday
        (local(DHAKA, 2026, 11, 24, 23, 59), dt.date(2026, 11, 24)),
        (local(DHAKA, 2026, 11, 25, 0, 30), dt.date(2026, 11, 24)),  # after midnight, same business day
        (local(DHAKA, 2028, 3, 1, 4, 0), dt.date(2028, 2, 29)),  # leap day
    ],
)
def test_a_moment_belongs_to_the_business_day_that_contains_it(moment: pendulum.DateTime, expected: dt.date) -> None:
    assert bd.business_date(moment, DHAKA, FIVE) == expected


def test_a_dhaka_business_day_is_24_hours_from_0500_local() -> None:
    start, end = bd.window(dt.date(2026, 11, 24), DHAKA, FIVE)
    assert start == pendulum.datetime(2026, 11, 23, 23, 0, tz="UTC")
    assert end - start == dt.timedelta(hours=24)


@pytest.mark.parametrize(
    ("date", "hours"),
    [
        (dt.date(2026, 3, 7), 23),  # the night clocks spring forward (2026-03-08)
        (dt.date(2026, 10, 31), 25),  # the night clocks fall back (2026-11-01)
        (dt.date(2026, 6, 1), 24),
    ],
)
def test_business_days_are_23_or_25_hours_long_across_dst_changes(date: dt.date, hours: int) -> None:
    start, end = bd.window(date, NY, FIVE)
    assert end - start == dt.timedelta(hours=hours)


def test_a_day_start_in_the_skipped_hour_moves_forward_on_spring_forward() -> None:
    start, _ = bd.window(dt.date(2026, 3, 8), NY, dt.time(2, 30))
    assert start.in_timezone(NY).hour == 3


def test_clock_times_before_the_day_start_fall_on_the_next_morning() -> None:
    moment = bd.at_clock(dt.date(2026, 11, 24), dt.time(1, 0), DHAKA, FIVE)
    assert moment.in_timezone(DHAKA).date() == dt.date(2026, 11, 25)


def test_naive_ccb_times_are_read_in_the_source_zone() -> None:
    naive = dt.datetime(2026, 11, 24, 14, 30)
    assert bd.localize(naive, DHAKA) == pendulum.datetime(2026, 11, 24, 8, 30, tz="UTC")
    assert bd.to_naive_local(bd.localize(naive, DHAKA), DHAKA) == naive


def test_naive_datetimes_are_refused_where_a_zone_is_needed() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        bd.business_date(dt.datetime(2026, 11, 24, 5, 0), DHAKA, FIVE)


def test_a_repeated_wall_clock_time_reads_as_its_first_occurrence_when_clocks_go_back() -> None:
    # 2026-11-01 01:30 happens twice in New York: first in EDT (05:30 UTC), then in EST (06:30 UTC)
    assert bd.localize(dt.datetime(2026, 11, 1, 1, 30), NY) == pendulum.datetime(2026, 11, 1, 5, 30, tz="UTC")
