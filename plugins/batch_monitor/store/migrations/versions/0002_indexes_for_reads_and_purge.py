"""Indexes the benchmarks showed missing: the run history's first page, failures, the purge.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24

- ``ix_execution_logs_wf_start`` (workflow_id, start_time DESC NULLS LAST, id DESC): the run
  history's default order (GET /batch-logs, newest first) reads its page from the index instead
  of sorting every run of the workflow's 60 days.
- ``ix_execution_logs_errors`` (workflow_id, business_date) WHERE status = 'error': the health
  card's "failed in the last 24 h" and "recent failures" read only the failed runs (a small
  partial index) instead of every run of the workflow.
- ``ix_outbox_alert`` (alert_id): the foreign key from batch_email_outbox to the alerts had no
  index, so deleting an alert (the daily purge) scanned the whole outbox once per alert.

Written by hand (explicit operations); it does not import store/schema.py.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_index(
        "ix_execution_logs_wf_start",
        "batch_execution_logs",
        ["workflow_id", sa.text("start_time DESC NULLS LAST"), sa.text("id DESC")],
    )
    op.create_index(
        "ix_execution_logs_errors",
        "batch_execution_logs",
        ["workflow_id", "business_date"],
        postgresql_where=sa.text("status = 'error'"),
    )
    op.create_index("ix_outbox_alert", "batch_email_outbox", ["alert_id"])


def downgrade() -> None:
    op.drop_index("ix_outbox_alert", table_name="batch_email_outbox")
    op.drop_index("ix_execution_logs_errors", table_name="batch_execution_logs")
    op.drop_index("ix_execution_logs_wf_start", table_name="batch_execution_logs")
