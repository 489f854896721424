"""Business-day arithmetic: which business date a moment belongs to, and the window of a date.

A business day starts at a local clock time (05:00 for DPDC) and lasts until the same clock
time on the next calendar day, so it is 23, 24 or 25 hours long across daylight-saving changes.
Clock times inside a business day that are earlier than its start belong to the next calendar
day ("02:00" in a day starting 05:00 is 02:00 the morning after).

Pure: pendulum only, no Airflow, no database.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import pendulum

UTC = pendulum.UTC


@lru_cache(maxsize=64)
def zone(name: str) -> pendulum.Timezone:
    """The pendulum zone of an IANA name, loaded once (loading one costs tens of microseconds)."""
    return pendulum.timezone(name)  # type: ignore[return-value]


def to_utc(moment: dt.datetime) -> pendulum.DateTime:
    """An aware datetime in UTC. Naive datetimes are refused: every caller must know its zone."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment.isoformat()} has no time zone")
    return pendulum.instance(moment).in_timezone(UTC)


def plain_utc(moment: dt.datetime) -> dt.datetime:
    """An aware datetime in UTC as a plain ``datetime`` (not pendulum's): the same moment, for code that
    adds and subtracts many times (pendulum's arithmetic costs about 50 times the standard library's)."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment.isoformat()} has no time zone")
    u = moment.astimezone(dt.UTC)
    return dt.datetime(u.year, u.month, u.day, u.hour, u.minute, u.second, u.microsecond, tzinfo=dt.UTC)


def localize(naive: dt.datetime, timezone: str) -> pendulum.DateTime:
    """Read a naive wall-clock time (as CC&B stores it) in ``timezone`` and return it in UTC.

    Ambiguous times (the repeated hour when clocks go back) resolve to the first occurrence;
    times that do not exist (skipped hour when clocks go forward) are moved forward.
    """
    return wall_clock(naive, timezone).in_timezone(UTC)


def wall_clock(naive: dt.datetime, timezone: str) -> pendulum.DateTime:
    """``naive`` read in ``timezone``: a repeated time is its first occurrence, a skipped one moves forward."""
    fields = (naive.year, naive.month, naive.day, naive.hour, naive.minute, naive.second, naive.microsecond)
    first = pendulum.datetime(*fields, tz=zone(timezone), fold=0)
    if (first.hour, first.minute) == (naive.hour, naive.minute):
        return first
    return pendulum.datetime(*fields, tz=zone(timezone), fold=1)  # in the hour the clocks skip


def wall_clock_utc(naive: dt.datetime, timezone: str) -> dt.datetime:
    """:func:`wall_clock` in UTC, as a plain ``datetime``. A wall-clock time that is neither repeated nor
    skipped (all but one hour a year) is converted by the standard library, without pendulum's cost."""
    tz = zone(timezone)
    first, second = naive.replace(tzinfo=tz, fold=0), naive.replace(tzinfo=tz, fold=1)
    if first.utcoffset() == second.utcoffset():  # one moment: no DST change at this time
        return first.astimezone(dt.UTC)
    return plain_utc(wall_clock(naive, timezone))


def to_naive_local(moment: dt.datetime, timezone: str) -> dt.datetime:
    """The wall-clock time at ``moment`` in ``timezone``, without zone (to bind against CC&B)."""
    local = to_utc(moment).in_timezone(zone(timezone))
    return dt.datetime(local.year, local.month, local.day, local.hour, local.minute, local.second, local.microsecond)


def at_clock(date: dt.date, clock: dt.time, timezone: str, day_start: dt.time) -> pendulum.DateTime:
    """The UTC moment of local ``clock`` within business ``date``.

    Clock times before ``day_start`` fall on the calendar day after ``date``.
    """
    calendar_day = date if clock >= day_start else date + dt.timedelta(days=1)
    naive = dt.datetime.combine(calendar_day, clock.replace(tzinfo=None))
    return wall_clock(naive, timezone).in_timezone(UTC)


def window(date: dt.date, timezone: str, day_start: dt.time) -> tuple[pendulum.DateTime, pendulum.DateTime]:
    """[start, end) of business ``date`` in UTC."""
    start = at_clock(date, day_start, timezone, day_start)
    nxt = date + dt.timedelta(days=1)
    end = at_clock(nxt, day_start, timezone, day_start)
    return start, end


def business_date(moment: dt.datetime, timezone: str, day_start: dt.time) -> dt.date:
    """The business date that contains ``moment`` (an aware datetime)."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment.isoformat()} has no time zone")
    local = moment.astimezone(zone(timezone))  # the standard library's conversion: no pendulum object per call
    calendar_day = dt.date(local.year, local.month, local.day)
    if local.time() < day_start:
        return calendar_day - dt.timedelta(days=1)
    return calendar_day
