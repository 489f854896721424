"""Reminders and escalation: what the monitor last mailed about an unacknowledged CRITICAL cause.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04

Columns of ``batch_monitoring_alerts`` (all about the alert's current opening; reset when it reopens):

- ``mailed_at``: the tick (as_of) its problem mail was queued; escalation counts from it.
- ``last_mailed_at``: the tick of its latest problem mail or reminder; reminders count from it.
- ``reminders``: how many reminders were queued (0 by default).
- ``escalated_at``: the tick its mails began to go to ``escalate_to`` as well (NULL: not escalated).
- ``mailed_consequences``: the incident's consequences ([[step_id, kind], ...]) holding at the
  latest mail, so a reminder says what changed since.

Written by hand (explicit operations); it does not import store/schema.py.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

_TABLE = "batch_monitoring_alerts"


def upgrade() -> None:
    op.add_column(_TABLE, sa.Column("mailed_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(_TABLE, sa.Column("last_mailed_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(_TABLE, sa.Column("reminders", sa.Integer(), nullable=False, server_default="0"))
    op.add_column(_TABLE, sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(_TABLE, sa.Column("mailed_consequences", JSONB(), nullable=True))


def downgrade() -> None:
    for column in ("mailed_consequences", "escalated_at", "reminders", "last_mailed_at", "mailed_at"):
        op.drop_column(_TABLE, column)
