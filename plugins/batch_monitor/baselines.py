"""Per-step baselines learned from run history: what a step typically does in a business day.

From the runs of the last ``baseline_days`` business days (the store's batch_execution_logs, or
CC&B's own history on the first run) :func:`compute_baselines` learns, per step:

- ``runs_per_day``: the median number of good (completed) runs on the days it ran;
- ``duration_p50_s`` / ``duration_p90_s`` / ``duration_mad_s``: per good run;
- ``records_p10`` / ``records_p50`` / ``records_p90``: records processed per good run;
- ``start_offset_p50_s`` (and ``start_offset_p90_s``): the step's first start (its first run
  that day, good or failed) after the business day's start, in local wall-clock time (07:20
  stays 07:20 across a DST change);
- ``gap_p50_s``: its first start after the end of its latest predecessor's last good run (days
  on which every predecessor completed).

Robust: only days with at least one completed run count (failed runs and days the step did not
run are ignored), and each figure drops outliers beyond a robust z-score of 3.5 (median and MAD,
Iglewicz & Hoaglin) before its median and percentiles are taken.

Segments: ``weekday`` and ``weekend`` (the workflow's ``weekend_days``, default Saturday and
Sunday) and ``month_end`` (a business date among the last :data:`MONTH_END_DAYS` non-weekend days
of its calendar month). A segment is kept only when it has at least ``baseline_min_days`` sample
days and fewer than ``all`` (otherwise it says nothing ``all`` does not); ``all`` is kept from one
sample day on. :func:`select_baselines` picks, per step, the first segment a business date
belongs to that was kept: month_end, then weekend or weekday, then all. A baseline judges (the
evaluator's learned values) only once it has ``baseline_min_days`` sample days (:func:`usable`).

Pure: no Airflow, no database.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from batch_monitor import business_day as bd
from batch_monitor.config import WEEKDAYS, WorkflowConfig
from batch_monitor.constants import RunStatus
from batch_monitor.models import StepBaseline

ALL = "all"
WEEKDAY = "weekday"
WEEKEND = "weekend"
MONTH_END = "month_end"
SEGMENTS = (MONTH_END, WEEKEND, WEEKDAY, ALL)  # the order select_baselines prefers them in

MONTH_END_DAYS = 3  # the last three non-weekend days of a calendar month are its month-end
OUTLIER_Z = 3.5  # robust z-score beyond which a value is an outlier
MIN_FOR_OUTLIERS = 3  # fewer values than this are kept as they are
_MAD_Z = 0.6745  # robust z = 0.6745 (x - median) / MAD
_MEAN_AD_SCALE = 1.253314  # when MAD is 0: scale the mean absolute deviation instead

# max_duration learned: the larger of p90 x 1.5 and p90 + 10 minutes (a 4-minute step may run 14)
LEARNED_MAX_FACTOR = 1.5
LEARNED_MAX_MARGIN_S = 600.0


@dataclass(frozen=True, slots=True)
class HistoryRun:
    """One past run of a step (a batch_execution_logs row, or a run read from CC&B's history)."""

    step_id: str
    business_date: dt.date
    start: dt.datetime | None
    end: dt.datetime | None
    records: int
    status: RunStatus
    day_start: dt.datetime  # the start of the run's business day (aware)


@dataclass(slots=True)
class _StepDay:
    """What one step did on one business day (moments as POSIX timestamps: arithmetic on them is cheap)."""

    day_start: float
    first_start: float | None = None
    end: float | None = None  # the last good run's end
    durations: list[float] = field(default_factory=list)
    records: list[float] = field(default_factory=list)
    offset: float | None = None  # first start after the day's start, local wall clock
    gap: float | None = None  # first start after the latest predecessor's end


# --------------------------------------------------------------------------- robust statistics


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values``, linearly interpolated (numpy's default)."""
    if not values:
        raise ValueError("percentile of no values")
    return _quantile(sorted(values), q)


def _quantile(ordered: Sequence[float], q: float) -> float:
    """:func:`percentile` of values already sorted."""
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median_abs_deviation(values: Sequence[float]) -> float:
    """The median of the absolute deviations from the median (not scaled)."""
    middle = percentile(values, 0.5)
    return percentile([abs(v - middle) for v in values], 0.5)


def without_outliers(values: Sequence[float]) -> list[float]:
    """``values``, sorted, without those beyond a robust z-score of :data:`OUTLIER_Z`.

    z = 0.6745 (x - median) / MAD; where MAD is 0 (most values equal) the mean absolute
    deviation x 1.2533 scales instead, and where that is 0 too every value is kept. Fewer than
    :data:`MIN_FOR_OUTLIERS` values are kept as they are.
    """
    ordered = sorted(values)
    if len(ordered) < MIN_FOR_OUTLIERS:
        return ordered
    middle = _quantile(ordered, 0.5)
    deviations = sorted(abs(v - middle) for v in ordered)
    mad = _quantile(deviations, 0.5)
    scale = mad / _MAD_Z if mad > 0 else _MEAN_AD_SCALE * sum(deviations) / len(deviations)
    if scale <= 0:
        return ordered
    limit = OUTLIER_Z * scale
    return [v for v in ordered if abs(v - middle) <= limit]


# --------------------------------------------------------------------------- segments


def is_month_end(date: dt.date, weekend_days: Sequence[str]) -> bool:
    """Whether ``date`` is one of the last :data:`MONTH_END_DAYS` non-weekend days of its month."""
    weekend = {WEEKDAYS.index(d) for d in weekend_days}
    if date.weekday() in weekend:
        return False
    later = 0
    day = date + dt.timedelta(days=1)
    while day.month == date.month:
        later += day.weekday() not in weekend
        day += dt.timedelta(days=1)
    return later < MONTH_END_DAYS


def segments_of(date: dt.date, weekend_days: Sequence[str]) -> tuple[str, ...]:
    """The segments a business date belongs to, the most specific first (always ending with 'all')."""
    kind = WEEKEND if WEEKDAYS[date.weekday()] in weekend_days else WEEKDAY
    return (MONTH_END, kind, ALL) if is_month_end(date, weekend_days) else (kind, ALL)


def select_baselines(
    baselines: Iterable[StepBaseline], business_date: dt.date, weekend_days: Sequence[str]
) -> dict[str, StepBaseline]:
    """Per step, the baseline of the most specific kept segment ``business_date`` belongs to."""
    wanted = segments_of(business_date, weekend_days)
    chosen: dict[str, StepBaseline] = {}
    for baseline in baselines:
        if baseline.segment not in wanted:
            continue
        current = chosen.get(baseline.step_id)
        if current is None or wanted.index(baseline.segment) < wanted.index(current.segment):
            chosen[baseline.step_id] = baseline
    return chosen


def usable(baseline: StepBaseline | None, min_days: int) -> StepBaseline | None:
    """``baseline`` when it has at least ``min_days`` sample days (enough to judge by), else None."""
    return baseline if baseline is not None and baseline.sample_days >= min_days else None


def learned_max_duration_s(baseline: StepBaseline) -> float | None:
    """max_duration learned from a baseline: the larger of p90 x 1.5 and p90 + 10 minutes."""
    if baseline.duration_p90_s is None:
        return None
    p90 = baseline.duration_p90_s
    return max(p90 * LEARNED_MAX_FACTOR, p90 + LEARNED_MAX_MARGIN_S)


def typical_start(
    baseline: StepBaseline, business_date: dt.date, timezone: str, day_start: dt.time
) -> dt.datetime | None:
    """The UTC moment of the baseline's median start in ``business_date`` (wall-clock offset, DST-correct)."""
    if baseline.start_offset_p50_s is None:
        return None
    naive = dt.datetime.combine(business_date, day_start) + dt.timedelta(seconds=baseline.start_offset_p50_s)
    return bd.wall_clock_utc(naive, timezone)


# --------------------------------------------------------------------------- learning


def compute_baselines(workflow: WorkflowConfig, history: Iterable[HistoryRun]) -> list[StepBaseline]:
    """Every step's baselines (segment 'all' and the segments kept) from its history.

    Only the workflow's run days count (its ``calendar``): a run CC&B made on a holiday the
    calendar expects none says nothing about a normal day.
    """
    zone = ZoneInfo(workflow.timezone)
    run_days = [run for run in history if workflow.is_run_day(run.business_date)]
    days = _step_days(run_days, [s.id for s in workflow.steps])
    segments: dict[dt.date, tuple[str, ...]] = {}
    day_starts: dict[float, dt.datetime] = {}
    result: list[StepBaseline] = []
    for step in workflow.ordered_steps:
        own = {date: day for date, day in days.get(step.id, {}).items() if day.durations}
        if not own:
            continue
        _place(own, [days.get(p, {}) for p in step.depends_on or []], zone, day_starts)
        by_segment: dict[str, list[_StepDay]] = {}
        for date in sorted(own):
            if date not in segments:
                segments[date] = segments_of(date, workflow.weekend_days)
            for segment in segments[date]:
                by_segment.setdefault(segment, []).append(own[date])
        for segment in SEGMENTS:
            sample = by_segment.get(segment)
            if not sample:
                continue
            if segment != ALL and not workflow.baseline_min_days <= len(sample) < len(own):
                continue
            result.append(_baseline(step.id, segment, sample))
    return result


def _step_days(history: Iterable[HistoryRun], step_ids: Iterable[str]) -> dict[str, dict[dt.date, _StepDay]]:
    """Each step's days: its first start, and its good runs' durations, records and last end."""
    wanted = set(step_ids)
    days: dict[str, dict[dt.date, _StepDay]] = {}
    day_starts: dict[dt.date, float] = {}
    for run in history:
        if run.step_id not in wanted:
            continue
        of_step = days.setdefault(run.step_id, {})
        day = of_step.get(run.business_date)
        if day is None:
            if run.business_date not in day_starts:
                day_starts[run.business_date] = run.day_start.timestamp()
            day = of_step[run.business_date] = _StepDay(day_start=day_starts[run.business_date])
        start = run.start.timestamp() if run.start is not None else None
        if start is not None and (day.first_start is None or start < day.first_start):
            day.first_start = start
        if run.status != RunStatus.COMPLETE or start is None or run.end is None:
            continue
        end = run.end.timestamp()
        if end < start:
            continue
        day.durations.append(end - start)
        day.records.append(float(run.records))
        if day.end is None or end > day.end:
            day.end = end
    return days


def _local(moment: float, zone: ZoneInfo) -> dt.datetime:
    """The naive local wall-clock time of a POSIX timestamp."""
    return dt.datetime.fromtimestamp(moment, zone).replace(tzinfo=None)


def _place(
    own: Mapping[dt.date, _StepDay],
    preds: Sequence[Mapping[dt.date, _StepDay]],
    zone: ZoneInfo,
    day_starts: dict[float, dt.datetime],
) -> None:
    """Each day's start offset (local wall clock after the day's start) and gap after the predecessors."""
    for date, day in own.items():
        if day.first_start is None:
            continue
        if day.day_start not in day_starts:
            day_starts[day.day_start] = _local(day.day_start, zone)
        day.offset = (_local(day.first_start, zone) - day_starts[day.day_start]).total_seconds()
        ends = [p[date].end if date in p else None for p in preds]
        if preds and all(e is not None for e in ends):
            day.gap = day.first_start - max(e for e in ends if e is not None)


def _robust(values: Sequence[float]) -> list[float]:
    """``values`` without outliers, sorted."""
    return without_outliers(values) if values else []


def _figures(ordered: Sequence[float], *quantiles: float) -> list[float | None]:
    return [_quantile(ordered, q) if ordered else None for q in quantiles]


def _baseline(step_id: str, segment: str, days: Sequence[_StepDay]) -> StepBaseline:
    durations = _robust([x for day in days for x in day.durations])
    records = _robust([x for day in days for x in day.records])
    offsets = _robust([day.offset for day in days if day.offset is not None])
    gaps = _robust([day.gap for day in days if day.gap is not None])
    duration_p50, duration_p90 = _figures(durations, 0.5, 0.9)
    records_p10, records_p50, records_p90 = _figures(records, 0.1, 0.5, 0.9)
    offset_p50, offset_p90 = _figures(offsets, 0.5, 0.9)
    return StepBaseline(
        step_id=step_id,
        segment=segment,
        sample_days=len(days),
        runs_per_day=percentile([float(len(day.durations)) for day in days], 0.5),
        duration_p50_s=duration_p50,
        duration_p90_s=duration_p90,
        duration_mad_s=median_abs_deviation(durations) if durations else None,
        records_p10=records_p10,
        records_p50=records_p50,
        records_p90=records_p90,
        start_offset_p50_s=offset_p50,
        gap_p50_s=_figures(gaps, 0.5)[0],
        start_offset_p90_s=offset_p90,
    )
