"""The ticks that ran to their end (``batch_monitor_ticks``): written by the pipeline, read by the API.

A tick is recorded by its last step, so a row means the whole tick (read, judge, persist, send,
summarize) got through. The API's dead man's switch compares the newest ``finished_at`` with the
wall clock of the request, and the metrics export the durations as a histogram.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from batch_monitor.store.schema import ticks


def _aware(name: str, moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        raise ValueError(f"{name} must be an aware datetime (UTC), got {moment!r}")
    return moment.astimezone(dt.UTC)


def record_tick(
    conn: sa.Connection, workflow_id: str, *, as_of: dt.datetime, finished_at: dt.datetime, duration_s: float
) -> None:
    """Keep that the tick as of ``as_of`` finished at ``finished_at`` after ``duration_s`` seconds.

    A replayed tick replaces its row (its latest run is what happened last).
    """
    if duration_s < 0:
        raise ValueError(f"duration_s must not be negative, got {duration_s!r}")
    stmt = pg_insert(ticks).values(
        workflow_id=workflow_id,
        as_of=_aware("as_of", as_of),
        finished_at=_aware("finished_at", finished_at),
        duration_s=float(duration_s),
    )
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[ticks.c.workflow_id, ticks.c.as_of],
            set_={"finished_at": stmt.excluded.finished_at, "duration_s": stmt.excluded.duration_s},
        )
    )


def purge_ticks(conn: sa.Connection, workflow_id: str, *, before: dt.datetime) -> int:
    """Delete the workflow's ticks that finished before ``before``; returns how many."""
    query = sa.delete(ticks).where(ticks.c.workflow_id == workflow_id, ticks.c.finished_at < _aware("before", before))
    return int(conn.execute(query).rowcount)


def last_finished(conn: sa.Connection, workflow_ids: Collection[str]) -> dict[str, dt.datetime]:
    """When each workflow's latest tick finished (workflows without one are left out)."""
    query = (
        sa.select(ticks.c.workflow_id, sa.func.max(ticks.c.finished_at))
        .where(ticks.c.workflow_id.in_(list(workflow_ids)))
        .group_by(ticks.c.workflow_id)
    )
    return {row[0]: row[1] for row in conn.execute(query)}


def durations(conn: sa.Connection, workflow_ids: Collection[str]) -> dict[str, list[float]]:
    """Every kept tick's duration in seconds, per workflow."""
    query = sa.select(ticks.c.workflow_id, ticks.c.duration_s).where(ticks.c.workflow_id.in_(list(workflow_ids)))
    result: dict[str, list[float]] = {}
    for workflow_id, seconds in conn.execute(query):
        result.setdefault(workflow_id, []).append(float(seconds))
    return result
