"""Silences, snoozes and the problem mail a silence held back.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04

- ``batch_silences``: who silenced what (a workflow, one step, some kinds, or one alert: a snooze),
  from when to when and why; ending one early sets ``ended_at``/``ended_by`` and keeps the row.
- ``batch_silence_events``: the audit trail of silences (created, ended), who, when and why.
- ``batch_monitoring_alerts.held_mail``: the tag of the problem mail a silence held back; the
  first tick after the silence ends mails it, once, if the alert still holds.

Written by hand (explicit operations); it does not import store/schema.py.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("batch_monitoring_alerts", sa.Column("held_mail", sa.String(64), nullable=True))
    op.create_table(
        "batch_silences",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("workflow_id", sa.String(64), nullable=False),
        sa.Column("step_id", sa.String(64), nullable=True),
        sa.Column("kinds", JSONB(), nullable=True),
        sa.Column(
            "alert_id",
            sa.BigInteger(),
            sa.ForeignKey("batch_monitoring_alerts.id", ondelete="CASCADE"),
            nullable=True,
        ),
        sa.Column("starts_at", _TS, nullable=False),
        sa.Column("ends_at", _TS, nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
        sa.Column("created_at", _TS, nullable=False, server_default=sa.func.now()),
        sa.Column("ended_at", _TS, nullable=True),
        sa.Column("ended_by", sa.String(256), nullable=True),
    )
    op.create_index("ix_silences_wf_ends", "batch_silences", ["workflow_id", "ends_at"])
    op.create_index("ix_silences_alert", "batch_silences", ["alert_id"])
    op.create_table(
        "batch_silence_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column(
            "silence_id",
            sa.BigInteger(),
            sa.ForeignKey("batch_silences.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("at", _TS, nullable=False, server_default=sa.func.now()),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("details", JSONB(), nullable=False, server_default="{}"),
    )
    op.create_index("ix_silence_events_silence", "batch_silence_events", ["silence_id"])


def downgrade() -> None:
    op.drop_index("ix_silence_events_silence", table_name="batch_silence_events")
    op.drop_table("batch_silence_events")
    op.drop_index("ix_silences_alert", table_name="batch_silences")
    op.drop_index("ix_silences_wf_ends", table_name="batch_silences")
    op.drop_table("batch_silences")
    op.drop_column("batch_monitoring_alerts", "held_mail")
