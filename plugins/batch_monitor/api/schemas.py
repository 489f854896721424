"""Response and request bodies of the JSON API (pydantic, so OpenAPI documents them).

Times are aware UTC datetimes (ISO 8601 with offset); each workflow names its ``timezone``
so clients can show local business time. Pure: no Airflow, no database.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from batch_monitor.api.limits import COMMENT_CHARS, WORKFLOW_ID_CHARS, CleanText
from batch_monitor.constants import FindingKind, RunStatus, Severity, StepStatus
from batch_monitor.models import Finding, StepState


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class StepInfo(_Out):
    """One configured step of a workflow (from batch_workflow_config)."""

    step_id: str
    batch_code: str
    name: str
    position: int
    depends_on: list[str]
    expected_start: str | None = Field(None, description="'HH:MM' local time, 'after_predecessor' or 'learned'")
    expected_duration_s: float | None = None
    max_duration_s: float | None = None
    finish_by: str | None = Field(None, description="'HH:MM' local time")
    stuck_after_s: float
    min_rps: float | None = None
    repeat_rule: dict[str, Any] = Field(default_factory=dict)
    enabled: bool
    runbook: str = ""


class WorkflowInfo(_Out):
    workflow_id: str
    name: str
    dag_id: str
    timezone: str
    business_day_start: str = Field(description="'HH:MM' local time at which a business day starts")
    current_business_date: dt.date = Field(description="the business day that contains the server's now")
    latest_business_date: dt.date | None = Field(None, description="newest business day the monitor judged")
    can_acknowledge: bool = Field(description="whether the caller may acknowledge/resolve this workflow's alerts")
    steps: list[StepInfo]


class Labels(_Out):
    """The words the page shows for codes, so it copies none from the Python enums."""

    alert_kinds: dict[FindingKind, str] = Field(description="every alert kind, in the order the page lists them")
    step_statuses: dict[StepStatus, str] = Field(description="every step (and chain) status")


class WorkflowsResponse(_Out):
    user: str
    refresh_interval_seconds: int
    server_time: dt.datetime
    workflows: list[WorkflowInfo]
    labels: Labels


class AlertOut(_Out):
    """An alert as the store keeps it (batch_monitoring_alerts)."""

    id: int
    workflow_id: str
    business_date: dt.date
    step_id: str
    step_name: str = ""
    batch_cd: str
    kind: FindingKind
    severity: Severity
    state: str = Field(description="open | acknowledged | resolved")
    title: str
    expected: str = ""
    actual: str = ""
    action: str = ""
    error_text: str | None = None
    run_key: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)
    since: dt.datetime | None = None
    first_seen_at: dt.datetime
    last_seen_at: dt.datetime
    seen_count: int
    acknowledged_at: dt.datetime | None = None
    acknowledged_by: str | None = None
    ack_comment: str | None = None
    resolved_at: dt.datetime | None = None
    resolved_by: str | None = None
    resolution: str | None = None
    incident_id: int | None = Field(
        default=None, description="the id of the alert that caused this one's incident (its own id for a cause)"
    )
    caused_by: int | None = Field(
        default=None, description="the cause's alert id when this alert is a consequence of it; null for a cause"
    )
    warned_by: int | None = Field(
        default=None,
        description="batch-timeline: for a MISSED_DEADLINE, the id of the AT_RISK alert that forecast it "
        "(same step and day; details.was_at_risk_since says since when)",
    )
    reminders: int = Field(default=0, description="reminders mailed in this opening (an unacknowledged CRITICAL cause)")
    escalated_at: dt.datetime | None = Field(
        default=None, description="when its mails began to go to escalate_to as well; null if not escalated"
    )
    silenced: str | None = Field(
        default=None,
        description="while a silence or maintenance window covers it: 'silenced until 11:00 by op1: planned rerun' "
        "(local business time); nothing about it is mailed meanwhile",
    )
    silenced_until: dt.datetime | None = Field(default=None, description="when that silence ends")
    silence_id: int | None = Field(default=None, description="the silence's id (null for a maintenance window)")
    mail_held: bool = Field(default=False, description="its problem mail waits for the silence to end")
    timezone: str = "UTC"


class ActiveAlertsResponse(_Out):
    total: int
    unacknowledged: int
    acknowledged: int
    by_severity: dict[str, int] = Field(description="active alerts per severity (every severity present)")
    by_kind: dict[str, int] = Field(description="active alerts per kind (every kind present)")
    alerts: list[AlertOut] = Field(description="CRITICAL first, then WARNING, then INFO; newest first within each")


class AlertEventOut(_Out):
    id: int
    event: str = Field(description="opened | reopened | escalated | emailed | acknowledged | resolved | ...")
    at: dt.datetime
    as_of: dt.datetime | None = None
    actor: str
    comment: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class AlertDetailResponse(_Out):
    alert: AlertOut
    events: list[AlertEventOut] = Field(description="oldest first")
    can_acknowledge: bool


class AlertActionBody(BaseModel):
    """Body of acknowledge and resolve. The acting user comes from the token, never from here."""

    model_config = ConfigDict(extra="forbid")

    comment: CleanText | None = Field(None, max_length=COMMENT_CHARS, description="no NUL; valid Unicode")


class AlertActionResponse(_Out):
    alert: AlertOut
    changed: bool = Field(description="false when the alert was already in that state (nothing done)")
    message: str


class BaselineOut(_Out):
    """What the step typically does on such a business day, learned from its history (batch_monitor.baselines)."""

    segment: str = Field(description="the days the figures come from: all | weekday | weekend | month_end")
    sample_days: int = Field(description="business days with a good run the figures come from")
    runs_per_day: float
    duration_p50_s: float | None = Field(None, description="median duration of a good run, seconds")
    duration_p90_s: float | None = None
    records_p10: float | None = None
    records_p50: float | None = Field(None, description="median records of a good run")
    records_p90: float | None = None
    start_p50: str | None = Field(None, description="median first start, 'HH:MM' local time")
    start_p50_at: dt.datetime | None = Field(None, description="the median first start on this business date")
    gap_p50_s: float | None = Field(None, description="median wait after the latest predecessor's end, seconds")


class TimelineStep(StepState):
    """A step of the business day as judged, with the day's alerts for it."""

    late: bool = Field(False, description="the step is behind plan: late start or missed deadline")
    total_duration_s: float | None = Field(
        None,
        description="after a rerun made failed runs good: first start to end, failed runs and gaps included "
        "(duration_s is then the rerun's)",
    )
    alerts: list[AlertOut] = Field(default_factory=list)
    baseline: BaselineOut | None = Field(None, description="learned baseline for this date; null: no history")


class MaintenanceOut(_Out):
    """One occurrence of a maintenance window (from the workflow's YAML): drawn as a hatched band."""

    starts_at: dt.datetime
    ends_at: dt.datetime
    steps: list[str] = Field(default_factory=list, description="the steps it silences; empty: the whole workflow")
    comment: str = ""


class TimelineResponse(_Out):
    workflow_id: str
    workflow_name: str
    timezone: str
    business_date: dt.date
    window_start: dt.datetime
    window_end: dt.datetime
    evaluated: bool = Field(description="false when the monitor has not judged this day (steps from config)")
    as_of: dt.datetime | None = None
    chain_status: StepStatus | None = None
    predicted_chain_end: dt.datetime | None = None
    predicted_finish: dt.datetime | None = Field(
        None, description="the chain's predicted finish: its latest step's predicted end (null: a step has none)"
    )
    critical_path: list[str] = Field(
        default_factory=list, description="step ids whose delay moves the chain's predicted finish, earliest first"
    )
    chain_finish_by: dt.datetime | None = None
    run_expected: bool = Field(
        True, description="false on a business day the workflow's calendar expects no run (nothing is due)"
    )
    no_run_reason: str | None = Field(None, description="why no run is expected, e.g. 'holiday: Victory Day'")
    steps: list[TimelineStep]
    chain_alerts: list[AlertOut] = Field(default_factory=list, description="alerts about the whole chain")
    findings: list[Finding] = Field(default_factory=list, description="conditions that held at as_of")
    maintenance: list[MaintenanceOut] = Field(
        default_factory=list, description="the workflow's maintenance windows that overlap the day"
    )


class LogOut(_Out):
    """One CC&B run (batch_execution_logs)."""

    id: int
    workflow_id: str
    step_id: str
    batch_cd: str
    batch_nbr: int
    rerun_nbr: int
    business_date: dt.date
    status: RunStatus
    status_code: str
    start_time: dt.datetime | None = None
    end_time: dt.datetime | None = None
    duration_s: float | None = None
    records: int
    errors: int
    rps: float | None = None
    threads_total: int
    threads_done: int
    error_text: str | None = None
    observed_at: dt.datetime


class BatchLogsResponse(_Out):
    total: int = Field(description="rows matching the filters, before limit/offset")
    limit: int
    offset: int
    items: list[LogOut]


class StepHealth(_Out):
    step_id: str
    batch_code: str
    name: str
    runs_finished: int
    runs_failed: int
    success_rate: float | None = Field(None, description="completed / finished runs, 0..1; null without runs")
    avg_duration_s: float | None = None
    avg_rps: float | None = None


class RecentFailure(_Out):
    step_id: str
    batch_cd: str
    batch_nbr: int
    rerun_nbr: int
    business_date: dt.date
    start_time: dt.datetime | None = None
    end_time: dt.datetime | None = None
    error_text: str | None = None


class HealthResponse(_Out):
    workflow_id: str
    timezone: str
    business_date: dt.date = Field(description="'today' of the report: the last day of the window")
    window_days: int
    window_first_date: dt.date
    reference_time: dt.datetime = Field(description="end of the 24-hour window: now, or the end of a past day")
    success_rate: float | None = Field(None, description="completed / finished runs in the window, 0..1")
    runs_finished: int
    runs_failed: int
    per_step: list[StepHealth]
    failed_last_24h: int
    avg_rps_today: float | None = None
    active_alerts: int
    breaches: int = Field(0, description="late starts and missed deadlines in the window, resolved ones included")
    recent_failures: list[RecentFailure]
    monitor_stale: bool = Field(
        False,
        description="the monitor's dead man's switch: its last finished tick is older than twice the schedule's "
        "interval (or it never finished one), as of the request",
    )
    last_tick_at: dt.datetime | None = Field(None, description="when the workflow's last tick finished (UTC)")


class HealthNow(_Out):
    """The part of a HealthResponse that moves with the request's moment or an operator's action,
    put over the rest (kept per store revision) on every request: same fields, same types."""

    reference_time: dt.datetime
    failed_last_24h: int
    active_alerts: int
    monitor_stale: bool
    last_tick_at: dt.datetime | None


__all__ = [
    "ActiveAlertsResponse",
    "AlertActionBody",
    "AlertActionResponse",
    "AlertDetailResponse",
    "AlertEventOut",
    "AlertOut",
    "BaselineOut",
    "BatchLogsResponse",
    "HealthNow",
    "HealthResponse",
    "Labels",
    "LogOut",
    "RecentFailure",
    "StepHealth",
    "StepInfo",
    "TimelineResponse",
    "TimelineStep",
    "WorkflowInfo",
    "WorkflowsResponse",
]


# --------------------------------------------------------------------------- silences

SilenceMoment = Annotated[
    dt.datetime,
    Field(description="ISO 8601; without a UTC offset it is the workflow's local (business) time"),
]


class SilenceBody(BaseModel):
    """Body of ``POST silences``. The acting user comes from the token, never from here."""

    model_config = ConfigDict(extra="forbid")

    workflow: CleanText = Field(max_length=WORKFLOW_ID_CHARS)
    step: CleanText | None = Field(None, max_length=64, description="null: the whole workflow")
    kinds: list[FindingKind] | None = Field(None, max_length=len(FindingKind), description="null: every kind")
    starts_at: SilenceMoment | None = Field(None, description="default: now")
    ends_at: SilenceMoment
    comment: CleanText = Field(min_length=1, max_length=COMMENT_CHARS, description="why (required)")


class SnoozeBody(BaseModel):
    """Body of ``POST alerts/{id}/snooze``: a silence of that one alert from now until ``until``."""

    model_config = ConfigDict(extra="forbid")

    until: SilenceMoment
    comment: CleanText = Field(min_length=1, max_length=COMMENT_CHARS, description="why (required)")


class SilenceEventOut(_Out):
    event: str = Field(description="created | ended")
    at: dt.datetime
    actor: str
    comment: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class SilenceOut(_Out):
    id: int
    workflow_id: str
    step_id: str | None = Field(description="null: the whole workflow")
    kinds: list[str] | None = Field(description="null: every kind")
    alert_id: int | None = Field(description="a snooze: the one alert it covers")
    source: str = Field(description="silence | snooze")
    starts_at: dt.datetime
    ends_at: dt.datetime
    ended_at: dt.datetime | None = Field(description="when it was ended by hand, if it was")
    ended_by: str | None
    created_by: str
    created_at: dt.datetime | None = None
    comment: str
    active: bool = Field(description="in effect now")
    text: str = Field(description="'silenced until 11:00 by op1: planned rerun' (local business time)")
    timezone: str
    events: list[SilenceEventOut] = Field(default_factory=list, description="the audit trail, oldest first")


class SilencesResponse(_Out):
    silences: list[SilenceOut] = Field(description="newest first")


class SilenceActionResponse(_Out):
    silence: SilenceOut
    changed: bool = Field(description="false when it was already over (nothing done)")
    message: str
