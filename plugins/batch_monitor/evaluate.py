"""Judge one business day of a workflow as of one moment. Pure: no Airflow, no database.

``evaluate(workflow, observations, as_of, memory)`` returns every step's state and the findings
(conditions) that hold as of ``as_of``. It reads no clock: replaying a tick with the same inputs
gives the same answer. alerting.py diffs the findings against open alerts; the store applies the diff.

``baselines`` (per step, the business date's segment; see batch_monitor.baselines) fill the
values the YAML leaves to history (``learned`` or omitted ``expected_start``, ``expected_duration``,
``max_duration``) once a step's baseline has ``baseline_min_days`` sample days; an explicit value
wins, and without such a baseline everything is judged as the YAML says. Learned values:

- expected_duration: the median good-run duration (duration_p50);
- max_duration: the larger of p90 x 1.5 and p90 + 10 min, never below the expected duration;
- expected_start: the median start (wall clock after the day's start), pushed later by
  predecessors that end later, plus the step's median gap after them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from batch_monitor import at_risk, forecast
from batch_monitor import business_day as bd
from batch_monitor.advice import advice
from batch_monitor.baselines import learned_max_duration_s, typical_start, usable
from batch_monitor.config import AFTER_PREDECESSOR, LEARNED, StepConfig, WorkflowConfig
from batch_monitor.constants import (
    CHAIN_STEP_ID,
    SEVERITY_OF_KIND,
    FindingKind,
    RunStatus,
    Severity,
    StepStatus,
)
from batch_monitor.models import (
    Evaluation,
    Finding,
    Observations,
    Progress,
    RiskMemory,
    RunObservation,
    RunView,
    StepBaseline,
    StepState,
)
from batch_monitor.run_calendar import DUE_KINDS, run_day
from batch_monitor.text import format_duration
from batch_monitor.volume import VolumeLimits, unusual_volume

LOW_THROUGHPUT_MIN_ELAPSED = dt.timedelta(minutes=15)
_FINISHED = (RunStatus.COMPLETE, RunStatus.ERROR)
_DONE = (StepStatus.COMPLETE, StepStatus.SKIPPED)
_NOTHING_TYPICAL = forecast.Typical()  # a step done needs none (forecast._started)


@dataclass
class _Context:
    workflow: WorkflowConfig
    obs: Observations
    as_of: dt.datetime
    memory: Mapping[str, Progress]
    completed: Collection[str] = ()
    risk_memory: Mapping[str, RiskMemory] = field(default_factory=dict)  # the previous tick's
    risk: dict[str, RiskMemory] = field(default_factory=dict)  # this tick's
    baselines: Mapping[str, StepBaseline] = field(default_factory=dict)
    inputs: list[forecast.StepInput] = field(default_factory=list)  # the forecast's view of each step
    forecasts: dict[str, forecast.StepForecast] = field(default_factory=dict)
    progress: dict[str, Progress] = field(default_factory=dict)
    states: dict[str, StepState] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    doubts: list[str] = field(default_factory=list)  # data problems found while judging (besides the reader's)
    # per tick, worked out once: the UTC moment of each local clock time and of each step's learned start
    clocks: dict[dt.time, dt.datetime] = field(default_factory=dict)
    typical_starts: dict[str, dt.datetime | None] = field(default_factory=dict)
    judging: dict[str, StepBaseline] = field(default_factory=dict)  # the baselines with enough days to judge by

    def __post_init__(self) -> None:
        min_days = self.workflow.baseline_min_days
        self.judging = {sid: b for sid, b in self.baselines.items() if usable(b, min_days) is not None}

    def local(self, moment: dt.datetime) -> str:
        return moment.astimezone(bd.zone(self.workflow.timezone)).strftime("%H:%M")

    def clock(self, clock: dt.time) -> dt.datetime:
        """The UTC moment of local ``clock`` within the business day (see business_day.at_clock)."""
        moment = self.clocks.get(clock)
        if moment is None:
            wf = self.workflow
            moment = self.clocks[clock] = bd.plain_utc(
                bd.at_clock(self.obs.business_date, clock, wf.timezone, wf.business_day_start)
            )
        return moment

    def day_start(self) -> dt.datetime:
        return self.clock(self.workflow.business_day_start)

    def typical_start(self, step: StepConfig) -> dt.datetime | None:
        """The step's learned median start in this business day, where its expected start is learned."""
        if step.id not in self.typical_starts:
            baseline = self.learned(step, "expected_start")
            wf = self.workflow
            self.typical_starts[step.id] = (
                typical_start(baseline, self.obs.business_date, wf.timezone, wf.business_day_start)
                if baseline is not None
                else None
            )
        return self.typical_starts[step.id]

    def learned(self, step: StepConfig, name: str) -> StepBaseline | None:
        """The step's baseline where the YAML leaves ``name`` to history and there is enough of it."""
        return self.judging.get(step.id) if step.learns(name) else None

    def expected_duration(self, step: StepConfig) -> dt.timedelta | None:
        """The YAML's expected_duration, or the learned median duration."""
        baseline = self.learned(step, "expected_duration")
        if baseline is not None and baseline.duration_p50_s is not None:
            return dt.timedelta(seconds=baseline.duration_p50_s)
        return step.expected_duration

    def start_grace(self, step: StepConfig) -> dt.timedelta:
        """start_grace, widened to the learned spread of starts (p90 - p50) where the start is learned."""
        baseline = self.learned(step, "expected_start")
        if baseline is None or baseline.start_offset_p50_s is None or baseline.start_offset_p90_s is None:
            return step.start_grace
        spread = dt.timedelta(seconds=baseline.start_offset_p90_s - baseline.start_offset_p50_s)
        return max(step.start_grace, spread)

    def add(
        self, kind: FindingKind, step: StepConfig | None, title: str, severity: Severity | None = None, **fields: Any
    ) -> None:
        """Record a finding; its action is the advice for its kind (the step's runbook for it, if any)."""
        self.findings.append(
            Finding(
                kind=kind,
                severity=severity or SEVERITY_OF_KIND[kind],
                step_id=step.id if step else CHAIN_STEP_ID,
                batch_code=step.batch_code if step else "",
                title=title,
                action=advice(kind, step, closed=fields.get("ended_at") is not None),
                **fields,
            )
        )


def evaluate(
    workflow: WorkflowConfig,
    observations: Observations,
    as_of: dt.datetime,
    memory: Mapping[str, Progress] | None = None,
    completed: Collection[str] = (),
    risk: Mapping[str, RiskMemory] | None = None,
    baselines: Mapping[str, StepBaseline] | None = None,
) -> Evaluation:
    """Judge ``observations`` (one business day) against ``workflow`` as of ``as_of``.

    ``completed``: ids of the steps an earlier judgement of this business day saw complete. Once
    the day is over, a later reading never reopens them (a completion check read the next morning
    may see the new day's work).
    ``risk``: the AT_RISK memory of the day's previous tick (its ``Evaluation.risk``).
    ``baselines``: each step's learned baseline for this business date (see the module docstring);
    used where the YAML leaves a value to history and the baseline has ``baseline_min_days`` days
    (the checks and the forecast alike). None or empty: the YAML alone.
    """
    as_of = bd.plain_utc(as_of)  # plain datetimes from here on: the forecast adds and compares thousands of them
    ctx = _Context(
        workflow=workflow,
        obs=observations,
        as_of=as_of,
        memory=memory or {},
        completed=completed,
        risk_memory=risk or {},
        baselines=baselines or {},
    )
    by_code = _runs_by_code(ctx)
    ordered = workflow.ordered_steps  # a topological sort: once
    for position, step in enumerate(ordered):
        ctx.states[step.id] = _judge_step(ctx, step, position, by_code.get(step.batch_code, []))
    outlook = forecast.critical_path(ctx.inputs, ctx.forecasts)
    for step_id in outlook.critical_path:
        ctx.states[step_id] = ctx.states[step_id].model_copy(update={"on_critical_path": True})
    for step in ordered:
        _step_findings(ctx, step, ctx.states[step.id], by_code.get(step.batch_code, []))
    chain_status, chain_finish_by = _judge_chain(ctx, outlook)
    day = run_day(workflow.calendar, observations.business_date)
    if not day.expected:  # nothing is due: runs that do happen are still judged (FAILED, STUCK, ...)
        ctx.findings = [f for f in ctx.findings if f.kind.value not in DUE_KINDS]
    problems = [*observations.anomalies, *ctx.doubts]
    if problems:
        ctx.add(
            FindingKind.DATA_QUALITY,
            None,
            f"{len(problems)} source row(s) could not be used as they are",
            actual="; ".join(problems[:20]),
            expected="every CI_BATCH_RUN/THD/INST row has a start time, sane counts and a known status",
            details={"anomalies": problems[:200]},
        )
        _name_data_problems(ctx, problems)
    steps = sorted(ctx.states.values(), key=lambda s: s.position)
    return Evaluation(
        workflow_id=workflow.workflow_id,
        business_date=observations.business_date,
        as_of=as_of,
        timezone=workflow.timezone,
        chain_status=chain_status,
        steps=steps,
        findings=ctx.findings,
        progress=ctx.progress,
        risk=ctx.risk,
        predicted_chain_end=outlook.predicted_finish,
        critical_path=outlook.critical_path,
        chain_finish_by=chain_finish_by,
        run_expected=day.expected,
        no_run_reason=day.reason,
    )


def _runs_by_code(ctx: _Context) -> dict[str, list[RunObservation]]:
    tz, start = ctx.workflow.timezone, ctx.workflow.business_day_start
    grouped: dict[str, list[RunObservation]] = {}
    for run in ctx.obs.runs:
        if run.start is None or run.start > ctx.as_of:
            continue
        if bd.business_date(run.start, tz, start) != ctx.obs.business_date:
            continue
        grouped.setdefault(run.batch_cd, []).append(run)
    for runs in grouped.values():
        runs.sort(key=lambda r: (r.start or ctx.as_of, r.batch_nbr, r.rerun_nbr))
    return grouped


def _typical_run(ctx: _Context, step: StepConfig) -> dt.timedelta | None:
    """How long a run of the step typically takes: its learned baseline once it has enough history,
    else its expected_duration, else its max_duration (None: not known)."""
    base = ctx.baselines.get(step.id)
    if base is not None and base.duration_p50_s and base.sample_days >= ctx.workflow.baseline_min_days:
        return dt.timedelta(seconds=base.duration_p50_s)
    return step.expected_duration or step.max_duration


def _first_sighting(ctx: _Context, step: StepConfig, run: RunObservation) -> dt.datetime:
    """When a run the monitor sees for the first time last moved, from CC&B's own evidence.

    Its latest thread execution start or end, once the run has outlasted a typical run of its step.
    Within that time a healthy run's threads run on without ending, so their silence says nothing and
    the clock starts at this sighting (as it does when no typical duration is known).
    """
    activity, typical = run.last_activity, _typical_run(ctx, step)
    if activity is None or activity > ctx.as_of or typical is None or run.start is None:
        return ctx.as_of
    return activity if ctx.as_of - run.start > typical else ctx.as_of


def _last_progress(ctx: _Context, step: StepConfig, run: RunObservation) -> dt.datetime:
    """Remember the run's counts; return when it last showed progress."""
    token = run.key.token()
    previous = ctx.memory.get(token)
    records = run.records
    if previous is not None and records < previous.records:  # progress is the highest count seen
        ctx.doubts.append(
            f"{run.batch_cd} run {run.batch_nbr}"
            + (f" rerun {run.rerun_nbr}" if run.rerun_nbr else "")
            + f": REC_PROC_CNT went back from {previous.records:,} to {records:,}; progress taken as the highest"
        )
        records = previous.records
    current = (records, run.threads_done)
    activity = run.last_activity
    if previous is None:  # a run already frozen when first seen is not given another stuck_after
        changed_at = _first_sighting(ctx, step, run)
    elif (previous.records, previous.threads_done) == current and previous.changed_at <= ctx.as_of:
        changed_at = previous.changed_at
    else:
        changed_at = ctx.as_of
    ctx.progress[token] = Progress(
        records=records, threads_done=run.threads_done, changed_at=changed_at, seen_at=ctx.as_of
    )
    return max(changed_at, activity) if activity and activity <= ctx.as_of else changed_at


def _view(ctx: _Context, step: StepConfig, run: RunObservation) -> RunView:
    start = run.start
    stop = run.end if run.status in _FINISHED and run.end else ctx.as_of
    duration = (stop - start).total_seconds() if start else None
    running = run.status == RunStatus.RUNNING
    last_progress = _last_progress(ctx, step, run) if running else None
    return RunView(
        batch_cd=run.batch_cd,
        batch_nbr=run.batch_nbr,
        rerun_nbr=run.rerun_nbr,
        step_id=step.id,
        status=run.status,
        status_code=run.status_code,
        start=start,
        end=run.end if run.status in _FINISHED else None,
        duration_s=duration,
        records=run.records,
        errors=run.errors,
        rps=(run.records / duration) if duration and duration > 0 else None,
        threads_total=len(run.threads),
        threads_done=run.threads_done,
        threads_failed=sum(1 for t in run.threads if t.status == RunStatus.ERROR),
        threads_running=sum(1 for t in run.threads if t.status == RunStatus.RUNNING),
        error_text=run.error_text,
        last_progress_at=last_progress,
    )


def _failed_run(runs: list[RunView]) -> RunView | None:
    """The run in error that no later run has made good, if any."""
    failed: RunView | None = None
    for run in runs:
        if run.status == RunStatus.ERROR:
            failed = run
        elif run.status == RunStatus.COMPLETE and failed is not None:
            failed = None
    return failed


def _rule_met(ctx: _Context, step: StepConfig, completed: list[RunView]) -> bool:
    rule = step.repeat
    if completed and step.id in ctx.completed and ctx.as_of >= ctx.obs.window_end:
        return True  # seen complete before; a past day's step is never reopened
    if rule.until_sql is None:
        return len(completed) >= rule.required_runs
    pending = ctx.obs.checks.get(step.id)
    return len(completed) >= rule.min_runs and pending is not None and pending <= 0


def _status(ctx: _Context, step: StepConfig, views: list[RunView], preds_done: bool) -> StepStatus:
    """The step's status from its runs (see SEMANTICS in the README)."""
    if not step.enabled:
        return StepStatus.SKIPPED
    running = [v for v in views if v.status == RunStatus.RUNNING]
    if running:
        current = running[-1]
        assert current.last_progress_at is not None
        if ctx.as_of - current.last_progress_at >= step.stuck_after:
            return StepStatus.STUCK
        return StepStatus.RUNNING
    if _failed_run(views) is not None:
        return StepStatus.FAILED
    completed = [v for v in views if v.status == RunStatus.COMPLETE]
    if _rule_met(ctx, step, completed):
        return StepStatus.COMPLETE
    if completed:
        return StepStatus.REPEATING
    return StepStatus.PENDING if preds_done else StepStatus.WAITING


def _expected_start(ctx: _Context, step: StepConfig) -> dt.datetime | None:
    """Clock start (or the day start), pushed later by predecessors that end later."""
    preds = [ctx.states[d] for d in step.depends_on or []]
    ends = [p.end or p.predicted_end or p.expected_end for p in preds if p.status != StepStatus.SKIPPED]
    after = max((e for e in ends if e is not None), default=None)
    baseline = ctx.learned(step, "expected_start")
    typical = ctx.typical_start(step)
    if baseline is not None and typical is not None:
        if after is not None:
            after = after + dt.timedelta(seconds=max(baseline.gap_p50_s or 0.0, 0.0))
        return max(typical, after) if after else typical
    if step.expected_start in (AFTER_PREDECESSOR, LEARNED):
        if preds:
            return after
        return ctx.day_start()
    assert isinstance(step.expected_start, dt.time)
    clock = ctx.clock(step.expected_start)
    return max(clock, after) if after else clock


def _judge_step(ctx: _Context, step: StepConfig, position: int, runs: list[RunObservation]) -> StepState:
    views = [_view(ctx, step, r) for r in runs]
    preds = [ctx.states[d] for d in step.depends_on or []]
    preds_done = all(p.status in _DONE for p in preds)
    status = _status(ctx, step, views, preds_done)
    completed = [v for v in views if v.status == RunStatus.COMPLETE]
    expected_start = _expected_start(ctx, step)
    first_start = views[0].start if views else None
    last = views[-1] if views else None
    end = completed[-1].end if status == StepStatus.COMPLETE and completed else None
    duration = (
        ((end or ctx.as_of) - first_start).total_seconds() if first_start and status != StepStatus.FAILED else None
    )
    if status == StepStatus.FAILED and last and last.end and first_start:
        duration = (last.end - first_start).total_seconds()
    records = sum(v.records for v in views)
    busy = sum(v.duration_s or 0.0 for v in views)
    run_start = last.start if last else None
    exp = ctx.expected_duration(step)
    basis = run_start or expected_start
    expected_end = basis + exp if exp and basis else None
    outlook = _predict(ctx, step, status, views, end)
    return StepState(
        step_id=step.id,
        batch_code=step.batch_code,
        name=step.name,
        position=position,
        depends_on=list(step.depends_on or []),
        status=status,
        runs=views,
        runs_done=len(completed),
        runs_required=step.repeat.required_runs,
        start=first_start,
        end=end,
        duration_s=duration,
        records=records,
        errors=sum(v.errors for v in views),
        rps=(records / busy) if busy > 0 else None,
        threads_total=last.threads_total if last else 0,
        threads_done=last.threads_done if last else 0,
        progress=outlook.progress if status in (StepStatus.RUNNING, StepStatus.STUCK, StepStatus.COMPLETE) else None,
        progress_basis=outlook.basis.value if outlook.basis else None,
        expected_start=expected_start,
        expected_end=expected_end,
        finish_by=ctx.clock(step.finish_by) if step.finish_by else None,
        predicted_start=outlook.predicted_start,
        predicted_end=outlook.predicted_end,
        pending_count=ctx.obs.checks.get(step.id),
        error_text=next((v.error_text for v in reversed(views) if v.error_text), None),
        last_progress_at=last.last_progress_at if last else None,
    )


def _baseline(ctx: _Context, step: StepConfig) -> StepBaseline | None:
    """The step's learned baseline, once it has ``baseline_min_days`` sample days."""
    return ctx.judging.get(step.id)


def _own_start(ctx: _Context, step: StepConfig) -> dt.datetime | None:
    """The step's own expected start: its clock time, its learned median start, the day's start for a
    first step, else none (when its predecessors allow)."""
    if isinstance(step.expected_start, dt.time):
        return ctx.clock(step.expected_start)
    typical = ctx.typical_start(step)
    if typical is not None:
        return typical
    if not step.depends_on:
        return ctx.obs.window_start
    return None


def _predict(
    ctx: _Context, step: StepConfig, status: StepStatus, views: list[RunView], end: dt.datetime | None
) -> forecast.StepForecast:
    """The step's forecast (batch_monitor.forecast), kept for its successors and the critical path."""
    done = status in _DONE  # its forecast is its runs and end: no typical run or own start to work out
    item = forecast.StepInput(
        step_id=step.id,
        status=status,
        typical=_NOTHING_TYPICAL if done else forecast.Typical.of(step, _baseline(ctx, step)),
        depends_on=tuple(step.depends_on) if step.depends_on else (),
        runs=tuple(views),
        end=end,
        earliest_start=None if done else _own_start(ctx, step),
        required_runs=step.repeat.required_runs,
        until_check=step.repeat.until_sql is not None,
        pending=ctx.obs.checks.get(step.id),
    )
    # only its predecessors' skips count (forecast._not_started): a set of every judged step's, built
    # for each step, made a tick O(steps²) (4.4 s of a 5,000-step evaluation; benchmarks/FINDINGS.md)
    skipped = {d for d in item.depends_on if d in ctx.states and ctx.states[d].status == StepStatus.SKIPPED}
    outlook = forecast.predict(item, ctx.forecasts, skipped, ctx.as_of)
    ctx.inputs.append(item)
    ctx.forecasts[step.id] = outlook
    return outlook


def _step_findings(ctx: _Context, step: StepConfig, state: StepState, runs: list[RunObservation]) -> None:
    if not step.enabled:
        return
    failed = _failed_run(state.runs)
    if failed is not None:
        _failed(ctx, step, failed)
    running = [v for v in state.runs if v.status == RunStatus.RUNNING]
    if running:
        # a long run keeps its LONG_RUNNING alert while it is stuck too (the two never take turns);
        # a stuck run's rate is STUCK's to tell, not LOW_THROUGHPUT's
        _long_running(ctx, step, running[-1])
    if state.status == StepStatus.STUCK:
        _stuck(ctx, step, state)
    elif running:
        _low_throughput(ctx, step, running[-1])
    _late_start(ctx, step, state)
    _step_at_risk(ctx, step, state)
    _missed_deadline(ctx, step, state)
    _out_of_order(ctx, step, state)
    _empty_runs(ctx, step, state)
    _unusual_volume(ctx, step, state)


def _failed(ctx: _Context, step: StepConfig, run: RunView) -> None:
    when = run.end or run.start or ctx.as_of
    error = (run.error_text or "").strip()
    first_line = error.splitlines()[0][:160] if error else "no error message recorded"
    ctx.add(
        FindingKind.FAILED,
        step,
        f"{step.batch_code} failed at {ctx.local(when)} — {first_line}",
        since=when,
        expected=f"{step.batch_code} completes (status complete)",
        actual=f"run {run.batch_nbr} (rerun {run.rerun_nbr}) ended in error after "
        f"{format_duration(run.duration_s)}, {run.records:,} records, {run.errors:,} in error",
        error_text=run.error_text,
        run_key=f"{run.batch_cd}:{run.batch_nbr}:{run.rerun_nbr}",
        details={"batch_nbr": run.batch_nbr, "rerun_nbr": run.rerun_nbr},
    )


def _stuck(ctx: _Context, step: StepConfig, state: StepState) -> None:
    run = next(v for v in reversed(state.runs) if v.status == RunStatus.RUNNING)
    since = run.last_progress_at or ctx.as_of
    ctx.add(
        FindingKind.STUCK,
        step,
        f"{step.batch_code} stuck: no progress for {format_duration(ctx.as_of - since)} "
        f"({run.threads_running} thread(s) still in progress, {run.records:,} records)",
        since=since,
        expected=f"records or finished threads grow at least every {format_duration(step.stuck_after)}",
        actual=f"{run.records:,} records and {run.threads_done}/{run.threads_total} threads done "
        f"unchanged since {ctx.local(since)}",
        run_key=f"{run.batch_cd}:{run.batch_nbr}:{run.rerun_nbr}",
        details={"threads_running": run.threads_running, "records": run.records},
    )


def _limit(ctx: _Context, step: StepConfig) -> dt.timedelta | None:
    """max_duration as the YAML gives it, else learned (never below the expected duration), else 2 x expected."""
    if step.max_duration is not None:
        return step.max_duration
    expected = ctx.expected_duration(step)
    baseline = ctx.learned(step, "max_duration")
    learned = learned_max_duration_s(baseline) if baseline is not None else None
    if learned is not None:
        return max(dt.timedelta(seconds=learned), expected or dt.timedelta(0))
    return expected * 2 if expected else None


def _long_running(ctx: _Context, step: StepConfig, run: RunView) -> None:
    limit = _limit(ctx, step)
    if limit is None or run.start is None or run.duration_s is None:
        return
    if run.duration_s <= limit.total_seconds():
        return
    typical = ctx.expected_duration(step)
    expected = format_duration(typical) if typical else "—"
    rps = f", RPS {run.rps:.1f}" if run.rps is not None else ""
    threshold = f" (threshold {step.min_rps:g})" if step.min_rps is not None and rps else ""
    ctx.add(
        FindingKind.LONG_RUNNING,
        step,
        f"{step.batch_code} running {format_duration(run.duration_s)}, expected {expected}{rps}{threshold}",
        since=run.start + limit,
        expected=f"finishes within {format_duration(limit)} (expected {expected})",
        actual=f"running since {ctx.local(run.start)} ({format_duration(run.duration_s)}), "
        f"{run.records:,} records, {run.threads_done}/{run.threads_total} threads done",
        run_key=f"{run.batch_cd}:{run.batch_nbr}:{run.rerun_nbr}",
        details={"elapsed_s": run.duration_s, "limit_s": limit.total_seconds()},
    )


def _low_throughput(ctx: _Context, step: StepConfig, run: RunView) -> None:
    if step.min_rps is None or run.start is None or run.duration_s is None:
        return
    if run.duration_s < LOW_THROUGHPUT_MIN_ELAPSED.total_seconds():
        return
    rps = run.rps or 0.0
    if rps >= step.min_rps:
        return
    ctx.add(
        FindingKind.LOW_THROUGHPUT,
        step,
        f"{step.batch_code} processing {rps:.1f} records/s (threshold {step.min_rps:g})",
        since=run.start,
        expected=f"at least {step.min_rps:g} records per second",
        actual=f"{run.records:,} records in {format_duration(run.duration_s)} = {rps:.1f}/s",
        run_key=f"{run.batch_cd}:{run.batch_nbr}:{run.rerun_nbr}",
        details={"rps": rps, "min_rps": step.min_rps},
    )


def _late_start(ctx: _Context, step: StepConfig, state: StepState) -> None:
    if state.start is not None and state.expected_start is not None:
        # judged only against predecessors that completed: a start before them is OUT_OF_ORDER
        if all(ctx.states[d].status in _DONE for d in step.depends_on or []):
            _started_late(ctx, step, state.start, state.expected_start)
        return
    if state.runs or state.status != StepStatus.PENDING or state.expected_start is None:
        return
    due = state.expected_start + ctx.start_grace(step)
    if ctx.as_of <= due:
        return
    ctx.add(
        FindingKind.LATE_START,
        step,
        f"{step.batch_code} has not started: expected at {ctx.local(state.expected_start)}, "
        f"late by {format_duration(ctx.as_of - state.expected_start)}",
        since=due,
        expected=f"starts by {ctx.local(state.expected_start)} (+{format_duration(ctx.start_grace(step))} grace)",
        actual=f"no run of {step.batch_code} in this business day as of {ctx.local(ctx.as_of)}",
    )


def _started_late(ctx: _Context, step: StepConfig, start: dt.datetime, expected: dt.datetime) -> None:
    """The step started after its expected start + grace (judged from the run, not the tick)."""
    due = expected + ctx.start_grace(step)
    if start <= due:
        return
    ctx.add(
        FindingKind.LATE_START,
        step,
        f"{step.batch_code} started {format_duration(start - expected)} late: at {ctx.local(start)}, "
        f"expected at {ctx.local(expected)}",
        since=due,
        ended_at=start,
        expected=f"starts by {ctx.local(expected)} (+{format_duration(ctx.start_grace(step))} grace)",
        actual=f"first run of {step.batch_code} started at {ctx.local(start)}",
        details={"started_at": start.isoformat(), "late_s": (start - expected).total_seconds()},
    )


def _completed_late(ctx: _Context, step: StepConfig | None, who: str, end: dt.datetime, finish_by: dt.datetime) -> None:
    """A step (or the chain) that completed after its deadline, between two ticks or not."""
    ctx.add(
        FindingKind.MISSED_DEADLINE,
        step,
        f"{who} completed {format_duration(end - finish_by)} late: at {ctx.local(end)}, "
        f"against its {ctx.local(finish_by)} deadline",
        since=finish_by,
        ended_at=end,
        expected=f"complete by {ctx.local(finish_by)}",
        actual=f"completed at {ctx.local(end)}",
        details={
            "completed_at": end.isoformat(),
            "late_s": (end - finish_by).total_seconds(),
            **_preceded_by(ctx, step.id if step else CHAIN_STEP_ID),
        },
    )


def _preceded_by(ctx: _Context, key: str) -> dict[str, str]:
    """A MISSED_DEADLINE's link to the AT_RISK that came before it, so both tell one story."""
    since = at_risk.was_at_risk_since(ctx.risk.get(key))
    return {"was_at_risk_since": since.isoformat()} if since else {}


def _judge_risk(
    ctx: _Context, key: str, predicted: dt.datetime | None, finish_by: dt.datetime, margin: dt.timedelta, done: bool
) -> RiskMemory | None:
    memory = at_risk.judge(
        ctx.risk_memory.get(key), as_of=ctx.as_of, predicted=predicted, finish_by=finish_by, margin=margin, done=done
    )
    if memory is not None:
        ctx.risk[key] = memory
    return memory if at_risk.holds(memory, as_of=ctx.as_of, finish_by=finish_by) else None


def _risk_finding(
    ctx: _Context,
    step: StepConfig | None,
    memory: RiskMemory,
    finish_by: dt.datetime,
    margin: dt.timedelta,
    severity: Severity,
    path: list[str],
) -> None:
    """The AT_RISK text: predicted time, deadline, gap and the step on the critical path that drives it.

    ``path``: the critical path behind the prediction, the driving step (the earliest) first.
    """
    predicted = memory.predicted
    assert predicted is not None
    who = step.batch_code if step else ctx.workflow.name
    gap = predicted - finish_by
    driver = ctx.states[path[0]]
    how = driver.status.value
    if driver.runs and driver.progress is not None:
        how += f", {round(driver.progress * 100)}% done"
    if driver.predicted_end is not None:
        how += f", predicted end {ctx.local(driver.predicted_end)}"
    chain = " → ".join(ctx.states[sid].batch_code for sid in path)
    ctx.add(
        FindingKind.AT_RISK,
        step,
        f"{who} predicted to finish at {ctx.local(predicted)}, {format_duration(gap.total_seconds())} after its "
        f"{ctx.local(finish_by)} deadline; driven by {driver.batch_code} ({how})",
        severity=severity,
        since=memory.late_since,
        expected=f"complete by {ctx.local(finish_by)}"
        + (f" (at risk beyond {format_duration(margin.total_seconds())} later)" if margin else ""),
        actual=f"predicted {ctx.local(predicted)} as of {ctx.local(ctx.as_of)}; critical path: {chain}",
        details={
            "predicted_end": predicted.isoformat(),
            "finish_by": finish_by.isoformat(),
            "gap_s": gap.total_seconds(),
            "risk_margin_s": margin.total_seconds(),
            "driver": driver.step_id,
            "progress_basis": driver.progress_basis,
            "critical_path": path,
        },
    )


def _step_at_risk(ctx: _Context, step: StepConfig, state: StepState) -> None:
    if state.finish_by is None:
        return
    done = state.status in _DONE
    memory = _judge_risk(ctx, step.id, state.predicted_end, state.finish_by, step.risk_margin, done)
    if memory is None:
        return
    if state.predicted_end is not None:
        path = list(reversed(forecast.drivers(step.id, ctx.forecasts)))
    else:  # no prediction this tick (a failed step): the AT_RISK raised before holds on
        path = _unpredicted(ctx, step.id)
    _risk_finding(ctx, step, memory, state.finish_by, step.risk_margin, step.at_risk_severity, path)


def _unpredicted(ctx: _Context, step_id: str) -> list[str]:
    """For a step without a prediction (an AT_RISK raised before holds on): the step that took it away
    (a failed one, itself or upstream) and the steps from it to ``step_id``."""
    path = [step_id]
    while True:
        lost = [d for d in ctx.states[path[0]].depends_on if ctx.states[d].status != StepStatus.SKIPPED]
        lost = [d for d in lost if ctx.states[d].predicted_end is None]
        if not lost:
            return path
        path.insert(0, lost[0])


def _chain_at_risk(ctx: _Context, status: StepStatus, outlook: forecast.Forecast, finish_by: dt.datetime) -> None:
    wf = ctx.workflow
    done = status == StepStatus.COMPLETE
    memory = _judge_risk(ctx, CHAIN_STEP_ID, outlook.predicted_finish, finish_by, wf.risk_margin, done)
    if memory is None:
        return
    path = outlook.critical_path
    if not path:  # no prediction this tick (a failed step): the AT_RISK raised before holds on
        unpredicted = [s.step_id for s in ctx.states.values() if s.status != StepStatus.SKIPPED and not s.predicted_end]
        path = _unpredicted(ctx, unpredicted[-1]) if unpredicted else []
    if path:
        _risk_finding(ctx, None, memory, finish_by, wf.risk_margin, wf.at_risk_severity, path)


def _missed_deadline(ctx: _Context, step: StepConfig, state: StepState) -> None:
    if state.finish_by is not None and state.status == StepStatus.COMPLETE and state.end is not None:
        if state.end > state.finish_by:
            _completed_late(ctx, step, step.batch_code, state.end, state.finish_by)
        return
    if state.finish_by is None or state.status in _DONE or ctx.as_of <= state.finish_by:
        return
    predicted = f", predicted {ctx.local(state.predicted_end)}" if state.predicted_end else ""
    ctx.add(
        FindingKind.MISSED_DEADLINE,
        step,
        f"{step.batch_code} not complete by its {ctx.local(state.finish_by)} deadline "
        f"({state.status.value}{predicted})",
        since=state.finish_by,
        expected=f"complete by {ctx.local(state.finish_by)}",
        actual=f"{state.status.value} as of {ctx.local(ctx.as_of)}; {state.runs_done} of "
        f"{state.runs_required} run(s) complete",
        details={"status": state.status.value, **_preceded_by(ctx, step.id)},
    )


def _out_of_order(ctx: _Context, step: StepConfig, state: StepState) -> None:
    if not state.runs or not step.depends_on:
        return
    first = state.runs[0]
    if first.start is None:
        return
    for dep in step.depends_on:
        pred = ctx.states[dep]
        if pred.status == StepStatus.SKIPPED:
            continue
        if pred.end is not None and pred.end <= first.start:
            continue
        ctx.add(
            FindingKind.OUT_OF_ORDER,
            step,
            f"{step.batch_code} started at {ctx.local(first.start)} before {pred.batch_code} completed",
            since=first.start,
            expected=f"starts after {pred.batch_code} completes",
            actual=f"{pred.batch_code} was {pred.status.value}"
            + (f" and completed at {ctx.local(pred.end)}" if pred.end else ""),
            run_key=f"{first.batch_cd}:{first.batch_nbr}:{first.rerun_nbr}",
            details={"predecessor": pred.step_id},
        )
        return


def _empty_runs(ctx: _Context, step: StepConfig, state: StepState) -> None:
    if not step.expect_records:
        return
    empty = [v for v in state.runs if v.status == RunStatus.COMPLETE and v.records == 0]
    if not empty:
        return
    run = empty[-1]
    when = run.end or run.start or ctx.as_of
    ctx.add(
        FindingKind.EMPTY_RUN,
        step,
        f"{step.batch_code} completed at {ctx.local(when)} having processed 0 records",
        since=when,
        expected="a run processes records",
        actual=f"{len(empty)} completed run(s) with 0 records",
        run_key=f"{run.batch_cd}:{run.batch_nbr}:{run.rerun_nbr}",
    )


def _unusual_volume(ctx: _Context, step: StepConfig, state: StepState) -> None:
    if not step.expect_records:
        return
    limits = VolumeLimits(low=step.volume_low, high=step.volume_high, min_days=ctx.workflow.baseline_min_days)
    found = unusual_volume(state.runs, ctx.baselines.get(step.id), limits)
    if found is None:
        return
    run = found.run
    when = run.end or run.start or ctx.as_of
    typical = f"{found.typical_records:,.0f}"
    took = f" in {format_duration(found.duration_s)}" if found.duration_s is not None else ""
    usual = f" in {format_duration(found.typical_duration_s)}" if found.typical_duration_s is not None else ""
    expected = {
        "low": f"at least {step.volume_low:.0%} of the typical {typical} records",
        "high": f"at most {step.volume_high:.0%} of the typical {typical} records",
        "quick": f"a run near its typical {typical} records{usual}",
    }[found.rule]
    ctx.add(
        FindingKind.UNUSUAL_VOLUME,
        step,
        f"{step.batch_code} completed at {ctx.local(when)} with {found.records:,} records, "
        f"{found.share:.0%} of its typical {typical}",
        since=when,
        expected=expected,
        actual=f"{found.records:,} records{took} (typical {typical}{usual})",
        run_key=f"{run.batch_cd}:{run.batch_nbr}:{run.rerun_nbr}",
        details={
            "rule": found.rule,
            "records": found.records,
            "typical_records": found.typical_records,
            "share": round(found.share, 4),
            "duration_s": found.duration_s,
            "typical_duration_s": found.typical_duration_s,
        },
    )


def _judge_chain(ctx: _Context, outlook: forecast.Forecast) -> tuple[StepStatus, dt.datetime | None]:
    states = [s for s in ctx.states.values() if s.status != StepStatus.SKIPPED]
    statuses = {s.status for s in states}
    if all(s.status == StepStatus.COMPLETE for s in states):
        status = StepStatus.COMPLETE
    else:
        status = next(
            (
                s
                for s in (StepStatus.FAILED, StepStatus.STUCK, StepStatus.RUNNING, StepStatus.REPEATING)
                if s in statuses
            ),
            StepStatus.PENDING if any(s.runs for s in states) else StepStatus.WAITING,
        )
        if status == StepStatus.WAITING and StepStatus.PENDING in statuses:
            status = StepStatus.PENDING
    finish_by = ctx.clock(ctx.workflow.chain_finish_by) if ctx.workflow.chain_finish_by else None
    if finish_by:
        _chain_at_risk(ctx, status, outlook, finish_by)
    ended = max((s.end for s in states if s.end is not None), default=None)
    if finish_by and status == StepStatus.COMPLETE and ended and ended > finish_by:
        _completed_late(ctx, None, ctx.workflow.name, ended, finish_by)
    elif finish_by and status != StepStatus.COMPLETE and ctx.as_of > finish_by:
        open_steps = [s.batch_code for s in states if s.status != StepStatus.COMPLETE]
        ctx.add(
            FindingKind.MISSED_DEADLINE,
            None,
            f"{ctx.workflow.name} not complete by its {ctx.local(finish_by)} deadline "
            f"({len(open_steps)} step(s) open: {', '.join(open_steps)})",
            since=finish_by,
            expected=f"every step complete by {ctx.local(finish_by)}",
            actual=f"open as of {ctx.local(ctx.as_of)}: {', '.join(open_steps)}",
            details={"open_steps": open_steps, **_preceded_by(ctx, CHAIN_STEP_ID)},
        )
    return status, finish_by


def _name_data_problems(ctx: _Context, problems: list[str]) -> None:
    """A CRITICAL finding that rests on rows the reader distrusted or corrected says so.

    A problem bears on a step when it names the step's batch code or one of its predecessors'
    (a problem naming no batch code, such as the CC&B clock, bears on every step); the chain's
    findings rest on every step.
    """
    codes = {step.batch_code for step in ctx.workflow.steps}
    for finding in ctx.findings:
        if finding.severity != Severity.CRITICAL:
            continue
        if finding.step_id == CHAIN_STEP_ID:
            relevant = problems
        else:
            bearing = _lineage(ctx.workflow, finding.step_id)
            relevant = [p for p in problems if _named_code(p, codes) in bearing | {None}]
        if relevant:
            more = f" (and {len(relevant) - 3} more)" if len(relevant) > 3 else ""
            finding.details["data_problem"] = "; ".join(relevant[:3]) + more


def _lineage(workflow: WorkflowConfig, step_id: str) -> set[str | None]:
    """The batch codes of a step and of every step it waits for."""
    codes: set[str | None] = set()
    todo = [step_id]
    while todo:
        step = workflow.step(todo.pop())
        if step.batch_code not in codes:
            codes.add(step.batch_code)
            todo.extend(step.depends_on or [])
    return codes


def _named_code(problem: str, codes: set[str]) -> str | None:
    """The batch code a problem is about (its text starts with it), None for a source-wide one."""
    return next((code for code in codes if problem.startswith(f"{code} ")), None)
