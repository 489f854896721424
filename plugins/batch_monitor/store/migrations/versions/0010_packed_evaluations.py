"""Packed evaluations: each business day's latest evaluation deflated into BYTEA, its memory beside it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05

- ``batch_evaluations.payload``: JSONB → BYTEA, the Evaluation's JSON deflated with zlib
  (store/packing.py), as 0009 did for snapshots. Every tick replaces the day's row: at 5,000 steps
  PostgreSQL spent ~160 ms a tick parsing ~5 MB of JSON into JSONB, and the API and the digest
  read it whole, never inside.
- ``batch_evaluations.memory`` (JSONB, new): the two parts a tick reads back
  (repository.load_day_memory), ``[risk, ids of the steps shown complete]``; they were picked out
  of the JSONB payload by a JSON path.

The rows already there are packed here, one at a time. Downgrade unpacks them back.
Written by hand (explicit operations); it does not import store/schema.py.
"""

from __future__ import annotations

import zlib

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | None = None
depends_on: str | None = None

_EVALUATIONS = "batch_evaluations"
_LEVEL = 1  # store/packing.py's
_MEMORY = (
    "jsonb_build_array(COALESCE(payload -> 'risk', '{}'::jsonb), "
    "jsonb_path_query_array(payload, '$.steps[*] ? (@.status == \"complete\").step_id'))"
)


def upgrade() -> None:
    conn = op.get_bind()
    op.add_column(_EVALUATIONS, sa.Column("memory", JSONB(), nullable=True))
    op.add_column(_EVALUATIONS, sa.Column("packed", sa.LargeBinary(), nullable=True))
    conn.execute(sa.text(f"UPDATE {_EVALUATIONS} SET memory = {_MEMORY}"))
    keys = conn.execute(sa.text(f"SELECT workflow_id, business_date FROM {_EVALUATIONS} ORDER BY 1, 2")).all()
    for workflow_id, business_date in keys:  # one row at a time: a big workflow's evaluation is megabytes
        where = {"w": workflow_id, "d": business_date}
        text = conn.execute(
            sa.text(f"SELECT payload::text FROM {_EVALUATIONS} WHERE workflow_id = :w AND business_date = :d"), where
        ).scalar_one()
        conn.execute(
            sa.text(f"UPDATE {_EVALUATIONS} SET packed = :p WHERE workflow_id = :w AND business_date = :d"),
            {**where, "p": zlib.compress(text.encode("utf-8"), _LEVEL)},
        )
    op.drop_column(_EVALUATIONS, "payload")
    op.alter_column(_EVALUATIONS, "packed", new_column_name="payload", nullable=False)
    op.alter_column(_EVALUATIONS, "memory", nullable=False)


def downgrade() -> None:
    conn = op.get_bind()
    op.add_column(_EVALUATIONS, sa.Column("unpacked", JSONB(), nullable=True))
    keys = conn.execute(sa.text(f"SELECT workflow_id, business_date FROM {_EVALUATIONS} ORDER BY 1, 2")).all()
    for workflow_id, business_date in keys:
        where = {"w": workflow_id, "d": business_date}
        packed = conn.execute(
            sa.text(f"SELECT payload FROM {_EVALUATIONS} WHERE workflow_id = :w AND business_date = :d"), where
        ).scalar_one()
        conn.execute(
            sa.text(
                f"UPDATE {_EVALUATIONS} SET unpacked = CAST(:p AS JSONB) WHERE workflow_id = :w AND business_date = :d"
            ),
            {**where, "p": zlib.decompress(packed).decode("utf-8")},
        )
    op.drop_column(_EVALUATIONS, "memory")
    op.drop_column(_EVALUATIONS, "payload")
    op.alter_column(_EVALUATIONS, "unpacked", new_column_name="payload", nullable=False)
