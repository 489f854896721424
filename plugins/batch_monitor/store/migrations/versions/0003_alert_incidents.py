"""Incidents: each alert records the alert that caused it (one root cause plus its consequences).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04

- ``batch_monitoring_alerts.incident_id``: the id of the alert that is the incident's cause (the
  alert's own id for a cause); NULL for alerts recorded before incidents existed. The page and
  the API show consequences under their cause; mails go per incident (batch_monitor.incidents).
- ``ix_alerts_incident`` (incident_id): an incident's alerts are read together.

Written by hand (explicit operations); it does not import store/schema.py.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("batch_monitoring_alerts", sa.Column("incident_id", sa.BigInteger(), nullable=True))
    op.create_index("ix_alerts_incident", "batch_monitoring_alerts", ["incident_id"])


def downgrade() -> None:
    op.drop_index("ix_alerts_incident", table_name="batch_monitoring_alerts")
    op.drop_column("batch_monitoring_alerts", "incident_id")
