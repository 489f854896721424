"""The store's tables (SQLAlchemy Core). Alembic migrations create exactly these.

The first five tables keep the original system's names. Times are timestamptz (UTC);
business dates are plain dates in the workflow's business calendar.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from batch_monitor import constants as c

metadata = MetaData()

# JSONB on PostgreSQL, JSON elsewhere (keeps the schema importable for tooling)
Json = JSON().with_variant(JSONB(), "postgresql")
TS = DateTime(timezone=True)

execution_logs = Table(
    c.T_EXECUTION_LOGS,
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("workflow_id", String(64), nullable=False),
    Column("step_id", String(64), nullable=False),
    Column("batch_cd", String(30), nullable=False),
    Column("batch_nbr", BigInteger, nullable=False),
    Column("rerun_nbr", Integer, nullable=False, server_default="0"),
    Column("business_date", Date, nullable=False),
    Column("status", String(16), nullable=False),  # RunStatus value
    Column("status_code", String(16), nullable=False, server_default=""),
    Column("start_time", TS),
    Column("end_time", TS),
    Column("duration_s", Float),
    Column("records", BigInteger, nullable=False, server_default="0"),
    Column("errors", BigInteger, nullable=False, server_default="0"),
    Column("rps", Float),
    Column("threads_total", Integer, nullable=False, server_default="0"),
    Column("threads_done", Integer, nullable=False, server_default="0"),
    Column("error_text", Text),
    # progress memory for STUCK: the counts last seen and the as-of time they last changed
    Column("progress_records", BigInteger),
    Column("progress_threads_done", Integer),
    Column("progress_changed_at", TS),
    Column("observed_at", TS, nullable=False),  # as-of time of the observation stored here
    Column("created_at", TS, nullable=False, server_default=func.now()),
    Column("updated_at", TS, nullable=False, server_default=func.now()),
    UniqueConstraint("batch_cd", "batch_nbr", "rerun_nbr", name="uq_execution_logs_run"),
    Index("ix_execution_logs_wf_date", "workflow_id", "business_date"),
    Index("ix_execution_logs_date", "business_date"),
    # migration 0002: the run history's default order, and the failed runs only (health)
    Index("ix_execution_logs_wf_start", "workflow_id", text("start_time DESC NULLS LAST"), text("id DESC")),
    Index("ix_execution_logs_errors", "workflow_id", "business_date", postgresql_where=text("status = 'error'")),
)

alerts = Table(
    c.T_ALERTS,
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("workflow_id", String(64), nullable=False),
    Column("business_date", Date, nullable=False),
    Column("step_id", String(64), nullable=False),  # constants.CHAIN_STEP_ID for chain-wide alerts
    Column("batch_cd", String(30), nullable=False, server_default=""),
    Column("kind", String(32), nullable=False),  # FindingKind
    Column("severity", String(16), nullable=False),  # Severity
    Column("state", String(16), nullable=False),  # open | acknowledged | resolved
    Column("title", Text, nullable=False),
    Column("expected", Text, nullable=False, server_default=""),
    Column("actual", Text, nullable=False, server_default=""),
    Column("action", Text, nullable=False, server_default=""),
    Column("error_text", Text),
    Column("run_key", String(80)),
    Column("details", Json, nullable=False, server_default="{}"),
    Column("since", TS),  # when the condition began
    Column("first_seen_at", TS, nullable=False),  # as-of time of the tick that opened it
    Column("last_seen_at", TS, nullable=False),  # as-of time of the latest tick it held in
    Column("seen_count", Integer, nullable=False, server_default="1"),
    Column("acknowledged_at", TS),
    Column("acknowledged_by", String(256)),
    Column("ack_comment", Text),
    Column("resolved_at", TS),
    Column("resolved_by", String(256)),  # 'monitor' when the condition cleared, else a user
    Column("resolution", String(32)),  # cleared | manual
    # bookkeeping of the monitor's diff (store/alerts.py):
    Column("open_count", Integer, nullable=False, server_default="1"),  # openings, 2+ after reopens
    Column("email_queued", Boolean, nullable=False, server_default="false"),  # mailed in this opening
    Column("condition_holds", Boolean, nullable=False, server_default="true"),  # at the latest tick
    Column("created_at", TS, nullable=False, server_default=func.now()),
    Column("updated_at", TS, nullable=False, server_default=func.now()),
    # migration 0003: the id of the alert that is this alert's incident cause (its own id for a cause)
    Column("incident_id", BigInteger),
    # migration 0004: reminders and escalation of an unacknowledged CRITICAL cause (this opening)
    Column("mailed_at", TS),  # the tick (as_of) of the opening's problem mail: escalation counts from it
    Column("last_mailed_at", TS),  # the tick of the latest problem mail or reminder: reminders count from it
    Column("reminders", Integer, nullable=False, server_default="0"),
    Column("escalated_at", TS),  # the tick its mails began to go to escalate_to too
    Column("mailed_consequences", Json),  # [[step_id, kind], ...] holding at the latest mail
    # migration 0006: the tag of the problem mail a silence held back (mailed once the silence ends)
    Column("held_mail", String(64)),
    UniqueConstraint("workflow_id", "business_date", "step_id", "kind", name="uq_alerts_identity"),
    Index("ix_alerts_state", "state"),
    Index("ix_alerts_wf_date", "workflow_id", "business_date"),
    Index("ix_alerts_incident", "incident_id"),
)

alert_events = Table(
    c.T_ALERT_EVENTS,
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("alert_id", BigInteger, ForeignKey(f"{c.T_ALERTS}.id", ondelete="CASCADE"), nullable=False),
    # opened | reopened | escalated | emailed | email_failed | acknowledged | ack_rejected | resolved
    Column("event", String(32), nullable=False),
    Column("at", TS, nullable=False, server_default=func.now()),  # wall-clock time of the change
    Column("as_of", TS),  # the tick's as-of time, for monitor-made events
    Column("actor", String(256), nullable=False, server_default="monitor"),
    Column("comment", Text),
    Column("details", Json, nullable=False, server_default="{}"),
    Index("ix_alert_events_alert", "alert_id"),
)

# migration 0006: silences and snoozes (a maintenance window is the same thing, from the YAML)
silences = Table(
    c.T_SILENCES,
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("workflow_id", String(64), nullable=False),
    Column("step_id", String(64)),  # NULL: the whole workflow (every step, the chain, the source)
    Column("kinds", Json),  # NULL: every kind; else a list of FindingKind values
    # a snooze: the one alert it covers (the alert's purge takes the snooze with it)
    Column("alert_id", BigInteger, ForeignKey(f"{c.T_ALERTS}.id", ondelete="CASCADE")),
    Column("starts_at", TS, nullable=False),
    Column("ends_at", TS, nullable=False),
    Column("comment", Text, nullable=False),
    Column("created_by", String(256), nullable=False),
    Column("created_at", TS, nullable=False, server_default=func.now()),
    Column("ended_at", TS),  # ended early by hand (the row is kept)
    Column("ended_by", String(256)),
    Index("ix_silences_wf_ends", "workflow_id", "ends_at"),
    Index("ix_silences_alert", "alert_id"),
)

silence_events = Table(
    c.T_SILENCE_EVENTS,
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("silence_id", BigInteger, ForeignKey(f"{c.T_SILENCES}.id", ondelete="CASCADE"), nullable=False),
    Column("event", String(32), nullable=False),  # created | ended
    Column("at", TS, nullable=False, server_default=func.now()),
    Column("actor", String(256), nullable=False),
    Column("comment", Text),
    Column("details", Json, nullable=False, server_default="{}"),
    Index("ix_silence_events_silence", "silence_id"),
)

email_outbox = Table(
    c.T_OUTBOX,
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("dedupe_key", String(200), nullable=False),
    # SET NULL: purging an old alert never takes an unsent mail with it
    Column("alert_id", BigInteger, ForeignKey(f"{c.T_ALERTS}.id", ondelete="SET NULL")),
    Column("kind", String(16), nullable=False),  # alert | recovery | reminder | escalation | digest
    Column("recipients", Json, nullable=False),  # list of addresses
    Column("subject", Text, nullable=False),
    Column("body_text", Text, nullable=False),
    Column("body_html", Text, nullable=False),
    Column("created_at", TS, nullable=False, server_default=func.now()),
    Column("claimed_at", TS),
    Column("claimed_by", String(200)),
    Column("sent_at", TS),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", Text),
    # migration 0008: one row per message and channel; a 429's Retry-After; what the channel returned
    Column("channel", String(16), nullable=False, server_default="email"),  # email | slack | apprise
    Column("notice", Json),  # models.Notice: what the message says, for the chat channels
    Column("next_attempt_at", TS),  # not claimed before this time (NULL: at once)
    Column("remote_ref", Json),  # Slack: {"ts", "channel"} of the posted message (threads replies)
    UniqueConstraint("dedupe_key", "channel", name="uq_outbox_dedupe_channel"),
    Index("ix_outbox_unsent", "sent_at", "claimed_at"),
    Index("ix_outbox_alert", "alert_id"),  # migration 0002: the foreign key's index (purging alerts)
)

performance_summary = Table(
    c.T_PERFORMANCE,
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("workflow_id", String(64), nullable=False),
    Column("business_date", Date, nullable=False),
    Column("step_id", String(64), nullable=False),
    Column("batch_cd", String(30), nullable=False),
    Column("runs", Integer, nullable=False),
    Column("failures", Integer, nullable=False),
    Column("success_rate", Float),  # completed runs / finished runs, 0..1
    Column("avg_duration_s", Float),
    Column("max_duration_s", Float),
    Column("total_records", BigInteger, nullable=False, server_default="0"),
    Column("total_errors", BigInteger, nullable=False, server_default="0"),
    Column("avg_rps", Float),
    Column("first_start", TS),
    Column("last_end", TS),
    Column("computed_at", TS, nullable=False, server_default=func.now()),
    UniqueConstraint("workflow_id", "business_date", "batch_cd", name="uq_performance_day_batch"),
    Index("ix_performance_date", "business_date"),
)

workflow_config = Table(
    c.T_WORKFLOW_CONFIG,
    metadata,
    Column("workflow_id", String(64), primary_key=True),
    Column("step_id", String(64), primary_key=True),
    Column("position", Integer, nullable=False),
    Column("workflow_name", Text, nullable=False),
    Column("batch_cd", String(30), nullable=False),
    Column("step_name", Text, nullable=False),
    Column("depends_on", Json, nullable=False),
    Column("expected_start", String(32)),  # 'HH:MM', 'after_predecessor' or 'learned'
    Column("expected_duration_s", Float),
    Column("max_duration_s", Float),
    Column("finish_by", String(5)),
    Column("stuck_after_s", Float, nullable=False),
    Column("min_rps", Float),
    Column("repeat_rule", Json, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("step_config", Json, nullable=False),  # the step as validated, JSON
    Column("source_file", Text, nullable=False, server_default=""),
    Column("config_hash", String(64), nullable=False),
    Column("loaded_at", TS, nullable=False, server_default=func.now()),
)

monitoring_config = Table(
    c.T_MONITORING_CONFIG,
    metadata,
    Column("scope", String(64), primary_key=True),  # 'global' or a workflow id
    Column("key", String(64), primary_key=True),
    Column("value", Json, nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("updated_at", TS, nullable=False, server_default=func.now()),
)

source_snapshots = Table(
    c.T_SNAPSHOTS,
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("workflow_id", String(64), nullable=False),
    Column("business_date", Date, nullable=False),
    Column("as_of", TS, nullable=False),
    Column("payload", LargeBinary, nullable=False),  # models.Observations, packed (store/packing.py)
    Column("created_at", TS, nullable=False, server_default=func.now()),
    UniqueConstraint("workflow_id", "business_date", "as_of", name="uq_snapshots_tick"),
)

tick_evaluations = Table(
    c.T_TICK_EVALUATIONS,
    metadata,
    # the evaluate task's judgement of one snapshot, for the persist task (one INSERT; the snapshot's
    # own row is never updated); goes with its snapshot
    Column(
        "snapshot_id",
        BigInteger,
        ForeignKey(f"{c.T_SNAPSHOTS}.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    Column("evaluation", LargeBinary, nullable=False),  # models.Evaluation, packed (store/packing.py)
)

evaluations = Table(
    c.T_EVALUATIONS,
    metadata,
    Column("workflow_id", String(64), primary_key=True),
    Column("business_date", Date, primary_key=True),
    Column("as_of", TS, nullable=False),  # only ever moves forward
    Column("chain_status", String(16), nullable=False),
    Column("payload", LargeBinary, nullable=False),  # models.Evaluation, packed (store/packing.py)
    # what judging the day again remembers of it (repository.load_day_memory), kept beside the packed
    # payload: [its AT_RISK memory (Evaluation.risk), the ids of the steps it shows complete]
    Column("memory", Json, nullable=False),
    # as-of time of the latest tick whose findings were synced into alerts (replay guard)
    Column("alerts_synced_as_of", TS),
    Column("updated_at", TS, nullable=False, server_default=func.now()),
)

# migration 0007: one row per tick that ran to its end (its data interval end, when it finished
# by the wall clock of the worker, how long it took): the dead man's switch and the metrics
ticks = Table(
    c.T_TICKS,
    metadata,
    Column("workflow_id", String(64), primary_key=True),
    Column("as_of", TS, primary_key=True),
    Column("finished_at", TS, nullable=False),
    Column("duration_s", Float, nullable=False),
    Index("ix_ticks_finished", "workflow_id", "finished_at"),
)


# migration 0005: learned per-step baselines (models.StepBaseline), replaced whole once per business day
step_baselines = Table(
    c.T_BASELINES,
    metadata,
    Column("workflow_id", String(64), primary_key=True),
    Column("step_id", String(64), primary_key=True),
    Column("segment", String(16), primary_key=True),  # all | weekday | weekend | month_end
    Column("sample_days", Integer, nullable=False),
    Column("runs_per_day", Float, nullable=False),
    Column("duration_p50_s", Float),
    Column("duration_p90_s", Float),
    Column("duration_mad_s", Float),
    Column("records_p10", Float),
    Column("records_p50", Float),
    Column("records_p90", Float),
    Column("start_offset_p50_s", Float),  # wall-clock seconds after the business day's start
    Column("start_offset_p90_s", Float),
    Column("gap_p50_s", Float),  # seconds after the latest predecessor's end
    Column("computed_for", Date, nullable=False),  # learned from the business days before this one
    Column("computed_at", TS, nullable=False, server_default=func.now()),
)
