"""Silences and maintenance windows: which alerts they cover as of a moment.

A silence covers, from ``starts_at`` until it ends (``ends_at``, or earlier when an operator ended
it), the alerts of one workflow: all of them, one step's (``step_id``), only some kinds
(``kinds``), or one alert (``alert_id``: a snooze). A maintenance window from the workflow's YAML
is the same thing, made anew for each of its occurrences (:func:`maintenance_silences`).

While a silence covers an alert the alert is recorded and shown, but nothing about it is mailed;
the store mails a held problem mail once the silence has ended, if the alert still holds.

Pure: no Airflow, no database; every answer is judged as of a moment it is given.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal
from zoneinfo import ZoneInfo

from croniter import croniter

from batch_monitor.config import MaintenanceWindow, WorkflowConfig
from batch_monitor.text import format_duration

Source = Literal["silence", "snooze", "maintenance"]
MAINTENANCE_ACTOR = "maintenance"


@dataclass(frozen=True)
class Silence:
    """One silence, snooze or occurrence of a maintenance window (times aware, any zone)."""

    workflow_id: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    created_by: str
    comment: str
    step_id: str | None = None  # None: the whole workflow
    kinds: tuple[str, ...] | None = None  # None: every kind
    alert_id: int | None = None  # a snooze of one alert
    id: int | None = None  # None for a maintenance window (it is not stored)
    ended_at: dt.datetime | None = None
    ended_by: str | None = None
    created_at: dt.datetime | None = None

    @property
    def source(self) -> Source:
        if self.id is None:
            return "maintenance"
        return "snooze" if self.alert_id is not None else "silence"

    @property
    def end(self) -> dt.datetime:
        """When it stops covering: its end, or when it was ended by hand if that came first."""
        if self.ended_at is not None and self.ended_at < self.ends_at:
            return self.ended_at
        return self.ends_at

    def active(self, at: dt.datetime) -> bool:
        return self.starts_at <= at < self.end

    def matches(self, step_id: str, kind: str, alert_id: int | None = None) -> bool:
        """Whether its scope takes in this alert, at any time."""
        if self.alert_id is not None:
            return alert_id == self.alert_id
        if self.step_id is not None and self.step_id != step_id:
            return False
        return self.kinds is None or kind in self.kinds

    def covers(self, step_id: str, kind: str, alert_id: int | None, at: dt.datetime) -> bool:
        return self.active(at) and self.matches(step_id, kind, alert_id)


def covering(
    silences: Iterable[Silence], step_id: str, kind: str, alert_id: int | None, at: dt.datetime
) -> Silence | None:
    """The silence that covers the alert at ``at`` and lasts longest (None: the alert is not silenced)."""
    found = [s for s in silences if s.covers(step_id, kind, alert_id, at)]
    return max(found, key=lambda s: (s.end, s.starts_at)) if found else None


def describe(silence: Silence, timezone: str, at: dt.datetime) -> str:
    """'silenced until 11:00 by op1: planned rerun' (the end in local time; with its date when it
    is not on the same local day as ``at``)."""
    zone = ZoneInfo(timezone)
    end = silence.end.astimezone(zone)
    until = f"{end:%H:%M}" if end.date() == at.astimezone(zone).date() else f"{end:%Y-%m-%d %H:%M}"
    by = "a maintenance window" if silence.source == "maintenance" else silence.created_by
    reason = f": {silence.comment}" if silence.comment else ""
    return f"silenced until {until} by {by}{reason}"


def _aware(moment: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment


def window_occurrences(
    window: MaintenanceWindow, timezone: str, start: dt.datetime, end: dt.datetime
) -> list[tuple[dt.datetime, dt.datetime]]:
    """The occurrences of ``window`` that overlap ``[start, end)``, as (from, to) in UTC, oldest first.

    A cron window starts at each cron time in the workflow's zone and lasts ``duration``.
    """
    zone = ZoneInfo(timezone)
    if window.cron is None:
        assert window.from_ is not None and window.to is not None  # the model allows no other form
        begins, ends = _aware(window.from_, zone).astimezone(dt.UTC), _aware(window.to, zone).astimezone(dt.UTC)
        return [(begins, ends)] if begins < end and ends > start else []
    assert window.duration is not None
    found: list[tuple[dt.datetime, dt.datetime]] = []
    times = croniter(window.cron, (start - window.duration).astimezone(zone))
    while True:
        begins = times.get_next(dt.datetime).astimezone(dt.UTC)
        if begins >= end:
            return found
        if begins + window.duration > start:
            found.append((begins, begins + window.duration))


def maintenance_silences(
    workflow_id: str,
    timezone: str,
    windows: Iterable[MaintenanceWindow],
    start: dt.datetime,
    end: dt.datetime,
) -> list[Silence]:
    """A workflow's maintenance windows that overlap ``[start, end)``, as silences (one per step
    a window names, one for the whole workflow when it names none)."""
    found: list[Silence] = []
    for window in windows:
        comment = window.comment or "maintenance window"
        if not window.comment and window.cron and window.duration:
            comment = f"maintenance window ({window.cron}, {format_duration(window.duration)})"
        scopes: Sequence[str | None] = window.steps or [None]
        for begins, ends in window_occurrences(window, timezone, start, end):
            found += [Silence(workflow_id, begins, ends, MAINTENANCE_ACTOR, comment, step_id=step) for step in scopes]
    return found


def workflow_maintenance(workflow: WorkflowConfig, start: dt.datetime, end: dt.datetime) -> list[Silence]:
    """:func:`maintenance_silences` of a workflow as configured."""
    return maintenance_silences(workflow.workflow_id, workflow.timezone, workflow.maintenance, start, end)


def active_at(silences: Iterable[Silence], at: dt.datetime) -> list[Silence]:
    """The silences in effect at ``at``."""
    return [s for s in silences if s.active(at)]
