"""Run calendars: on which business days a workflow's chain is expected to run. Pure.

A workflow may declare ``calendar: {country: BD, subdivision: null, extra_holidays: [...],
run_days: [mon, ..., sun], skip_on_holidays: false}``. Holidays come from the ``holidays``
package (the country's, and its subdivision's) plus the site's ``extra_holidays``. A business
date is a run day when its weekday is in ``run_days`` and, with ``skip_on_holidays``, it is not
a holiday. The business date is the calendar date of the day's start in the workflow's zone
(business_day.py), so DST never moves a day onto another date.

Named ``run_calendar`` and not ``calendar``: a module called ``calendar`` would stand in for the
standard library's wherever ``plugins/batch_monitor`` lands on ``sys.path`` (Airflow's plugin
loader imports every file under plugins/ as a top-level module by its file name, unless
.airflowignore keeps it out).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import holidays
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

# the kinds of finding that speak of a run being due: none holds on a day with no run expected
# (AT_RISK: the forecast's, named by value so this module needs no newer FindingKind)
DUE_KINDS = frozenset({"LATE_START", "MISSED_DEADLINE", "AT_RISK"})
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _weekday(value: Any) -> str:
    """'mon', 'Monday', 'MON' → 'mon'."""
    name = str(value).strip().lower()
    for short, full in zip(WEEKDAYS, _DAY_NAMES, strict=True):
        if name in (short, full.lower()):
            return short
    raise ValueError(f"{value!r} is not a day of the week; use {', '.join(WEEKDAYS)}")


def _date(value: Any) -> dt.date:
    """A YAML date (2026-12-16) or its ISO text → date."""
    if isinstance(value, dt.datetime):
        raise ValueError(f"{value!r} is not a date; write YYYY-MM-DD, e.g. 2026-12-16")
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f"{value!r} is not a date; write YYYY-MM-DD, e.g. 2026-12-16")


class CalendarConfig(BaseModel):
    """A workflow's run calendar (YAML ``calendar:``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    country: str | None = None  # ISO 3166 code known to the holidays package, e.g. "BD"
    subdivision: str | None = None  # e.g. "NY" for the United States
    extra_holidays: list[dt.date] = Field(default_factory=list)  # the site's own dates
    run_days: list[str] = Field(default_factory=lambda: list(WEEKDAYS))
    skip_on_holidays: bool = False  # true: no run is expected on a holiday

    @field_validator("country", "subdivision", mode="before")
    @classmethod
    def _code(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) and value.strip() else (value or None)

    @field_validator("country")
    @classmethod
    def _known_country(cls, value: str | None) -> str | None:
        if value is not None and value not in holidays.list_supported_countries():
            raise ValueError(f"unknown country {value!r}; use an ISO 3166 code the holidays package knows, e.g. 'BD'")
        return value

    @field_validator("extra_holidays", mode="before")
    @classmethod
    def _dates(cls, value: Any) -> Any:
        if value is None:
            return []
        if not isinstance(value, list):
            raise ValueError("write a list of dates such as [2026-12-16]")
        problems = []
        dates = []
        for index, item in enumerate(value):
            try:
                dates.append(_date(item))
            except ValueError as exc:
                problems.append(f"[{index}] {exc}")
        if problems:
            raise ValueError("; ".join(problems))
        return dates

    @field_validator("run_days", mode="before")
    @classmethod
    def _days(cls, value: Any) -> Any:
        items = value.replace(",", " ").split() if isinstance(value, str) else value
        if not isinstance(items, list):
            raise ValueError(f"write a list of days such as [mon, tue, wed, thu, fri] ({', '.join(WEEKDAYS)})")
        days = [_weekday(item) for item in items]
        if not days:
            raise ValueError("name at least one day the chain runs on")
        return sorted(set(days), key=WEEKDAYS.index)

    @field_validator("subdivision")
    @classmethod
    def _known_subdivision(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        country = info.data.get("country")
        if country is None:
            raise ValueError("a subdivision needs a known 'country'")
        known = list(holidays.list_supported_countries()[country])
        if value not in known:
            listed = (", ".join(known[:12]) + (", ..." if len(known) > 12 else "")) if known else "none"
            raise ValueError(f"unknown subdivision {value!r} of {country} (known: {listed})")
        return value


@dataclass(frozen=True)
class RunDay:
    """Whether a run is expected on a business date, and if not, why."""

    expected: bool
    reason: str | None = None  # "Saturday is not a run day", "holiday: Victory Day"
    holiday: str | None = None  # the holiday's name, also when runs are expected on it


@lru_cache(maxsize=64)
def _country_holidays(country: str, subdivision: str | None, year: int) -> dict[dt.date, str]:
    found = holidays.country_holidays(country, subdiv=subdivision, years=year)
    return {day: str(name) for day, name in found.items()}


def holiday_name(calendar: CalendarConfig, date: dt.date) -> str | None:
    """The holiday ``date`` is in the calendar (the site's extra ones first), or None."""
    if date in calendar.extra_holidays:
        return "site holiday"
    if calendar.country is None:
        return None
    return _country_holidays(calendar.country, calendar.subdivision, date.year).get(date)


def run_day(calendar: CalendarConfig | None, date: dt.date) -> RunDay:
    """Whether a run is expected on business date ``date`` (no calendar: every day)."""
    if calendar is None:
        return RunDay(expected=True)
    holiday = holiday_name(calendar, date)
    weekday = WEEKDAYS[date.weekday()]
    if weekday not in calendar.run_days:
        return RunDay(expected=False, reason=f"{_DAY_NAMES[date.weekday()]} is not a run day", holiday=holiday)
    if holiday is not None and calendar.skip_on_holidays:
        return RunDay(expected=False, reason=f"holiday: {holiday}", holiday=holiday)
    return RunDay(expected=True, holiday=holiday)


def is_run_day(calendar: CalendarConfig | None, date: dt.date) -> bool:
    """True when a run is expected on business date ``date`` (baselines count only these days)."""
    return run_day(calendar, date).expected
