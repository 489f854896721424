"""Names and codes shared by every module (tables, alert kinds, severities, step states)."""

from __future__ import annotations

from enum import StrEnum


class Severity(StrEnum):
    INFO = "INFO"
    WARNING = "WARNING"
    CRITICAL = "CRITICAL"

    @property
    def rank(self) -> int:
        return {"INFO": 0, "WARNING": 1, "CRITICAL": 2}[self.value]


class FindingKind(StrEnum):
    FAILED = "FAILED"
    STUCK = "STUCK"
    LONG_RUNNING = "LONG_RUNNING"
    LOW_THROUGHPUT = "LOW_THROUGHPUT"
    LATE_START = "LATE_START"
    AT_RISK = "AT_RISK"  # the predicted finish is past a deadline still ahead
    MISSED_DEADLINE = "MISSED_DEADLINE"
    OUT_OF_ORDER = "OUT_OF_ORDER"
    EMPTY_RUN = "EMPTY_RUN"
    UNUSUAL_VOLUME = "UNUSUAL_VOLUME"
    DATA_QUALITY = "DATA_QUALITY"
    SOURCE_UNAVAILABLE = "SOURCE_UNAVAILABLE"


SEVERITY_OF_KIND: dict[FindingKind, Severity] = {
    FindingKind.FAILED: Severity.CRITICAL,
    FindingKind.STUCK: Severity.CRITICAL,
    FindingKind.LONG_RUNNING: Severity.WARNING,
    FindingKind.LOW_THROUGHPUT: Severity.WARNING,
    FindingKind.LATE_START: Severity.WARNING,
    FindingKind.AT_RISK: Severity.WARNING,  # a step's or the workflow's at_risk_severity overrides it
    FindingKind.MISSED_DEADLINE: Severity.CRITICAL,
    FindingKind.OUT_OF_ORDER: Severity.WARNING,
    FindingKind.EMPTY_RUN: Severity.WARNING,
    FindingKind.UNUSUAL_VOLUME: Severity.WARNING,
    FindingKind.DATA_QUALITY: Severity.WARNING,
    FindingKind.SOURCE_UNAVAILABLE: Severity.CRITICAL,
}

# What the page (and its API) calls each kind, in the order the page's banner counts them.
KIND_LABELS: dict[FindingKind, str] = {
    FindingKind.FAILED: "failed",
    FindingKind.STUCK: "stuck",
    FindingKind.LONG_RUNNING: "long running",
    FindingKind.LOW_THROUGHPUT: "low throughput",
    FindingKind.LATE_START: "late start",
    FindingKind.AT_RISK: "at risk",
    FindingKind.MISSED_DEADLINE: "missed deadline",
    FindingKind.OUT_OF_ORDER: "out of order",
    FindingKind.EMPTY_RUN: "empty run",
    FindingKind.UNUSUAL_VOLUME: "unusual volume",
    FindingKind.DATA_QUALITY: "data quality",
    FindingKind.SOURCE_UNAVAILABLE: "source unavailable",
}


class StepStatus(StrEnum):
    """What a step is doing in its business day, as the evaluator judges it."""

    WAITING = "waiting"  # a predecessor has not completed yet
    PENDING = "pending"  # free to start, not started
    RUNNING = "running"
    REPEATING = "repeating"  # a multi-run step between runs, more runs expected
    STUCK = "stuck"
    FAILED = "failed"
    COMPLETE = "complete"
    SKIPPED = "skipped"  # disabled in the workflow


STEP_STATUS_LABELS: dict[StepStatus, str] = {
    StepStatus.COMPLETE: "Complete",
    StepStatus.RUNNING: "Running",
    StepStatus.REPEATING: "Repeating",
    StepStatus.FAILED: "Failed",
    StepStatus.STUCK: "Stuck",
    StepStatus.PENDING: "Pending",
    StepStatus.WAITING: "Waiting",
    StepStatus.SKIPPED: "Skipped",
}


class RunStatus(StrEnum):
    """A CC&B run's status decoded through the workflow's status map."""

    PENDING = "pending"
    RUNNING = "running"
    ERROR = "error"
    COMPLETE = "complete"
    UNKNOWN = "unknown"


# OUAF RUN_STATUS / THREAD_STATUS codes; some sites report letters ('ER' for error).
DEFAULT_STATUS_MAP: dict[str, str] = {
    "10": "pending",
    "20": "running",
    "30": "error",
    "40": "complete",
    "ER": "error",
    "IP": "running",
    "CO": "complete",
    "PD": "pending",
}

CHAIN_STEP_ID = "_chain"  # alerts about the whole workflow (chain deadline, source down)

# The store's tables. The first five keep the original system's names.
T_EXECUTION_LOGS = "batch_execution_logs"
T_ALERTS = "batch_monitoring_alerts"
T_PERFORMANCE = "batch_performance_summary"
T_WORKFLOW_CONFIG = "batch_workflow_config"
T_MONITORING_CONFIG = "batch_monitoring_config"
T_ALERT_EVENTS = "batch_alert_events"
T_OUTBOX = "batch_email_outbox"
T_SNAPSHOTS = "batch_source_snapshots"
T_TICK_EVALUATIONS = "batch_tick_evaluations"  # migration 0009: each snapshot's evaluation
T_EVALUATIONS = "batch_evaluations"
T_TICKS = "batch_monitor_ticks"  # migration 0007: one row per finished tick (dead man's switch, metrics)
T_SILENCES = "batch_silences"
T_SILENCE_EVENTS = "batch_silence_events"
T_BASELINES = "batch_step_baselines"

# Where the page lives: its app on the api-server, and the UI route that shows it in an iframe.
# The UI puts the iframe's path and query after /plugin/<route>, so the two must differ.
PAGE_URL_PREFIX = "/batch-monitor"
PAGE_URL_ROUTE = "ops"
PAGE_PATH = f"/plugin/{PAGE_URL_ROUTE}{PAGE_URL_PREFIX}/"  # what mails link to, with ?workflow=&date=&alert=
