"""The store's first tables: runs, alerts and their events, outbox, summaries, config, snapshots.

Revision ID: 0001
Revises:
Create Date: 2026-01-15

Written by hand (explicit operations); it does not import store/schema.py.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

TS = sa.DateTime(timezone=True)
JSONB = postgresql.JSONB()
NOW = sa.text("now()")


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True)


def upgrade() -> None:
    op.create_table(
        "batch_execution_logs",
        _id(),
        sa.Column("workflow_id", sa.String(64), nullable=False),
        sa.Column("step_id", sa.String(64), nullable=False),
        sa.Column("batch_cd", sa.String(30), nullable=False),
        sa.Column("batch_nbr", sa.BigInteger(), nullable=False),
        sa.Column("rerun_nbr", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_code", sa.String(16), nullable=False, server_default=""),
        sa.Column("start_time", TS),
        sa.Column("end_time", TS),
        sa.Column("duration_s", sa.Float()),
        sa.Column("records", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("errors", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("rps", sa.Float()),
        sa.Column("threads_total", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("threads_done", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("error_text", sa.Text()),
        sa.Column("progress_records", sa.BigInteger()),
        sa.Column("progress_threads_done", sa.Integer()),
        sa.Column("progress_changed_at", TS),
        sa.Column("observed_at", TS, nullable=False),
        sa.Column("created_at", TS, nullable=False, server_default=NOW),
        sa.Column("updated_at", TS, nullable=False, server_default=NOW),
        sa.UniqueConstraint("batch_cd", "batch_nbr", "rerun_nbr", name="uq_execution_logs_run"),
    )
    op.create_index("ix_execution_logs_wf_date", "batch_execution_logs", ["workflow_id", "business_date"])
    op.create_index("ix_execution_logs_date", "batch_execution_logs", ["business_date"])

    op.create_table(
        "batch_monitoring_alerts",
        _id(),
        sa.Column("workflow_id", sa.String(64), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("step_id", sa.String(64), nullable=False),
        sa.Column("batch_cd", sa.String(30), nullable=False, server_default=""),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("expected", sa.Text(), nullable=False, server_default=""),
        sa.Column("actual", sa.Text(), nullable=False, server_default=""),
        sa.Column("action", sa.Text(), nullable=False, server_default=""),
        sa.Column("error_text", sa.Text()),
        sa.Column("run_key", sa.String(80)),
        sa.Column("details", JSONB, nullable=False, server_default="{}"),
        sa.Column("since", TS),
        sa.Column("first_seen_at", TS, nullable=False),
        sa.Column("last_seen_at", TS, nullable=False),
        sa.Column("seen_count", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("acknowledged_at", TS),
        sa.Column("acknowledged_by", sa.String(256)),
        sa.Column("ack_comment", sa.Text()),
        sa.Column("resolved_at", TS),
        sa.Column("resolved_by", sa.String(256)),
        sa.Column("resolution", sa.String(32)),
        sa.Column("open_count", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("email_queued", sa.Boolean(), nullable=False, server_default="false"),
        sa.Column("condition_holds", sa.Boolean(), nullable=False, server_default="true"),
        sa.Column("created_at", TS, nullable=False, server_default=NOW),
        sa.Column("updated_at", TS, nullable=False, server_default=NOW),
        sa.UniqueConstraint("workflow_id", "business_date", "step_id", "kind", name="uq_alerts_identity"),
    )
    op.create_index("ix_alerts_state", "batch_monitoring_alerts", ["state"])
    op.create_index("ix_alerts_wf_date", "batch_monitoring_alerts", ["workflow_id", "business_date"])

    op.create_table(
        "batch_alert_events",
        _id(),
        sa.Column(
            "alert_id",
            sa.BigInteger(),
            sa.ForeignKey("batch_monitoring_alerts.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("at", TS, nullable=False, server_default=NOW),
        sa.Column("as_of", TS),
        sa.Column("actor", sa.String(256), nullable=False, server_default="monitor"),
        sa.Column("comment", sa.Text()),
        sa.Column("details", JSONB, nullable=False, server_default="{}"),
    )
    op.create_index("ix_alert_events_alert", "batch_alert_events", ["alert_id"])

    op.create_table(
        "batch_email_outbox",
        _id(),
        sa.Column("dedupe_key", sa.String(200), nullable=False, unique=True),
        sa.Column("alert_id", sa.BigInteger(), sa.ForeignKey("batch_monitoring_alerts.id", ondelete="SET NULL")),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("recipients", JSONB, nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=False),
        sa.Column("created_at", TS, nullable=False, server_default=NOW),
        sa.Column("claimed_at", TS),
        sa.Column("claimed_by", sa.String(200)),
        sa.Column("sent_at", TS),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text()),
    )
    op.create_index("ix_outbox_unsent", "batch_email_outbox", ["sent_at", "claimed_at"])

    op.create_table(
        "batch_performance_summary",
        _id(),
        sa.Column("workflow_id", sa.String(64), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("step_id", sa.String(64), nullable=False),
        sa.Column("batch_cd", sa.String(30), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("success_rate", sa.Float()),
        sa.Column("avg_duration_s", sa.Float()),
        sa.Column("max_duration_s", sa.Float()),
        sa.Column("total_records", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("total_errors", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("avg_rps", sa.Float()),
        sa.Column("first_start", TS),
        sa.Column("last_end", TS),
        sa.Column("computed_at", TS, nullable=False, server_default=NOW),
        sa.UniqueConstraint("workflow_id", "business_date", "batch_cd", name="uq_performance_day_batch"),
    )
    op.create_index("ix_performance_date", "batch_performance_summary", ["business_date"])

    op.create_table(
        "batch_workflow_config",
        sa.Column("workflow_id", sa.String(64), primary_key=True),
        sa.Column("step_id", sa.String(64), primary_key=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("workflow_name", sa.Text(), nullable=False),
        sa.Column("batch_cd", sa.String(30), nullable=False),
        sa.Column("step_name", sa.Text(), nullable=False),
        sa.Column("depends_on", JSONB, nullable=False),
        sa.Column("expected_start", sa.String(32)),
        sa.Column("expected_duration_s", sa.Float()),
        sa.Column("max_duration_s", sa.Float()),
        sa.Column("finish_by", sa.String(5)),
        sa.Column("stuck_after_s", sa.Float(), nullable=False),
        sa.Column("min_rps", sa.Float()),
        sa.Column("repeat_rule", JSONB, nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("step_config", JSONB, nullable=False),
        sa.Column("source_file", sa.Text(), nullable=False, server_default=""),
        sa.Column("config_hash", sa.String(64), nullable=False),
        sa.Column("loaded_at", TS, nullable=False, server_default=NOW),
    )

    op.create_table(
        "batch_monitoring_config",
        sa.Column("scope", sa.String(64), primary_key=True),
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", JSONB, nullable=False),
        sa.Column("description", sa.Text(), nullable=False, server_default=""),
        sa.Column("updated_at", TS, nullable=False, server_default=NOW),
    )

    op.create_table(
        "batch_source_snapshots",
        _id(),
        sa.Column("workflow_id", sa.String(64), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("as_of", TS, nullable=False),
        sa.Column("payload", JSONB, nullable=False),
        sa.Column("evaluation", JSONB),
        sa.Column("created_at", TS, nullable=False, server_default=NOW),
        sa.UniqueConstraint("workflow_id", "business_date", "as_of", name="uq_snapshots_tick"),
    )

    op.create_table(
        "batch_evaluations",
        sa.Column("workflow_id", sa.String(64), primary_key=True),
        sa.Column("business_date", sa.Date(), primary_key=True),
        sa.Column("as_of", TS, nullable=False),
        sa.Column("chain_status", sa.String(16), nullable=False),
        sa.Column("payload", JSONB, nullable=False),
        sa.Column("alerts_synced_as_of", TS),
        sa.Column("updated_at", TS, nullable=False, server_default=NOW),
    )


def downgrade() -> None:
    for table in (
        "batch_evaluations",
        "batch_source_snapshots",
        "batch_monitoring_config",
        "batch_workflow_config",
        "batch_performance_summary",
        "batch_email_outbox",
        "batch_alert_events",
        "batch_monitoring_alerts",
        "batch_execution_logs",
    ):
        op.drop_table(table)
