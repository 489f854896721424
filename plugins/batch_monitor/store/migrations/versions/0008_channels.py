"""Channels: one outbox row per message and channel (email, slack, apprise).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04

Columns of ``batch_email_outbox``:

- ``channel``: where the row goes ('email' for every row written before).
- ``notice``: what the message says, channel-neutral (models.Notice as JSON), for the chat channels.
- ``next_attempt_at``: not claimed before this time (a 429's Retry-After); NULL: at once.
- ``remote_ref``: what the channel returned for a delivered message (Slack: ``ts`` and ``channel``),
  so a recovery can be posted as a reply in the alert's thread.

The dedupe key is unique per channel now: ``UNIQUE (dedupe_key, channel)`` replaces
``UNIQUE (dedupe_key)``, so one logical message is one row per channel.

Written by hand (explicit operations); it does not import store/schema.py.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None

_TABLE = "batch_email_outbox"


def upgrade() -> None:
    op.add_column(_TABLE, sa.Column("channel", sa.String(16), nullable=False, server_default="email"))
    op.add_column(_TABLE, sa.Column("notice", JSONB(), nullable=True))
    op.add_column(_TABLE, sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(_TABLE, sa.Column("remote_ref", JSONB(), nullable=True))
    op.drop_constraint("batch_email_outbox_dedupe_key_key", _TABLE, type_="unique")
    op.create_unique_constraint("uq_outbox_dedupe_channel", _TABLE, ["dedupe_key", "channel"])


def downgrade() -> None:
    op.execute(sa.text(f"DELETE FROM {_TABLE} WHERE channel <> 'email'"))
    op.drop_constraint("uq_outbox_dedupe_channel", _TABLE, type_="unique")
    op.create_unique_constraint("batch_email_outbox_dedupe_key_key", _TABLE, ["dedupe_key"])
    for column in ("remote_ref", "next_attempt_at", "notice", "channel"):
        op.drop_column(_TABLE, column)
