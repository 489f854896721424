"""Progress, predicted start and end of every step, the chain's predicted finish and its critical path. Pure.

A **running run's progress** comes from the best evidence it has, in this order:

1. *records*: the records it has processed against the typical records of a run (the YAML's
   ``expected_records``, else the learned baseline's median), once it has processed any;
2. *threads*: its threads done against its threads, when it has more than one and one is done;
3. *elapsed*: its elapsed time against the typical duration of a run.

With records or threads the rest takes as long again as the share done took:
``remaining = elapsed x (1 - p) / p``, with ``p`` at least 2 % (so at most 49 x elapsed); with
elapsed it is ``typical - elapsed`` (nothing once the run is past its typical duration).

**A rerun continues the work of the attempt that failed before it** (CC&B restarts the failed
threads from their last commit point, so what the failed attempt committed is not done again).
The failed attempts' progress (by the same evidence) is taken off the work, and the rerun's own
progress is measured against what is left: with records, ``typical records - records the
failed attempts processed``; with elapsed time, ``typical x (1 - their progress)``. The rerun's
remaining time then comes from its own pace, never from a fresh typical duration.

A **step not yet started** starts at the latest of: its predecessors' predicted ends plus its
typical gap after them, its own expected start, and now; it ends a typical duration per run
later. A **multi-run step** (``repeat``) has its remaining runs (the required runs, or the
baseline's runs per day if more; at least one more while its completion check says work is
pending) each take a typical duration, separated by the gap seen between its runs today. A step
with no typical duration counts as taking none, so its prediction is a lower bound. A failed step
has no prediction, and neither has what waits for it, until it is rerun.

The **chain's predicted finish** is its latest step's predicted end. Its **critical path** is
found by walking back from that step through the predecessor whose predicted end set each
step's predicted start; the walk stops at a step that started (its start is a fact) or whose
own clock, or "now", set its start. Those are the steps whose delay moves the chain's finish.
"""

from __future__ import annotations

import datetime as dt
import itertools
import statistics
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

from batch_monitor.config import StepConfig
from batch_monitor.constants import RunStatus, StepStatus
from batch_monitor.models import RunView, StepBaseline

PROGRESS_FLOOR = 0.02  # a records- or threads-based remaining time is at most 49 x the elapsed time
PROGRESS_CEILING = 0.99  # a running run is never shown as done
_ZERO = dt.timedelta(0)
_OPEN = (StepStatus.WAITING, StepStatus.PENDING)


class Basis(StrEnum):
    """The evidence a run's progress comes from."""

    RECORDS = "records"
    THREADS = "threads"
    ELAPSED = "elapsed"


@dataclass(frozen=True, slots=True)
class Typical:
    """What one run of a step typically takes (YAML values win over the learned baseline)."""

    duration: dt.timedelta | None = None  # one run
    records: float | None = None  # one run
    gap: dt.timedelta = _ZERO  # from the latest predecessor's end to the first start
    runs: int = 1  # runs a day

    @classmethod
    def of(cls, step: StepConfig, baseline: StepBaseline | None) -> Typical:
        """The step's typical run: the YAML's ``expected_duration`` and ``expected_records``, else the
        baseline's medians; the baseline's gap after the predecessors and runs a day."""
        duration = step.expected_duration
        if duration is None and baseline is not None and baseline.duration_p50_s is not None:
            duration = dt.timedelta(seconds=baseline.duration_p50_s)
        records = float(step.expected_records) if step.expected_records is not None else None
        if records is None and baseline is not None and baseline.records_p50:
            records = baseline.records_p50
        gap = dt.timedelta(seconds=max(baseline.gap_p50_s or 0.0, 0.0)) if baseline is not None else _ZERO
        runs = max(step.repeat.required_runs, round(baseline.runs_per_day) if baseline is not None else 1)
        return cls(duration=duration, records=records or None, gap=gap, runs=runs)


@dataclass(frozen=True, slots=True)
class StepInput:
    """One step as judged so far, for the forecast (``runs`` in start order)."""

    step_id: str
    status: StepStatus
    typical: Typical
    depends_on: tuple[str, ...] = ()
    runs: tuple[RunView, ...] = ()
    end: dt.datetime | None = None  # set once complete
    earliest_start: dt.datetime | None = None  # its own expected start (None: when its predecessors allow)
    required_runs: int = 1
    until_check: bool = False  # repeat.until_sql: done when its completion check says so
    pending: int | None = None  # that check's last result


@dataclass(frozen=True, slots=True)
class RunProgress:
    """How far a running run is, on what evidence, and how long the rest should take."""

    fraction: float
    basis: Basis
    remaining: dt.timedelta


@dataclass(frozen=True, slots=True)
class StepForecast:
    step_id: str
    progress: float | None = None
    basis: Basis | None = None
    predicted_start: dt.datetime | None = None
    predicted_end: dt.datetime | None = None
    driver: str | None = None  # the predecessor whose predicted end set predicted_start
    on_critical_path: bool = False


@dataclass(frozen=True, slots=True)
class Forecast:
    steps: dict[str, StepForecast]
    predicted_finish: dt.datetime | None = None
    critical_path: list[str] = field(default_factory=list)  # earliest step first


def _elapsed(run: RunView, as_of: dt.datetime) -> dt.timedelta:
    if run.start is None:
        return _ZERO
    stop = run.end if run.end is not None else as_of
    return dt.timedelta(seconds=max((stop - run.start).total_seconds(), 0.0))


def _share_of_work(run: RunView, typical: Typical, left: float, as_of: dt.datetime) -> tuple[float, Basis] | None:
    """How much of its work (``left`` of a whole run's) ``run`` has done, and on what evidence."""
    if typical.records and run.records > 0:
        return run.records / (typical.records * left), Basis.RECORDS
    complete = run.threads_done - run.threads_failed
    if run.threads_total > 1 and complete > 0:
        return complete / run.threads_total, Basis.THREADS
    if typical.duration:
        return _elapsed(run, as_of).total_seconds() / (typical.duration.total_seconds() * left), Basis.ELAPSED
    return None


def run_progress(
    run: RunView, typical: Typical, as_of: dt.datetime, failed_before: Sequence[RunView] = ()
) -> RunProgress | None:
    """The progress of a running ``run`` (None: no evidence at all). ``failed_before``: the failed
    attempts it reruns, earliest first; their progress is work it does not do again."""
    left = 1.0
    for attempt in failed_before:
        done = _share_of_work(attempt, typical, left, as_of)
        if done is not None:
            left *= 1 - min(max(done[0], 0.0), PROGRESS_CEILING)
    share = _share_of_work(run, typical, left, as_of)
    if share is None:
        return None
    own, basis = share  # of the work left to this run
    elapsed = _elapsed(run, as_of)
    if basis is Basis.ELAPSED:
        assert typical.duration is not None
        remaining = max(typical.duration * left - elapsed, _ZERO)
    else:  # the rest takes as long again as the share done took
        own = min(max(own, PROGRESS_FLOOR), PROGRESS_CEILING)
        remaining = elapsed * ((1 - own) / own)
    overall = 1 - left * (1 - min(own, 1.0))
    return RunProgress(fraction=round(min(overall, PROGRESS_CEILING), 3), basis=basis, remaining=remaining)


def _failed_attempts(runs: Sequence[RunView], current: RunView) -> list[RunView]:
    """The failed runs right before ``current`` that no completed run has made good."""
    before = list(runs[: runs.index(current)])
    attempts: list[RunView] = []
    for run in reversed(before):
        if run.status != RunStatus.ERROR:
            break
        attempts.insert(0, run)
    return attempts


def _runs_after(step: StepInput, running: bool) -> int:
    """Runs still to come after the current one (if one is running)."""
    done = sum(1 for r in step.runs if r.status == RunStatus.COMPLETE)
    wanted = max(step.required_runs, step.typical.runs)
    after = max(wanted - done - (1 if running else 0), 0)
    if step.until_check and not running and after == 0 and (step.pending is None or step.pending > 0):
        after = 1  # the check still sees work: at least one more run
    return after


def _run_gap(step: StepInput) -> dt.timedelta:
    """The median gap between this step's runs today (none seen: no gap)."""
    runs = [r for r in step.runs if r.start is not None]
    gaps = [
        (later.start - earlier.end).total_seconds()
        for earlier, later in itertools.pairwise(runs)
        if earlier.end is not None and later.start is not None and later.start >= earlier.end
    ]
    return dt.timedelta(seconds=statistics.median(gaps)) if gaps else _ZERO


def _more_runs(step: StepInput, after: dt.datetime, count: int) -> dt.datetime:
    """When ``count`` more runs end if the first may start at ``after``."""
    if count <= 0:
        return after
    duration = step.typical.duration or _ZERO
    gap = _run_gap(step)
    return after + gap * count + duration * count


def _started(step: StepInput, as_of: dt.datetime) -> StepForecast:
    """A step with runs: complete, running, stuck, between runs, or failed."""
    start = next((r.start for r in step.runs if r.start is not None), None)
    if step.status in (StepStatus.COMPLETE, StepStatus.SKIPPED):
        return StepForecast(step.step_id, progress=1.0, predicted_start=start, predicted_end=step.end)
    if step.status == StepStatus.FAILED:
        return StepForecast(step.step_id, predicted_start=start)
    running = [r for r in step.runs if r.status == RunStatus.RUNNING]
    if running:
        current = running[-1]
        progress = run_progress(current, step.typical, as_of, _failed_attempts(step.runs, current))
        ends = as_of + (progress.remaining if progress else _ZERO)
        end = _more_runs(step, ends, _runs_after(step, running=True))
        return StepForecast(
            step.step_id,
            progress=progress.fraction if progress else None,
            basis=progress.basis if progress else None,
            predicted_start=start,
            predicted_end=end,
        )
    last_end = max((r.end for r in step.runs if r.end is not None), default=as_of)
    count = _runs_after(step, running=False)
    return StepForecast(
        step.step_id, predicted_start=start, predicted_end=_more_runs(step, max(last_end, as_of), count)
    )


def _not_started(
    step: StepInput, done: Mapping[str, StepForecast], skipped: Collection[str], as_of: dt.datetime
) -> StepForecast:
    """A step without runs: after its predecessors, its own clock and now, whichever is last."""
    start, driver = as_of, None
    if step.earliest_start is not None and step.earliest_start > start:
        start = step.earliest_start
    for pred in step.depends_on:
        if pred in skipped:
            continue
        end = done[pred].predicted_end
        if end is None:  # a predecessor without a prediction (failed): nor has this step
            return StepForecast(step.step_id)
        if end + step.typical.gap > start:
            start, driver = end + step.typical.gap, pred
    runs = max(step.required_runs, step.typical.runs)
    end = start + (step.typical.duration or _ZERO) * runs + _run_gap(step) * (runs - 1)
    return StepForecast(step.step_id, predicted_start=start, predicted_end=end, driver=driver)


def predict(
    step: StepInput, known: Mapping[str, StepForecast], skipped: Collection[str], as_of: dt.datetime
) -> StepForecast:
    """One step's forecast, given its predecessors' (``known``) and the steps that are skipped."""
    if step.status == StepStatus.SKIPPED:
        return StepForecast(step.step_id)
    if step.runs or step.status not in _OPEN:
        return _started(step, as_of)
    return _not_started(step, known, skipped, as_of)


def forecast(steps: Sequence[StepInput], as_of: dt.datetime) -> Forecast:
    """Predict every step (``steps`` with each after its predecessors) and the chain, as of ``as_of``."""
    result: dict[str, StepForecast] = {}
    skipped = {s.step_id for s in steps if s.status == StepStatus.SKIPPED}
    for step in steps:
        result[step.step_id] = predict(step, result, skipped, as_of)
    return critical_path(steps, result)


def critical_path(steps: Sequence[StepInput], predicted: Mapping[str, StepForecast]) -> Forecast:
    """The chain's predicted finish (its latest step's end) and the steps on its critical path."""
    result = dict(predicted)
    counted = [s.step_id for s in steps if s.status != StepStatus.SKIPPED]
    if not counted or any(result[step_id].predicted_end is None for step_id in counted):
        return Forecast(steps=result)  # a step without a prediction: nor has the chain
    ends = [(result[step_id].predicted_end, step_id) for step_id in counted]
    finish = max(end for end, _ in ends if end is not None)
    last: str | None = next(step_id for end, step_id in ends if end == finish)
    path: list[str] = []
    while last is not None:
        path.insert(0, last)
        result[last] = replace(result[last], on_critical_path=True)
        last = result[last].driver
    return Forecast(steps=result, predicted_finish=finish, critical_path=path)


def drivers(step_id: str, predicted: Mapping[str, StepForecast]) -> list[str]:
    """``step_id`` and the predecessors, one after another, whose predicted ends set its predicted start."""
    path = [step_id]
    while (driver := predicted[path[-1]].driver) is not None:
        path.append(driver)
    return path
