"""Packed snapshots: payloads deflated into BYTEA, each tick's evaluation in a table of its own.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04

- ``batch_source_snapshots.payload``: JSONB → BYTEA, the Observations' JSON deflated with zlib
  (store/packing.py). The rows already there are packed here, one at a time.
- ``batch_source_snapshots.evaluation`` moves to ``batch_tick_evaluations`` (``snapshot_id``
  referencing the snapshot, ON DELETE CASCADE; ``evaluation`` BYTEA, packed the same way): the
  evaluate task inserts a row there instead of updating the snapshot it was inserted moments before.

A snapshot packed here holds PostgreSQL's rendering of the JSON (jsonb's key order), not pydantic's:
were the same tick read again with the same observations, the bytes would differ once and its
evaluation would be redone (as for changed observations). Downgrade unpacks everything back.

Written by hand (explicit operations); it does not import store/schema.py.
"""

from __future__ import annotations

import zlib

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None

_SNAPSHOTS = "batch_source_snapshots"
_TICK_EVALUATIONS = "batch_tick_evaluations"
_LEVEL = 1  # store/packing.py's


def _pack(text: str) -> bytes:
    return zlib.compress(text.encode("utf-8"), _LEVEL)


def _unpack(data: bytes) -> str:
    return zlib.decompress(data).decode("utf-8")


def upgrade() -> None:
    conn = op.get_bind()
    op.create_table(
        _TICK_EVALUATIONS,
        sa.Column(
            "snapshot_id",
            sa.BigInteger(),
            sa.ForeignKey(f"{_SNAPSHOTS}.id", ondelete="CASCADE"),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column("evaluation", sa.LargeBinary(), nullable=False),
    )
    op.add_column(_SNAPSHOTS, sa.Column("packed", sa.LargeBinary(), nullable=True))
    ids = conn.execute(sa.text(f"SELECT id FROM {_SNAPSHOTS} ORDER BY id")).scalars().all()
    for sid in ids:  # one row at a time: a snapshot of a big workflow is megabytes of JSON
        payload, evaluation = conn.execute(
            sa.text(f"SELECT payload::text, evaluation::text FROM {_SNAPSHOTS} WHERE id = :id"), {"id": sid}
        ).one()
        conn.execute(sa.text(f"UPDATE {_SNAPSHOTS} SET packed = :p WHERE id = :id"), {"p": _pack(payload), "id": sid})
        if evaluation is not None:
            conn.execute(
                sa.text(f"INSERT INTO {_TICK_EVALUATIONS} (snapshot_id, evaluation) VALUES (:id, :e)"),
                {"id": sid, "e": _pack(evaluation)},
            )
    op.drop_column(_SNAPSHOTS, "evaluation")
    op.drop_column(_SNAPSHOTS, "payload")
    op.alter_column(_SNAPSHOTS, "packed", new_column_name="payload", nullable=False)


def downgrade() -> None:
    conn = op.get_bind()
    op.add_column(_SNAPSHOTS, sa.Column("unpacked", JSONB(), nullable=True))
    op.add_column(_SNAPSHOTS, sa.Column("evaluation", JSONB(), nullable=True))
    ids = conn.execute(sa.text(f"SELECT id FROM {_SNAPSHOTS} ORDER BY id")).scalars().all()
    for sid in ids:
        payload, evaluation = conn.execute(
            sa.text(
                f"SELECT s.payload, e.evaluation FROM {_SNAPSHOTS} s "
                f"LEFT JOIN {_TICK_EVALUATIONS} e ON e.snapshot_id = s.id WHERE s.id = :id"
            ),
            {"id": sid},
        ).one()
        conn.execute(
            sa.text(
                f"UPDATE {_SNAPSHOTS} SET unpacked = CAST(:p AS JSONB), evaluation = CAST(:e AS JSONB) WHERE id = :id"
            ),
            {"p": _unpack(payload), "e": None if evaluation is None else _unpack(evaluation), "id": sid},
        )
    op.drop_table(_TICK_EVALUATIONS)
    op.drop_column(_SNAPSHOTS, "payload")
    op.alter_column(_SNAPSHOTS, "unpacked", new_column_name="payload", nullable=False)
