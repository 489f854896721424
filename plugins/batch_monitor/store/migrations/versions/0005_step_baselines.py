"""Learned baselines: what each step typically does in a business day (batch_monitor.baselines).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04

- ``batch_step_baselines``: one row per workflow, step and segment ('all', 'weekday', 'weekend',
  'month_end'); the figures of models.StepBaseline (seconds, records), how many days they come
  from, the business date they were learned for (from the days before it) and when. Replaced
  whole, once per business day, by the DAG's summarize_and_purge task.

Written by hand (explicit operations); it does not import store/schema.py.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "batch_step_baselines",
        sa.Column("workflow_id", sa.String(64), primary_key=True),
        sa.Column("step_id", sa.String(64), primary_key=True),
        sa.Column("segment", sa.String(16), primary_key=True),
        sa.Column("sample_days", sa.Integer(), nullable=False),
        sa.Column("runs_per_day", sa.Float(), nullable=False),
        sa.Column("duration_p50_s", sa.Float()),
        sa.Column("duration_p90_s", sa.Float()),
        sa.Column("duration_mad_s", sa.Float()),
        sa.Column("records_p10", sa.Float()),
        sa.Column("records_p50", sa.Float()),
        sa.Column("records_p90", sa.Float()),
        sa.Column("start_offset_p50_s", sa.Float()),
        sa.Column("start_offset_p90_s", sa.Float()),
        sa.Column("gap_p50_s", sa.Float()),
        sa.Column("computed_for", sa.Date(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
    )


def downgrade() -> None:
    op.drop_table("batch_step_baselines")
