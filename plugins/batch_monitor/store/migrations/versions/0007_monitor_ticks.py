"""The ticks that ran to their end: the dead man's switch and the tick-duration metric.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04

``batch_monitor_ticks``: one row per workflow and tick (its data interval end, ``as_of``) that ran
to its end, with when it finished (``finished_at``, the worker's wall clock) and how long it took
(``duration_s``). A replayed tick updates its row. The API reads the newest ``finished_at`` to tell
that the monitor stopped, and the durations for ``batch_monitor_tick_duration_seconds``; ticks older
than the retention are purged with the rest of the history.

Written by hand (explicit operations); it does not import store/schema.py.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None

_TABLE = "batch_monitor_ticks"


def upgrade() -> None:
    op.create_table(
        _TABLE,
        sa.Column("workflow_id", sa.String(64), nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("workflow_id", "as_of"),
    )
    op.create_index("ix_ticks_finished", _TABLE, ["workflow_id", "finished_at"])


def downgrade() -> None:
    op.drop_index("ix_ticks_finished", table_name=_TABLE)
    op.drop_table(_TABLE)
