"""Run calendars: on a day with no run expected nothing is due, but runs that do happen are judged."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from tests.support.workflows import workflow_path

from batch_monitor import business_day as bd
from batch_monitor.config import WorkflowConfig, parse_workflow
from batch_monitor.constants import RunStatus
from batch_monitor.evaluate import evaluate
from batch_monitor.exceptions import WorkflowConfigError
from batch_monitor.models import Evaluation, Observations, RunObservation, ThreadObservation
from batch_monitor.run_calendar import CalendarConfig, is_run_day, run_day

BD_WEEK = "run_days: [sun, mon, tue, wed, thu]"  # Friday and Saturday off


def with_calendar(workflow_id: str, calendar: str) -> WorkflowConfig:
    """The tests' copy of a workflow with a ``calendar:`` block added."""
    path = workflow_path(workflow_id)
    return parse_workflow(path.read_text(encoding="utf-8") + f"\ncalendar: {calendar}\n", path)


@pytest.mark.parametrize(
    ("calendar", "date", "expected", "reason"),
    [
        # Victory Day in Bangladesh (a Wednesday), from the holidays package
        ("{country: BD, skip_on_holidays: true}", dt.date(2026, 12, 16), False, "holiday: Victory Day"),
        ("{country: BD, skip_on_holidays: false}", dt.date(2026, 12, 16), True, None),  # runs on holidays
        ("{country: BD, skip_on_holidays: true}", dt.date(2026, 12, 15), True, None),
        # the site's own extra holiday
        (
            "{country: BD, extra_holidays: [2026-12-17], skip_on_holidays: true}",
            dt.date(2026, 12, 17),
            False,
            "holiday: site holiday",
        ),
        (
            "{extra_holidays: ['2026-12-17'], skip_on_holidays: true}",
            dt.date(2026, 12, 17),
            False,
            "holiday: site holiday",
        ),
        # the weekend off (Bangladesh: Friday and Saturday)
        (f"{{country: BD, {BD_WEEK}}}", dt.date(2026, 11, 27), False, "Friday is not a run day"),
        (f"{{country: BD, {BD_WEEK}}}", dt.date(2026, 11, 28), False, "Saturday is not a run day"),
        (f"{{country: BD, {BD_WEEK}}}", dt.date(2026, 11, 29), True, None),
        # a subdivision's own holiday: Lincoln's Birthday in Connecticut, not in Texas
        (
            "{country: US, subdivision: CT, skip_on_holidays: true}",
            dt.date(2026, 2, 12),
            False,
            "holiday: Lincoln's Birthday",
        ),
        ("{country: US, subdivision: TX, skip_on_holidays: true}", dt.date(2026, 2, 12), True, None),
        ("{}", dt.date(2026, 11, 28), True, None),  # a calendar that says nothing: every day
    ],
)
def test_a_business_date_is_a_run_day_or_says_why_not(
    calendar: str, date: dt.date, expected: bool, reason: str | None
) -> None:
    config = with_calendar("dpdc_ami", calendar).calendar
    assert config is not None
    assert (run_day(config, date).expected, run_day(config, date).reason) == (expected, reason)
    assert is_run_day(config, date) is expected


def test_a_workflow_without_a_calendar_runs_every_day() -> None:
    workflow = parse_workflow(workflow_path("dpdc_ami").read_text(encoding="utf-8"), Path("dpdc_ami.yaml"))
    assert workflow.calendar is None
    assert all(workflow.is_run_day(dt.date(2026, 12, d)) for d in range(1, 32))
    assert is_run_day(None, dt.date(2026, 12, 16))


def observe(workflow: WorkflowConfig, date: dt.date, as_of: dt.datetime, runs: list[RunObservation]) -> Evaluation:
    start, end = bd.window(date, workflow.timezone, workflow.business_day_start)
    obs = Observations(
        workflow_id=workflow.workflow_id,
        business_date=date,
        as_of=as_of,
        window_start=start,
        window_end=end,
        runs=runs,
    )
    return evaluate(workflow, obs, as_of)


def failed_run(workflow: WorkflowConfig, date: dt.date, code: str, hours: float) -> RunObservation:
    """A run of ``code`` that started ``hours`` after the business day's start and failed 10 min later."""
    start = bd.window(date, workflow.timezone, workflow.business_day_start)[0] + dt.timedelta(hours=hours)
    end = start + dt.timedelta(minutes=10)
    thread = ThreadObservation(
        thread_nbr=1, status=RunStatus.ERROR, start=start, end=end, last_activity=end, records=10
    )
    return RunObservation(
        batch_cd=code, batch_nbr=77, status=RunStatus.ERROR, start=start, end=end, threads=[thread], error_text="ORA-1"
    )


# workflow, its calendar, business date, whether a run is expected
DAYS = [
    ("dpdc_ami", "{country: BD, skip_on_holidays: true}", dt.date(2026, 12, 16), False),  # Victory Day
    ("dpdc_ami", "{country: BD, skip_on_holidays: true}", dt.date(2026, 12, 15), True),
    ("dpdc_ami", "{extra_holidays: [2026-12-17], skip_on_holidays: true}", dt.date(2026, 12, 17), False),
    ("dpdc_ami", f"{{{BD_WEEK}}}", dt.date(2026, 11, 28), False),  # a Saturday off
    ("dpdc_ami", f"{{{BD_WEEK}}}", dt.date(2026, 11, 29), True),  # the Sunday after: a run day
    # America/New_York, the spring-forward Sunday: the business day starts at 03:30 EDT, 23 hours long
    ("us_east_settlement", "{country: US, run_days: [mon, tue, wed, thu, fri]}", dt.date(2024, 3, 10), False),
    ("us_east_settlement", "{country: US, run_days: [mon, tue, wed, thu, fri, sat, sun]}", dt.date(2024, 3, 10), True),
    ("us_east_settlement", "{country: US, run_days: [mon, tue, wed, thu, fri]}", dt.date(2024, 3, 11), True),
]


@pytest.mark.parametrize(("workflow_id", "calendar", "date", "expected"), DAYS)
def test_on_a_day_with_no_run_expected_nothing_is_late_but_a_run_that_fails_still_counts(
    workflow_id: str, calendar: str, date: dt.date, expected: bool
) -> None:
    workflow = with_calendar(workflow_id, calendar)
    end = bd.window(date, workflow.timezone, workflow.business_day_start)[1]
    as_of = end - dt.timedelta(minutes=1)  # the day is over: every start and deadline has passed
    quiet = observe(workflow, date, as_of, [])
    due = {(f.kind.value, f.step_id) for f in quiet.findings}
    assert quiet.run_expected is expected
    if expected:
        assert ("LATE_START", workflow.steps[0].id) in due and ("MISSED_DEADLINE", "_chain") in due
        assert quiet.no_run_reason is None
    else:
        assert due == set() and quiet.no_run_reason
    first = workflow.steps[0]
    failing = observe(workflow, date, as_of, [failed_run(workflow, date, first.batch_code, 0.5)])
    kinds = {(f.kind.value, f.step_id) for f in failing.findings}
    assert ("FAILED", first.id) in kinds
    if not expected:
        assert {k for k, _ in kinds} <= {"FAILED", "OUT_OF_ORDER"}


def test_the_business_date_not_the_clock_date_decides_on_the_spring_forward_day() -> None:
    """01:00 on Monday 2024-03-11 is still Sunday's business day (it starts at 02:30): no run is due."""
    workflow = with_calendar("us_east_settlement", "{run_days: [mon, tue, wed, thu, fri]}")
    monday_night = dt.datetime(2024, 3, 11, 5, 0, tzinfo=dt.UTC)  # 01:00 EDT
    date = bd.business_date(monday_night, workflow.timezone, workflow.business_day_start)
    assert date == dt.date(2024, 3, 10)
    ev = observe(workflow, date, monday_night, [])
    assert (ev.run_expected, ev.no_run_reason, ev.findings) == (False, "Sunday is not a run day", [])


@pytest.mark.parametrize(
    ("calendar", "message"),
    [
        ("{country: XX}", "field 'calendar.country': unknown country 'XX'"),
        ("{country: US, subdivision: ZZ}", "field 'calendar.subdivision': unknown subdivision 'ZZ' of US"),
        ("{subdivision: NY}", "field 'calendar.subdivision': a subdivision needs a known 'country'"),
        ("{run_days: [mon, fun]}", "field 'calendar.run_days': 'fun' is not a day of the week"),
        ("{run_days: []}", "field 'calendar.run_days': name at least one day the chain runs on"),
        (
            "{extra_holidays: [2026-12-16, 2026-13-01]}",
            "field 'calendar.extra_holidays': [1] '2026-13-01' is not a date",
        ),
        ("{extra_holidays: [tomorrow]}", "field 'calendar.extra_holidays': [0] 'tomorrow' is not a date"),
        ("{skip_holidays: true}", "field 'calendar.skip_holidays': unknown field"),
    ],
)
def test_a_bad_calendar_is_an_error_naming_the_file_and_the_field(calendar: str, message: str) -> None:
    with pytest.raises(WorkflowConfigError) as caught:
        with_calendar("dpdc_ami", calendar)
    text = str(caught.value)
    assert text.startswith(f"{workflow_path('dpdc_ami')}: invalid workflow file")
    assert message in text


def test_run_days_read_as_people_write_them() -> None:
    config = CalendarConfig.model_validate({"run_days": "Monday, TUE wed", "country": "bd"})
    assert (config.run_days, config.country) == (["mon", "tue", "wed"], "BD")
