"""The data that flows between modules: observations in, evaluation out.

source.py produces :class:`Observations`; evaluate.py turns them (with :class:`Progress`
memory from the store) into an :class:`Evaluation`; store/ persists both. All times are
aware UTC datetimes. Pydantic models, so every piece round-trips through JSON (the store
keeps snapshots and evaluations packed: store/packing.py). Pure: no Airflow, no database.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from batch_monitor.constants import FindingKind, RunStatus, Severity, StepStatus


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RunKey(_Model):
    batch_cd: str
    batch_nbr: int
    rerun_nbr: int = 0

    def token(self) -> str:
        return f"{self.batch_cd}:{self.batch_nbr}:{self.rerun_nbr}"


class ThreadObservation(_Model):
    """One CC&B thread (CI_BATCH_THD) with its executions (CI_BATCH_INST) folded in."""

    thread_nbr: int
    status: RunStatus
    status_code: str = ""
    start: dt.datetime | None = None  # first execution's start
    end: dt.datetime | None = None  # last execution's end (None while running)
    last_activity: dt.datetime | None = None  # latest start/end of any execution
    records: int = 0  # REC_PROC_CNT summed over executions
    errors: int = 0  # REC_ERR_CNT summed over executions
    executions: int = 1


class RunObservation(_Model):
    """One CC&B batch run (CI_BATCH_RUN) with its threads."""

    batch_cd: str
    batch_nbr: int
    rerun_nbr: int = 0
    bus_dt: dt.date | None = None  # BATCH_BUS_DT as CC&B recorded it
    status: RunStatus
    status_code: str = ""
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    threads: list[ThreadObservation] = Field(default_factory=list)
    error_text: str | None = None

    @property
    def key(self) -> RunKey:
        return RunKey(batch_cd=self.batch_cd, batch_nbr=self.batch_nbr, rerun_nbr=self.rerun_nbr)

    @property
    def records(self) -> int:
        return sum(t.records for t in self.threads)

    @property
    def errors(self) -> int:
        return sum(t.errors for t in self.threads)

    @property
    def threads_done(self) -> int:
        return sum(1 for t in self.threads if t.status in (RunStatus.COMPLETE, RunStatus.ERROR))

    @property
    def last_activity(self) -> dt.datetime | None:
        moments = [m for m in (self.start, self.end) if m is not None]
        moments += [t.last_activity for t in self.threads if t.last_activity is not None]
        return max(moments) if moments else None


class StepBaseline(_Model):
    """What a step typically does on a business day, learned from history (baselines.py).

    Robust statistics over successful runs on days the step ran; ``segment`` says which days
    the figures come from ("all", "weekday", "weekend" or "month_end"). Durations and offsets
    are seconds; ``start_offset_p50_s`` is from the business day's start, ``gap_p50_s`` from
    the latest predecessor's end to this step's first start. None: no sample for that figure.
    """

    step_id: str
    segment: str = "all"
    sample_days: int
    runs_per_day: float
    duration_p50_s: float | None = None
    duration_p90_s: float | None = None
    duration_mad_s: float | None = None
    records_p10: float | None = None
    records_p50: float | None = None
    records_p90: float | None = None
    start_offset_p50_s: float | None = None
    gap_p50_s: float | None = None
    start_offset_p90_s: float | None = None  # the spread of starts: a learned start's grace is at least p90 - p50


class Observations(_Model):
    """Everything read from CC&B for one workflow and one business day, as of one moment."""

    workflow_id: str
    business_date: dt.date
    as_of: dt.datetime
    window_start: dt.datetime
    window_end: dt.datetime
    runs: list[RunObservation] = Field(default_factory=list)
    # result of each step's completion check (repeat.until_sql), by step id; None = not run
    checks: dict[str, int | None] = Field(default_factory=dict)
    # rows the reader could not use as they were (NULL start, end before start, ...)
    anomalies: list[str] = Field(default_factory=list)


class Progress(_Model):
    """What the monitor last saw of a running run, to tell a slow run from a stuck one."""

    records: int
    threads_done: int
    # when these values last changed: the as-of time they were first seen, or, for a run first seen
    # after it outlasted a typical run, its latest activity in CC&B (a thread execution's start or end)
    changed_at: dt.datetime
    seen_at: dt.datetime  # as-of time of the latest observation


class RiskMemory(_Model):
    """What the AT_RISK rule remembers of a step's (or the chain's) forecast from tick to tick.

    Kept in the day's evaluation (``Evaluation.risk``; the store keeps it in its ``memory`` too) and handed to
    the next tick.
    """

    late_ticks: int = 0  # consecutive ticks whose prediction was past finish_by + risk_margin
    late_since: dt.datetime | None = None  # as-of time of the first of those ticks
    raised_since: dt.datetime | None = None  # the AT_RISK holds (or held, until the deadline) since then
    predicted: dt.datetime | None = None  # the latest known prediction
    seen_at: dt.datetime  # as-of time of the tick that wrote this


class RunView(_Model):
    """A run as shown on the timeline and written to batch_execution_logs."""

    batch_cd: str
    batch_nbr: int
    rerun_nbr: int
    step_id: str
    status: RunStatus
    status_code: str = ""
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    duration_s: float | None = None
    records: int = 0
    errors: int = 0
    rps: float | None = None
    threads_total: int = 0
    threads_done: int = 0  # finished: complete or in error
    threads_failed: int = 0  # of those, in error
    threads_running: int = 0
    error_text: str | None = None
    last_progress_at: dt.datetime | None = None


class StepState(_Model):
    """The judged state of one step in the business day."""

    step_id: str
    batch_code: str
    name: str
    position: int
    depends_on: list[str] = Field(default_factory=list)
    status: StepStatus
    runs: list[RunView] = Field(default_factory=list)
    runs_done: int = 0
    runs_required: int = 1
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    duration_s: float | None = None
    records: int = 0
    errors: int = 0
    rps: float | None = None
    threads_total: int = 0
    threads_done: int = 0
    progress: float | None = None  # 0..1 for a running step (batch_monitor.forecast)
    progress_basis: str | None = None  # what that progress rests on: records, threads or elapsed
    expected_start: dt.datetime | None = None
    expected_end: dt.datetime | None = None
    finish_by: dt.datetime | None = None
    predicted_start: dt.datetime | None = None  # the first run's start, or when the forecast expects it
    predicted_end: dt.datetime | None = None  # when the forecast expects the step complete
    on_critical_path: bool = False  # its delay moves the chain's predicted finish
    pending_count: int | None = None  # completion check result (e.g. pending IMDs)
    error_text: str | None = None
    last_progress_at: dt.datetime | None = None

    def rerun_span(self, as_of: dt.datetime | None) -> tuple[float, float | None] | None:
        """For a step whose failed runs a later run made good: (the good run's duration, the whole span).

        The good run is timed from the first run after the last failure to the step's end (or
        ``as_of`` while it still runs); the whole span, failed runs and the gap included, is the
        step's ``duration_s``. None for any other step (never failed, or failed last).
        """
        failed = [i for i, run in enumerate(self.runs) if run.status == RunStatus.ERROR]
        if self.status == StepStatus.FAILED or not failed or failed[-1] == len(self.runs) - 1:
            return None
        good_start = self.runs[failed[-1] + 1].start
        stop = self.end or as_of
        if good_start is None or stop is None:
            return None
        return (stop - good_start).total_seconds(), self.duration_s


class Finding(_Model):
    """A condition that holds as of the evaluation, or a breach that held earlier in the day and is
    over (``ended_at`` set). The store turns findings into alerts."""

    kind: FindingKind
    severity: Severity
    step_id: str
    batch_code: str = ""
    title: str  # one line: "C1-PPBTR failed at 14:30 — ORA-12545 Connection timeout"
    since: dt.datetime | None = None  # when the condition began, as well as can be told
    expected: str = ""  # what should have happened, in words
    actual: str = ""  # what did happen, in words
    error_text: str | None = None
    action: str = ""  # what on-call should do
    run_key: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)
    # set for a breach already over when judged (a step that completed after its deadline, or
    # started late, between two ticks): the store records it and resolves it at once
    ended_at: dt.datetime | None = None

    @property
    def identity(self) -> tuple[str, str]:
        return (self.step_id, self.kind.value)

    @property
    def closed(self) -> bool:
        """The condition no longer holds: it is recorded, not open."""
        return self.ended_at is not None


class Evaluation(_Model):
    """The outcome of judging one business day as of one moment."""

    workflow_id: str
    business_date: dt.date
    as_of: dt.datetime
    timezone: str
    chain_status: StepStatus
    steps: list[StepState]
    findings: list[Finding]
    progress: dict[str, Progress] = Field(default_factory=dict)  # by RunKey.token()
    risk: dict[str, RiskMemory] = Field(default_factory=dict)  # by step id (or "_chain"): AT_RISK memory
    predicted_chain_end: dt.datetime | None = None  # the chain's predicted finish: its latest step's end
    critical_path: list[str] = Field(default_factory=list)  # step ids whose delay moves it, earliest first
    chain_finish_by: dt.datetime | None = None
    # the workflow's calendar: false on a business day with no run expected (a weekend day off, a
    # holiday it skips), with the reason ("Saturday is not a run day", "holiday: Victory Day")
    run_expected: bool = True
    no_run_reason: str | None = None


class AtRisk(_Model):
    """A deadline an incident's cause puts at risk: a downstream step's, or the chain's."""

    label: str  # "F1-FLUSH (Flush)" or "Chain"
    finish_by: dt.datetime | None = None
    predicted_end: dt.datetime | None = None


class AlertContext(_Model):
    """Everything an alert or recovery e-mail says. Built by the store from the alert row."""

    alert_id: int
    workflow_id: str
    workflow_name: str
    timezone: str  # the workflow's zone; mails show local business time and name the zone
    business_date: dt.date
    step_id: str
    step_name: str
    batch_code: str
    kind: FindingKind
    severity: Severity
    title: str
    since: dt.datetime | None = None
    first_seen_at: dt.datetime
    last_seen_at: dt.datetime
    resolved_at: dt.datetime | None = None  # set for recovery mails
    expected: str = ""
    actual: str = ""
    error_text: str | None = None
    action: str = ""
    run_key: str | None = None
    page_url: str = ""  # link to the plugin page for this workflow, date and alert
    details: dict[str, Any] = Field(default_factory=dict)
    # the incident this alert causes (batch_monitor.incidents): what its cause puts at risk (alert
    # mail), and for the recovery mail how many alerts it held and the deadlines it cost
    at_risk: list[AtRisk] = Field(default_factory=list)
    incident_alerts: int = 1
    incident_cost: list[str] = Field(default_factory=list)


class Notice(_Model):
    """What a message says, channel-neutral: the chat channels (Slack, Apprise) render it.

    ``kind``: alert | recovery | reminder | escalation | digest. ``severity``: CRITICAL, WARNING,
    RESOLVED or INFO. ``facts``: (label, value) pairs shown as fields. ``body``: further plain
    text (a digest's step table and alerts). ``alert_id``: the alert a follow-up belongs to.
    """

    kind: str
    severity: str
    headline: str
    workflow_id: str = ""
    business_date: dt.date | None = None
    step: str = ""
    error_text: str | None = None
    page_url: str = ""
    facts: list[tuple[str, str]] = Field(default_factory=list)
    body: str = ""
    alert_id: int | None = None
    note: str = ""  # a reminder's or escalation's opening line


class EmailContent(_Model):
    """A rendered e-mail: subject, plain text and HTML bodies.

    ``message_key``: the local part of a Message-ID that stays the same when the mail is sent
    again (the outbox sets it), so mail systems drop a copy whose first sending timed out after
    the server took it. None: a fresh Message-ID each time.
    ``notice``: the same message for the chat channels (None: they show the subject and text).
    """

    subject: str
    text: str
    html: str
    message_key: str | None = None
    notice: Notice | None = None
