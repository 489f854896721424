"""Baselines learned per step from run history: robust figures, segments, and how the evaluator uses them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from batch_monitor import business_day as bd
from batch_monitor.baselines import (
    ALL,
    MONTH_END,
    WEEKDAY,
    WEEKEND,
    HistoryRun,
    compute_baselines,
    is_month_end,
    learned_max_duration_s,
    percentile,
    segments_of,
    select_baselines,
    typical_start,
    usable,
    without_outliers,
)
from batch_monitor.config import WorkflowConfig, parse_workflow
from batch_monitor.constants import FindingKind, RunStatus
from batch_monitor.evaluate import evaluate
from batch_monitor.exceptions import WorkflowConfigError
from batch_monitor.models import Observations, RunObservation, StepBaseline, ThreadObservation

# A-LOAD → B-BILL; C-FLUSH runs three times a day after B-BILL
CHAIN = """
workflow_id: baseline_chain
timezone: {zone}
business_day_start: "05:00"
baseline_days: 30
baseline_min_days: {min_days}
steps:
  - batch_code: A-LOAD
  - batch_code: B-BILL
  - batch_code: C-FLUSH
    repeat: {{runs: 3}}
"""
MONDAY = dt.date(2026, 11, 2)  # Monday 2 November 2026


def chain(zone: str = "UTC", min_days: int = 5, extra: str = "") -> WorkflowConfig:
    return parse_workflow(CHAIN.format(zone=zone, min_days=min_days) + extra, Path("baseline_chain.yaml"))


WF = chain()


def at(date: dt.date, clock: str, workflow: WorkflowConfig = WF) -> dt.datetime:
    hour, minute = map(int, clock.split(":"))
    return bd.at_clock(date, dt.time(hour, minute), workflow.timezone, workflow.business_day_start)


def hist(
    step: str,
    date: dt.date,
    start: str,
    minutes: float,
    *,
    records: int = 1000,
    status: RunStatus = RunStatus.COMPLETE,
    workflow: WorkflowConfig = WF,
) -> HistoryRun:
    begin = at(date, start, workflow)
    return HistoryRun(
        step_id=step,
        business_date=date,
        start=begin,
        end=begin + dt.timedelta(minutes=minutes),
        records=records,
        status=status,
        day_start=bd.window(date, workflow.timezone, workflow.business_day_start)[0],
    )


def days(first: dt.date, count: int) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range(count)]


def weekdays(first: dt.date, count: int) -> list[dt.date]:
    found: list[dt.date] = []
    day = first
    while len(found) < count:
        if day.weekday() < 5:
            found.append(day)
        day += dt.timedelta(days=1)
    return found


def by_step(baselines: list[StepBaseline], segment: str = ALL) -> dict[str, StepBaseline]:
    return {b.step_id: b for b in baselines if b.segment == segment}


# --------------------------------------------------------------------------- robust statistics


@pytest.mark.parametrize(
    ("values", "kept"),
    [
        ([10, 11, 12, 13, 100], [10, 11, 12, 13]),  # one wild run
        ([30, 31, 29, 30, 32, 31, 300, 2], [29, 30, 30, 31, 31, 32]),  # one too long, one too short (sorted)
        ([5, 5, 5, 5, 50], [5, 5, 5, 5]),  # MAD 0: the mean absolute deviation scales
        ([5, 5, 5, 5], [5, 5, 5, 5]),  # no spread at all: nothing is an outlier
        ([1000, 10], [10, 1000]),  # too few values to tell
        ([10, 12, 14, 16, 18], [10, 12, 14, 16, 18]),  # a plain spread keeps everything
    ],
)
def test_outliers_beyond_a_robust_z_of_3_5_are_dropped_and_the_rest_sorted(
    values: list[float], kept: list[float]
) -> None:
    assert without_outliers(values) == kept


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [([1, 2, 3, 4], 0.5, 2.5), ([1, 2, 3, 4, 5], 0.9, 4.6), ([7], 0.1, 7), ([3, 1, 2], 0.0, 1)],
)
def test_percentiles_interpolate_linearly(values: list[float], q: float, expected: float) -> None:
    assert percentile(values, q) == pytest.approx(expected)


# --------------------------------------------------------------------------- learning


def test_a_step_learns_its_duration_records_start_and_gap_without_the_outlier_day() -> None:
    history = []
    for i, date in enumerate(weekdays(MONDAY, 10)):
        a_minutes = 300 if i == 4 else 30 + i % 3  # day 5: a five-hour run
        history.append(hist("A-LOAD", date, "05:00", a_minutes, records=1000 + 10 * i))
        a_end = at(date, "05:00") + dt.timedelta(minutes=a_minutes)
        b_start = (a_end + dt.timedelta(minutes=5)).astimezone(dt.UTC)
        history.append(hist("B-BILL", date, b_start.strftime("%H:%M"), 60, records=50_000))
    learned = by_step(compute_baselines(WF, history))
    a, b = learned["A-LOAD"], learned["B-BILL"]
    assert (a.sample_days, a.runs_per_day) == (10, 1)
    assert a.duration_p50_s == pytest.approx(31 * 60) and a.duration_p90_s is not None
    assert a.duration_p90_s <= 32 * 60  # the five-hour day is not in p90
    assert (a.records_p10, a.records_p50, a.records_p90) == pytest.approx((1009, 1045, 1081))
    assert a.start_offset_p50_s == 0 and a.gap_p50_s is None  # first step: no predecessor
    assert b.gap_p50_s == pytest.approx(300)  # five minutes after A-LOAD ended, every day
    assert learned_max_duration_s(a) == pytest.approx(max(a.duration_p90_s * 1.5, a.duration_p90_s + 600))


def test_failed_runs_are_ignored_and_days_without_a_good_run_do_not_count() -> None:
    history = []
    for date in weekdays(MONDAY, 6):
        history.append(hist("A-LOAD", date, "05:00", 5, status=RunStatus.ERROR, records=3))  # fails at once
        history.append(hist("A-LOAD", date, "06:00", 40))  # the rerun makes it good
    only_failed = weekdays(MONDAY, 8)[-1]
    history.append(hist("A-LOAD", only_failed, "05:00", 500, status=RunStatus.ERROR))
    history.append(hist("A-LOAD", only_failed, "07:00", 0, status=RunStatus.RUNNING))
    a = by_step(compute_baselines(WF, history))["A-LOAD"]
    assert a.sample_days == 6
    assert (a.runs_per_day, a.duration_p50_s, a.records_p50) == (1, 40 * 60, 1000)
    assert a.start_offset_p50_s == 0  # the step started at 05:00 (its failed first run), not at the rerun


def test_a_multi_run_step_learns_per_run_figures_and_runs_per_day() -> None:
    history = [
        hist("C-FLUSH", date, clock, 8, records=900)
        for date in weekdays(MONDAY, 5)
        for clock in ("12:00", "12:20", "12:40")
    ]
    c = by_step(compute_baselines(WF, history))["C-FLUSH"]
    assert (c.sample_days, c.runs_per_day, c.duration_p50_s, c.records_p50) == (5, 3, 480, 900)
    assert c.start_offset_p50_s == 7 * 3600  # the first run of the day, 12:00


def test_too_little_history_gives_a_baseline_that_does_not_judge() -> None:
    history = [hist("A-LOAD", date, "05:00", 30) for date in weekdays(MONDAY, 3)]
    learned = compute_baselines(WF, history)
    assert [(b.step_id, b.segment, b.sample_days) for b in learned] == [("A-LOAD", ALL, 3)]
    assert usable(learned[0], WF.baseline_min_days) is None
    assert usable(learned[0], 3) == learned[0]
    assert compute_baselines(WF, []) == []


def test_only_the_calendars_run_days_count() -> None:
    holiday = weekdays(MONDAY, 6)[-1]
    calendar = f"calendar: {{country: BD, extra_holidays: [{holiday.isoformat()}], skip_on_holidays: true}}\n"
    workflow = chain(extra=calendar)
    history = [hist("A-LOAD", date, "05:00", 30, workflow=workflow) for date in weekdays(MONDAY, 5)]
    history.append(hist("A-LOAD", holiday, "09:00", 300, records=5, workflow=workflow))  # a one-off on the holiday
    a = by_step(compute_baselines(workflow, history))["A-LOAD"]
    assert (a.sample_days, a.duration_p50_s, a.start_offset_p50_s) == (5, 30 * 60, 0)
    assert by_step(compute_baselines(WF, history))["A-LOAD"].sample_days == 6  # no calendar: every day counts


def test_weekday_and_weekend_segments_are_kept_only_with_enough_days() -> None:
    def weekend_slow(count: int) -> list[HistoryRun]:
        return [hist("A-LOAD", d, "05:00", 90 if d.weekday() >= 5 else 30) for d in days(MONDAY, count)]

    two_weeks = compute_baselines(WF, weekend_slow(14))  # 10 weekdays, 4 weekend days
    assert {b.segment for b in two_weeks} == {ALL, WEEKDAY}
    assert by_step(two_weeks, WEEKDAY)["A-LOAD"].duration_p50_s == 30 * 60
    saturday, tuesday = dt.date(2026, 11, 21), dt.date(2026, 11, 17)
    assert select_baselines(two_weeks, saturday, WF.weekend_days)["A-LOAD"].segment == ALL
    assert select_baselines(two_weeks, tuesday, WF.weekend_days)["A-LOAD"].segment == WEEKDAY

    three_weeks = compute_baselines(WF, weekend_slow(21))  # 6 weekend days: enough
    weekend = select_baselines(three_weeks, saturday, WF.weekend_days)["A-LOAD"]
    assert (weekend.segment, weekend.sample_days, weekend.duration_p50_s) == (WEEKEND, 6, 90 * 60)


def test_a_segment_that_holds_every_day_is_not_kept_twice() -> None:
    learned = compute_baselines(WF, [hist("A-LOAD", d, "05:00", 30) for d in weekdays(MONDAY, 8)])
    assert {b.segment for b in learned} == {ALL}


@pytest.mark.parametrize(
    ("date", "weekend", "month_end"),
    [
        (dt.date(2026, 11, 30), ["sat", "sun"], True),  # Monday, the month's last weekday
        (dt.date(2026, 11, 27), ["sat", "sun"], True),  # Friday: only the 30th comes after it
        (dt.date(2026, 11, 26), ["sat", "sun"], True),  # Thursday: 27th and 30th after it
        (dt.date(2026, 11, 25), ["sat", "sun"], False),  # three weekdays still to come
        (dt.date(2026, 11, 28), ["sat", "sun"], False),  # a weekend day is never month-end
        (dt.date(2026, 11, 27), ["fri", "sat"], False),  # Bangladesh's weekend
        (dt.date(2026, 11, 26), ["fri", "sat"], True),  # ... makes the 26th, 29th and 30th the last ones
        (dt.date(2026, 2, 26), ["sat", "sun"], True),
    ],
)
def test_month_end_is_the_last_three_non_weekend_days(date: dt.date, weekend: list[str], month_end: bool) -> None:
    assert is_month_end(date, weekend) is month_end
    assert (MONTH_END in segments_of(date, weekend)) is month_end


def test_the_month_end_segment_learns_its_own_figures_with_two_months_of_history() -> None:
    workflow = chain(extra="baseline_days: 60\n")
    history = [
        hist("A-LOAD", d, "05:00", 120 if is_month_end(d, workflow.weekend_days) else 30, workflow=workflow)
        for d in weekdays(dt.date(2026, 10, 1), 44)
    ]
    learned = compute_baselines(workflow, history)
    assert by_step(learned, MONTH_END)["A-LOAD"].sample_days == 6
    picked = select_baselines(learned, dt.date(2026, 11, 30), workflow.weekend_days)["A-LOAD"]
    assert (picked.segment, picked.duration_p50_s) == (MONTH_END, 120 * 60)
    assert select_baselines(learned, dt.date(2026, 11, 10), workflow.weekend_days)["A-LOAD"].duration_p50_s == 1800


def test_the_start_offset_is_wall_clock_time_across_a_dst_change() -> None:
    workflow = chain(zone="America/New_York")
    history = [hist("A-LOAD", d, "07:00", 30, workflow=workflow) for d in days(dt.date(2026, 10, 26), 14)]
    a = by_step(compute_baselines(workflow, history))["A-LOAD"]
    assert a.start_offset_p50_s == 2 * 3600 and a.start_offset_p90_s == 2 * 3600
    for date in (dt.date(2026, 10, 30), dt.date(2026, 11, 3)):  # EDT, then EST
        assert typical_start(a, date, workflow.timezone, workflow.business_day_start) == at(date, "07:00", workflow)


# --------------------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ("baseline_days: 0\n", "field 'baseline_days'"),
        ("baseline_days: 10\nbaseline_min_days: 20\n", "field 'baseline_min_days': 20 is more than baseline_days"),
        ("baseline_min_days: -1\n", "field 'baseline_min_days'"),
        ("weekend_days: [sat, sunday, funday]\n", "'funday' is not a day of the week"),
    ],
)
def test_bad_baseline_settings_name_the_field(extra: str, problem: str) -> None:
    with pytest.raises(WorkflowConfigError) as caught:
        chain(extra=extra)
    assert "baseline_chain.yaml" in str(caught.value) and problem in str(caught.value)


def test_learned_is_accepted_for_start_and_durations_and_omitted_means_learned() -> None:
    text = CHAIN.format(zone="UTC", min_days=5).replace(
        "  - batch_code: A-LOAD\n",
        "  - batch_code: A-LOAD\n    expected_start: learned\n    expected_duration: learned\n"
        "    max_duration: learned\n",
    )
    text = text.replace("  - batch_code: B-BILL\n", "  - batch_code: B-BILL\n    expected_start: after_predecessor\n")
    workflow = parse_workflow(text + "weekend_days: fri, sat\n", Path("x.yaml"))
    a, b, c = workflow.steps
    assert (a.expected_start, a.expected_duration, a.max_duration) == ("learned", None, None)
    assert all(a.learns(name) for name in ("expected_start", "expected_duration", "max_duration"))
    assert not b.learns("expected_start") and c.learns("expected_start")  # explicit wins; omitted is learned
    assert workflow.weekend_days == ["fri", "sat"]
    assert (WF.baseline_days, WF.baseline_min_days, WF.weekend_days) == (30, 5, ["sat", "sun"])


# --------------------------------------------------------------------------- the evaluator


CONFIGURED = parse_workflow(
    CHAIN.format(zone="UTC", min_days=5).replace(
        "  - batch_code: A-LOAD\n",
        '  - batch_code: A-LOAD\n    expected_start: "05:00"\n    expected_duration: 20m\n    max_duration: 40m\n',
    ),
    Path("configured.yaml"),
)
TODAY = dt.date(2026, 11, 24)


def running(code: str, start: str, workflow: WorkflowConfig = WF, active: str | None = None) -> RunObservation:
    """A run started at ``start`` whose thread last showed activity at ``active`` (default: its start)."""
    begin = at(TODAY, start, workflow)
    last = at(TODAY, active, workflow) if active else begin
    thread = ThreadObservation(thread_nbr=1, status=RunStatus.RUNNING, start=begin, last_activity=last, records=10)
    return RunObservation(batch_cd=code, batch_nbr=1, status=RunStatus.RUNNING, start=begin, threads=[thread])


def judge(
    workflow: WorkflowConfig, clock: str, runs: list[RunObservation], baselines: dict[str, StepBaseline]
) -> set[tuple[FindingKind, str]]:
    start, end = bd.window(TODAY, workflow.timezone, workflow.business_day_start)
    as_of = at(TODAY, clock, workflow)
    obs = Observations(
        workflow_id=workflow.workflow_id,
        business_date=TODAY,
        as_of=as_of,
        window_start=start,
        window_end=end,
        runs=runs,
    )
    ev = evaluate(workflow, obs, as_of, baselines=baselines)
    return {(f.kind, f.step_id) for f in ev.findings}


A_TYPICAL = StepBaseline(
    step_id="A-LOAD",
    sample_days=10,
    runs_per_day=1,
    duration_p50_s=1800,
    duration_p90_s=2400,
    duration_mad_s=120,
    records_p50=1000,
    start_offset_p50_s=3600,  # 06:00
    start_offset_p90_s=4200,  # 06:10
)
FEW_DAYS = A_TYPICAL.model_copy(update={"sample_days": 4})
LONG = (FindingKind.LONG_RUNNING, "A-LOAD")
LATE = (FindingKind.LATE_START, "A-LOAD")


@pytest.mark.parametrize(
    ("case", "workflow", "clock", "runs", "baselines", "expected"),
    [
        # learned max_duration = max(2400 x 1.5, 2400 + 600) = 60 min
        ("learned limit not reached", WF, "06:55", [running("A-LOAD", "06:00")], {"A-LOAD": A_TYPICAL}, set()),
        # (its thread active at 07:00: moving, so long but not stuck)
        (
            "learned limit passed",
            WF,
            "07:05",
            [running("A-LOAD", "06:00", active="07:00")],
            {"A-LOAD": A_TYPICAL},
            {LONG},
        ),
        # without a usable baseline: no limit, and the start is judged against the day start (05:00)
        ("too few days: no limit", WF, "09:00", [running("A-LOAD", "06:00")], {"A-LOAD": FEW_DAYS}, {LATE}),
        ("no history: no limit", WF, "09:00", [running("A-LOAD", "06:00")], {}, {LATE}),
        # the YAML's 40 minutes win over the learned 60
        ("explicit limit wins", CONFIGURED, "05:45", [running("A-LOAD", "05:00")], {"A-LOAD": A_TYPICAL}, {LONG}),
        # learned start 06:00, grace max(15m, 06:10 - 06:00) = 15m
        ("learned start, in grace", WF, "06:14", [], {"A-LOAD": A_TYPICAL}, set()),
        ("learned start, late", WF, "06:16", [], {"A-LOAD": A_TYPICAL}, {LATE}),
        ("omitted start, no history", WF, "06:16", [], {}, {LATE}),  # after_predecessor: the day start
        ("explicit 05:00 wins", CONFIGURED, "05:16", [], {"A-LOAD": A_TYPICAL}, {LATE}),
    ],
)
def test_the_evaluator_uses_learned_values_only_where_the_yaml_leaves_them_and_history_suffices(
    case: str,
    workflow: WorkflowConfig,
    clock: str,
    runs: list[RunObservation],
    baselines: dict[str, StepBaseline],
    expected: set[tuple[FindingKind, str]],
) -> None:
    found = {f for f in judge(workflow, clock, runs, baselines) if f[1] == "A-LOAD"}
    assert found == expected, case


def test_a_learned_start_of_a_later_step_follows_its_predecessor_plus_the_usual_gap() -> None:
    b_typical = StepBaseline(
        step_id="B-BILL", sample_days=10, runs_per_day=1, duration_p50_s=600, start_offset_p50_s=3600, gap_p50_s=1800
    )
    done = running("A-LOAD", "05:00").model_copy(
        update={"status": RunStatus.COMPLETE, "end": at(TODAY, "07:00"), "threads": []}
    )
    start, end = bd.window(TODAY, WF.timezone, WF.business_day_start)
    obs = Observations(
        workflow_id=WF.workflow_id,
        business_date=TODAY,
        as_of=at(TODAY, "07:40"),
        window_start=start,
        window_end=end,
        runs=[done],
    )
    ev = evaluate(WF, obs, at(TODAY, "07:40"), baselines={"B-BILL": b_typical})
    state = next(s for s in ev.steps if s.step_id == "B-BILL")
    assert state.expected_start == at(TODAY, "07:30")  # A-LOAD ended 07:00, usually 30 min later
    assert state.expected_end == at(TODAY, "07:40")  # + the learned 10 minutes
