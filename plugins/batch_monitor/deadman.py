"""The monitor's dead man's switch: has a workflow's monitoring stopped ticking? (pure)

A workflow is *stale* when its last tick that ran to its end finished longer ago than twice its
schedule's interval: one late or failed tick is tolerated, two in a row are not. The interval is
the gap between the two fire times of the cron ``schedule`` that follow the last tick (so a
schedule with uneven gaps, e.g. ``0 6,18 * * *``, is judged by the gap it is in). A workflow that
never finished a tick is stale. Callers pass ``now``: the API reads it from the wall clock at its edge.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from croniter import croniter

STALE_INTERVALS = 2


@dataclass(frozen=True)
class MonitorPulse:
    """Whether a workflow's monitoring is alive as of ``now``."""

    last_tick_at: dt.datetime | None
    interval: dt.timedelta
    stale: bool


def schedule_interval(schedule: str, after: dt.datetime) -> dt.timedelta:
    """The gap between the two fire times of the cron ``schedule`` that follow ``after``.

    Raises ValueError naming the schedule when it is not a valid cron expression.
    """
    if not croniter.is_valid(schedule):
        raise ValueError(f"schedule {schedule!r} is not a valid cron expression")
    fires = croniter(schedule, after.astimezone(dt.UTC))
    first: dt.datetime = fires.get_next(dt.datetime)
    second: dt.datetime = fires.get_next(dt.datetime)
    return second - first


def pulse(last_tick_at: dt.datetime | None, schedule: str, now: dt.datetime) -> MonitorPulse:
    """Whether the last finished tick (None: never) is older than twice the schedule's interval."""
    if now.tzinfo is None:
        raise ValueError(f"now must be an aware datetime, got {now!r}")
    if last_tick_at is None:
        return MonitorPulse(last_tick_at=None, interval=schedule_interval(schedule, now), stale=True)
    interval = schedule_interval(schedule, last_tick_at)
    return MonitorPulse(
        last_tick_at=last_tick_at, interval=interval, stale=now - last_tick_at > STALE_INTERVALS * interval
    )
